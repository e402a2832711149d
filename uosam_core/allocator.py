"""Keep freed memory in the process for reuse (glibc), so large CPU tensors stop page-faulting.

glibc serves every allocation above its mmap threshold (128 KB to 32 MB) with a fresh ``mmap`` and
unmaps it on free: each 64 MB decoder tensor then costs ~16k page faults, and the elementwise ops of
SAM's decoder and encoder spent half their time faulting pages in (docs/decisions/0018-cpu-allocator.md).
:func:`keep_freed_memory` serves large blocks from the heap instead and returns only a free top of
more than ``TRIM_BYTES`` to the system. Peak memory is unchanged; what a finished large image freed
stays mapped up to ``TRIM_BYTES`` for the next one. ``UOSAM_SYSTEM_MALLOC=1`` leaves glibc as it is.

Every thread allocates from the one configured heap (``M_ARENA_MAX`` 1): glibc gives a thread its
own arena on its first allocation, and a thread arena unmaps what it frees whatever the settings, so a
decode in the app's worker thread page-faulted as before and ran 1.7x slower than in the main
thread. Call this before starting the threads that run models (the app does, in its controller).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

OPT_OUT_ENV = "UOSAM_SYSTEM_MALLOC"
TRIM_BYTES = 512 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Configure glibc once per process; returns whether it is in effect (False off glibc or opted out)."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _configure()
        return _applied


def _configure() -> bool:
    if os.environ.get(OPT_OUT_ENV, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return (bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(mallopt(_M_MMAP_MAX, 0))
            and bool(mallopt(_M_ARENA_MAX, 1)))
