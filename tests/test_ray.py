"""The Ray executor on a real local cluster of 2 workers: same bytes as the serial run, a worker killed
by pid mid-run does not stop the run (its image is retried, every output recorded once), a re-run
resumes. Runs --no-gro on a subset of the shared cocostuff27 images (the encoder runs for real)."""

import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import replace

import pytest
from batch_helpers import coco_subset, png_digests, record_lines

from uosam_core.batch import run_folder
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.embedding_cache import EmbeddingCache
from uosam_core.pipeline import Refiner

ray = pytest.importorskip("ray")
from uosam_core.ray_executor import RayExecutor, WorkerSpec  # noqa: E402

STEMS = ["06", "07", "08"]
NO_GRO = RefineConfig(gro=replace(GroConfig(), profile="off"))
THREADS = 2  # the conftest engine's thread count: serial and workers must match for the same bytes


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def serial(engine, tmp_path_factory):
    """(images, labels, digests) of the serial run, computed with a cold cache (real encodes)."""
    root = tmp_path_factory.mktemp("ray")
    images, labels = coco_subset(root, STEMS)
    previous, engine.cache = engine.cache, EmbeddingCache()
    try:
        summary = run_folder(Refiner(engine, NO_GRO), images, labels, root / "serial", progress=False, threads=THREADS)
    finally:
        engine.cache = previous
    assert len(summary.written) == len(STEMS)
    return images, labels, png_digests(root / "serial")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ray-embeddings")


def _executor(cache=None):
    spec = WorkerSpec(NO_GRO, device="cpu", threads=THREADS, cache_dir=None if cache is None else str(cache))
    return RayExecutor(spec, workers=2)


def test_two_ray_workers_write_the_serial_bytes_and_a_rerun_resumes(cluster, serial, shared_cache, tmp_path):
    images, labels, digests = serial
    out = tmp_path / "out"
    executor = _executor(shared_cache)
    summary = run_folder(None, images, labels, out, executor=executor, config=NO_GRO, progress=False)
    assert len(summary.written) == len(STEMS) and not summary.skipped
    assert len(set(executor.worker_pids)) == 2 and os.getpid() not in executor.worker_pids
    assert {record["pid"] for record in summary.written} <= set(executor.worker_pids)
    assert png_digests(out) == digests, "byte for byte the serial outputs"
    again = run_folder(None, images, labels, out, executor=_executor(), config=NO_GRO, progress=False)
    assert (len(again.written), len(again.resumed), again.redone) == (0, len(STEMS), [])


def test_a_worker_killed_mid_run_does_not_stop_the_run(cluster, serial, shared_cache, tmp_path):
    images, labels, digests = serial
    out = tmp_path / "out"
    executor = _executor(shared_cache)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(
        run_folder(None, images, labels, out, executor=executor, config=NO_GRO, progress=False)))
    thread.start()
    deadline = time.monotonic() + 300
    while executor.submitted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # both workers are refining their first image
    victim = executor.worker_pids[0]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=600)
    summary = result[0]
    assert executor.retried >= 1, "the killed worker's image was resubmitted"
    assert len(summary.written) == len(STEMS) and not summary.skipped
    assert png_digests(out) == digests
    assert Counter(record["key"] for record in record_lines(out)) == Counter(STEMS), "every output recorded once"


def test_cli_ray_options_run_on_the_cluster(cluster, serial, shared_cache, tmp_path):
    from uosam_core.cli import main

    images, labels, _ = serial
    out = tmp_path / "out"
    code = main(["refine", str(images), str(labels), str(out), "--quiet", "--no-gro", "--no-lro", "--threads", "2",
                 "--embedding-cache", str(shared_cache), "--ray", "--workers", "1"])
    assert code == 0
    written = json.loads((out / "uosam-summary.json").read_text())["written"]
    assert sorted(record["key"] for record in written) == STEMS
    assert {record["pid"] for record in written} != {os.getpid()}, "refined in a Ray worker"
