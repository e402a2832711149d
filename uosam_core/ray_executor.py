"""Ray executor: ``uosam refine ... --ray [ADDRESS]`` runs the jobs on Ray actors, one engine per actor.

Needs the optional extra (``pip install 'uosam[ray]'``), uosam installed on every node, and IMAGES,
LABELS and OUT on a folder every node sees. The driver plans, claims, appends the records and shows
the progress; each actor loads one engine (``--gpus-per-worker`` GPUs, the driver's torch thread
count) and runs :func:`~uosam_core.refine_job.process` - the very function the serial executor runs,
so the outputs are the same bytes. An actor that dies mid-image (killed, out of memory, node lost)
is restarted by Ray and the driver resubmits the image (``max_retries`` times): the output is only
ever written by rename, and recorded once, by the driver. Why actors and not Ray Data:
docs/decisions/0007-batch-and-ray.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from .config import RefineConfig
from .executors import Done, set_threads
from .jobs import Job, ModelIdentity
from .refine_job import RunContext, process

LOCAL = "local"  # --ray without an address: start a local cluster


@dataclass(frozen=True)
class WorkerSpec:
    """How every actor builds its engine and refiner (plain data, shipped to the actors)."""

    config: RefineConfig
    model: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    cache_dir: str | None = None
    cache_bytes: int | None = None
    threads: int | None = None


def build_refiner(spec: WorkerSpec) -> object:
    """Load the engine described by ``spec`` and wrap it in a Refiner (runs inside the actor)."""
    from .embedding_cache import DEFAULT_DISK_BYTES, EmbeddingCache
    from .engine import SamEngine
    from .pipeline import Refiner

    set_threads(spec.threads)
    cache = EmbeddingCache(disk_dir=spec.cache_dir, max_disk_bytes=spec.cache_bytes or DEFAULT_DISK_BYTES)
    engine = SamEngine.load(spec.model, spec.checkpoint, spec.device, cache=cache)
    return Refiner(engine, spec.config)


class RefineWorker:
    """The actor: one engine, loaded once; ``process(job, context) -> record``."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.refiner = build_refiner(spec)

    def ready(self) -> tuple[int, str, str | None]:
        """(pid, model id, checkpoint sha256) once the engine is loaded."""
        identity = ModelIdentity.of(self.refiner.engine)
        return os.getpid(), identity.model_id, identity.checkpoint_sha256

    def process(self, job: Job, context: RunContext) -> dict:
        """Refine one job and write its output; the record goes back to the driver."""
        return process(job, self.refiner, context)


def _import_ray():  # noqa: ANN202 - the ray module
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'uosam[ray]' (or pip install -e '.[ray]')") from None
    return ray


class RayExecutor:
    """Runs jobs on ``workers`` Ray actors; ``address``: None/"local" starts a local cluster, "auto"
    joins the running one, "ray://host:10001" or "host:6379" a given one."""

    def __init__(self, spec: WorkerSpec, *, address: str | None = None, workers: int = 2,
                 gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0, max_retries: int = 3,
                 queue_per_worker: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1 (got {workers})")
        self.spec = spec
        self.address = None if address in (None, LOCAL) else address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.max_retries = max_retries
        self.queue_per_worker = max(1, queue_per_worker)
        self.actors: list = []
        self.worker_pids: list[int] = []
        self.submitted = 0
        self.retried = 0
        self._started_ray = False

    def start(self) -> ModelIdentity:
        """Connect to (or start) the cluster, start the actors, wait until every engine is loaded."""
        ray = _import_ray()
        if not ray.is_initialized():
            options: dict = {"include_dashboard": False, "logging_level": logging.WARNING,
                             "log_to_driver": False}
            if self.address is None:
                needed = self.workers * self.cpus_per_worker
                options["num_cpus"] = max(os.cpu_count() or 1, int(needed + 0.999))
            ray.init(address=self.address, **options)
            self._started_ray = True
        spec = self.spec
        if self.gpus_per_worker > 0 and spec.device == "auto":
            spec = WorkerSpec(**{**spec.__dict__, "device": "cuda"})
        actor_class = ray.remote(RefineWorker).options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker,
                                                        max_restarts=-1)
        self.actors = [actor_class.remote(spec) for _ in range(self.workers)]
        try:
            ready = ray.get([actor.ready.remote() for actor in self.actors])
        except ray.exceptions.RayError as problem:
            self.close()
            raise RuntimeError(f"Ray workers could not load the model: {_one_line(problem)}") from None
        identities = {(model_id, checkpoint) for _, model_id, checkpoint in ready}
        if len(identities) != 1:
            self.close()
            raise RuntimeError(f"Ray workers loaded different models: {sorted(identities, key=str)}")
        self.worker_pids = [pid for pid, _, _ in ready]
        model_id, checkpoint = identities.pop()
        return ModelIdentity(model_id, checkpoint)

    def run(self, jobs: Iterator[Job], context: RunContext, done: Done) -> None:
        """Keep ``queue_per_worker`` jobs queued per healthy actor; when an actor dies, its jobs go to the
        others and it rejoins once Ray has restarted it (a ``ready`` probe answers)."""
        ray = _import_ray()
        lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError)
        in_flight: dict = {}  # ObjectRef -> (job, actor index, attempt)
        probes: dict = {}  # ObjectRef -> actor index (a restarting actor's ready())
        load = [0] * len(self.actors)
        healthy = set(range(len(self.actors)))
        retry: list[tuple[Job, int]] = []
        exhausted = False

        remote_context = replace(context, out_dir=context.out_dir.absolute())  # workers' cwd is not ours

        def submit(job: Job, attempt: int) -> None:
            index = min(healthy, key=load.__getitem__)
            remote_job = replace(job, image=job.image.absolute(), label=job.label.absolute(),
                                 output=job.output.absolute())
            in_flight[self.actors[index].process.remote(remote_job, remote_context)] = (job, index, attempt)
            load[index] += 1
            self.submitted += 1

        while True:
            while healthy and (retry or not exhausted) and len(in_flight) < self.queue_per_worker * len(healthy):
                if retry:
                    submit(*retry.pop())
                    continue
                job = next(jobs, None)
                if job is None:
                    exhausted = True
                else:
                    submit(job, 0)
            if not in_flight and not retry:
                return
            finished, _ = ray.wait(list(in_flight) + list(probes), num_returns=1)
            for ref in finished:
                if ref in probes:
                    index = probes.pop(ref)
                    try:
                        self.worker_pids[index] = ray.get(ref)[0]
                        healthy.add(index)
                    except lost:
                        time.sleep(0.5)  # still restarting: ask again shortly
                        probes[self.actors[index].ready.remote()] = index
                    continue
                job, index, attempt = in_flight.pop(ref)
                load[index] -= 1
                try:
                    record = ray.get(ref)
                except lost as problem:
                    if index in healthy:
                        healthy.discard(index)
                        probes[self.actors[index].ready.remote()] = index
                    if attempt < self.max_retries:
                        self.retried += 1
                        retry.append((job, attempt + 1))
                        continue
                    record = _lost_record(job, context, problem)
                done(job, record)

    def close(self) -> None:
        """Stop the actors; shut down the cluster when this executor started it."""
        if not self.actors and not self._started_ray:
            return
        ray = _import_ray()
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def _one_line(problem: BaseException) -> str:
    return " ".join(str(problem).split())[:300]


def _lost_record(job: Job, context: RunContext, problem: BaseException) -> dict:
    from .refine_job import skipped_record

    return skipped_record(job, context, RuntimeError(f"Ray worker died on every attempt ({_one_line(problem)})"))
