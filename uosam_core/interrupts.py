"""Ctrl-C (or SIGTERM) between two steps that belong together (an output and its record) waits until
both are done; SIGTERM (a cluster job's time limit, ``kill``) stops a batch as Ctrl-C does."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as after Ctrl-C (records and summary kept), exit 143."""


def _raise_terminated(number: int, frame) -> None:
    raise Terminated


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """During the block, SIGTERM raises :class:`Terminated` (in the main thread, where Python runs
    signal handlers); the previous handler comes back after it."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold SIGINT (and SIGTERM where :func:`sigterm_as_interrupt` set it) during the block and raise
    KeyboardInterrupt (or Terminated) after it, if one came.

    Only in the main thread with the default Python handler installed; elsewhere the block runs as is.
    """
    if not _main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    held = [signal.SIGINT] + ([signal.SIGTERM] if signal.getsignal(signal.SIGTERM) is _raise_terminated else [])
    previous = {number: signal.signal(number, lambda number, frame: received.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if signal.SIGTERM in received:
        raise Terminated
    if received:
        raise KeyboardInterrupt
