"""Executors run jobs and hand each record back to the driver: serial (default, prefetching) and Ray.

An executor has three steps: ``start() -> ModelIdentity`` (load the model(s)), ``run(jobs, done)``
(pull jobs lazily from the iterator - the driver claims each one as it is pulled - and call
``done(job, record)`` on the driver as each finishes) and ``close()``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from .jobs import Job, ModelIdentity
from .refine_job import Loaded, RunContext, load, process

Done = Callable[[Job, dict], None]


class Executor(Protocol):
    """What :func:`~uosam_core.batch.run_folder` needs from an executor."""

    def start(self) -> ModelIdentity:
        """Load the model(s); the identity of the model the outputs will come from."""

    def run(self, jobs: Iterator[Job], context: RunContext, done: Done) -> None:
        """Process every job pulled from ``jobs``; ``done(job, record)`` on the calling thread."""

    def close(self) -> None:
        """Release workers and models."""


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch CPU threads (None: leave as is). CPU reductions can depend on the thread
    count, so the serial run and every Ray worker must use the same number for the same bytes."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))


_END = object()


class SerialExecutor:
    """One engine in this process; a reader thread loads (reads, hashes, checks) the next ``prefetch``
    jobs while the current one is refined. Ctrl-C abandons the image in flight (no partial output:
    outputs are written by rename) and propagates."""

    def __init__(self, refiner: object, *, prefetch: int = 1, threads: int | None = None) -> None:
        self.refiner = refiner
        self.prefetch = max(0, prefetch)
        self.threads = threads

    def start(self) -> ModelIdentity:
        """The identity of the already-loaded engine."""
        set_threads(self.threads)
        return ModelIdentity.of(self.refiner.engine)

    def run(self, jobs: Iterator[Job], context: RunContext, done: Done) -> None:
        """Refine the jobs one by one, reading ahead on a thread."""
        if self.prefetch == 0:
            for job in jobs:
                done(job, process(job, self.refiner, context))
            return
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        pull_lock = threading.Lock()
        failure: list[BaseException] = []

        def reader() -> None:
            try:
                while not stop.is_set():
                    with pull_lock:
                        job = next(jobs, _END)
                    if job is _END:
                        break
                    try:
                        loaded: Loaded | BaseException = load(job, context.settings)
                    except Exception as problem:  # noqa: BLE001 - reported through the record
                        loaded = problem
                    while not stop.is_set():
                        try:
                            ready.put((job, loaded), timeout=0.1)
                            break
                        except queue.Full:
                            continue
            except BaseException as problem:  # noqa: BLE001 - e.g. a claim folder gone: re-raised on the driver
                failure.append(problem)
            finally:
                while not stop.is_set():
                    try:
                        ready.put(_END, timeout=0.1)
                        break
                    except queue.Full:
                        continue

        thread = threading.Thread(target=reader, name="uosam-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    break
                job, loaded = item
                done(job, process(job, self.refiner, context, loaded))
        finally:
            stop.set()
            thread.join(timeout=30)
        if failure:
            raise failure[0]

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""
