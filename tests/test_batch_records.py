"""Per-OUT records: resume only what matches inputs, settings and model; say why the rest is redone;
the summary keeps earlier runs' entries; the clean-up spares users' files; concurrent summary saves."""

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest
from batch_helpers import coco_subset, png_digests, record_lines
from PIL import Image

from uosam_core.batch import SUMMARY_NAME, run_folder
from uosam_core.claims import Claims
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.embedding_cache import EmbeddingCache
from uosam_core.engine import SamEngine
from uosam_core.pipeline import Refiner

NO_GRO = RefineConfig(gro=replace(GroConfig(), profile="off"))
CHEAP = replace(NO_GRO, lro=replace(NO_GRO.lro, enabled=False))  # encode (cached) + compose only


@pytest.fixture(scope="module")
def cached_engine(engine, tmp_path_factory):
    """The session engine with an on-disk embedding cache for this module (encodes happen once)."""
    previous = engine.cache
    engine.cache = EmbeddingCache(disk_dir=tmp_path_factory.mktemp("embeddings"))
    yield engine
    engine.cache = previous


def _run(refiner, images, labels, out, **kwargs):
    lines: list[str] = []
    summary = run_folder(refiner, images, labels, out, progress=False, report=lines.append, **kwargs)
    return summary, lines


def test_rerun_redoes_only_what_changed_and_says_why(cached_engine, tmp_path):
    images, labels = coco_subset(tmp_path, ["00", "01"])
    out = tmp_path / "out"
    first, lines = _run(Refiner(cached_engine, CHEAP), images, labels, out)
    assert len(first.written) == 2 and lines == []
    written = png_digests(out)

    same, lines = _run(Refiner(cached_engine, CHEAP), images, labels, out)
    assert (len(same.written), len(same.resumed), lines) == (0, 2, [])

    (out / "00.png").unlink()
    with Image.open(labels / "01.png") as label:
        label.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(labels / "01.png")
    os.utime(images / "00.png", ns=(1, 1))  # touched, same bytes: hashed again, still the same input
    changed, lines = _run(Refiner(cached_engine, CHEAP), images, labels, out)
    assert sorted(lines) == ["redo 00.png: output missing", "redo 01.png: label changed"]
    assert len(changed.written) == 2 and png_digests(out)["00.png"] == written["00.png"]

    other_model = SamEngine(cached_engine.model, cached_engine.model_type, "vit_t-0123456789ab",
                            cached_engine.device, cached_engine.cache)
    _, lines = _run(Refiner(other_model, CHEAP), images, labels, out)
    assert sorted(lines) == [f"redo {key}.png: model changed ({cached_engine.model_id} -> vit_t-0123456789ab)"
                             for key in ("00", "01")]

    full, lines = _run(Refiner(cached_engine, NO_GRO), images, labels, out)  # issue 7 item 11
    assert sorted(lines) == [f"redo {key}.png: settings changed: lro.enabled False -> True" for key in ("00", "01")]
    assert len(full.written) == 2 and png_digests(out) != written
    records = record_lines(out)
    assert len(records) == 8 and {record["key"] for record in records} == {"00", "01"}


def test_summary_of_a_resumed_run_keeps_earlier_entries(cached_engine, tmp_path):
    images, labels = coco_subset(tmp_path, ["00"])
    out = tmp_path / "out"
    _run(Refiner(cached_engine, NO_GRO), images, labels, out)
    coco_subset(tmp_path, ["01"])
    _run(Refiner(cached_engine, NO_GRO), images, labels, out)
    saved = json.loads((out / SUMMARY_NAME).read_text())
    assert saved["counts"] == {"written": 1, "resumed": 1, "skipped": 0}
    assert [entry["key"] for entry in saved["written"]] == ["01"]
    earlier = saved["resumed"][0]
    assert earlier["key"] == "00" and earlier["stats"]["objects"] > 0 and earlier["image_sha256"]
    assert saved["model"] == cached_engine.model_id and saved["config"] == json.loads(json.dumps(NO_GRO.to_dict()))
    assert sorted(record["key"] for record in record_lines(out)) == ["00", "01"]


def test_start_up_cleanup_removes_only_our_own_temp_files(cached_engine, tmp_path):
    images, labels = coco_subset(tmp_path, ["00"])
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    users = [out / "notes.part", out / "sub" / ".draft.png.part", out / "keep.uosam-tmp"]
    for path in users:
        path.write_text("the user's own file")
    ours = out / "sub" / ".00.png.abc123.uosam-tmp"
    ours.write_bytes(b"half a png")
    _run(Refiner(cached_engine, CHEAP), images, labels, out)
    assert all(path.read_text() == "the user's own file" for path in users)
    assert not ours.exists()


_SAVE_MANY = """
import sys
from pathlib import Path
from uosam_core.batch import BatchSummary, save_summary
from uosam_core.config import RefineConfig
from uosam_core.jobs import ModelIdentity, Settings
from uosam_core.refine_job import RunContext
out = Path(sys.argv[1])
context = RunContext(Settings(RefineConfig()), Settings(RefineConfig()).sha256, ModelIdentity("vit_t-x"), out)
for _ in range(int(sys.argv[2])):
    save_summary(out, BatchSummary(), context, out, out)
"""


def test_concurrent_summary_saves_never_fail(tmp_path):
    savers = [subprocess.Popen([sys.executable, "-c", _SAVE_MANY, str(tmp_path), "100"]) for _ in range(3)]
    assert [saver.wait(timeout=300) for saver in savers] == [0, 0, 0]
    assert json.loads((tmp_path / SUMMARY_NAME).read_text())["model"] == "vit_t-x"
    assert [path.name for path in tmp_path.iterdir()] == [SUMMARY_NAME]


def test_claim_of_a_killed_process_is_taken_over_a_live_one_is_not(tmp_path):
    code = ("import sys, time; from pathlib import Path; from uosam_core.claims import Claims; "
            "c = Claims(Path(sys.argv[1])); assert c.try_claim('a/x'); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        claims = Claims(tmp_path)
        assert not claims.try_claim("a/x"), "a live process holds it"
        assert claims.any_live()
        assert claims.try_claim("a/y")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert claims.try_claim("a/x") and claims.taken_over == 1, "its process is gone: taken over"
    claims.release_all()
    assert not list(claims.folder.iterdir())
