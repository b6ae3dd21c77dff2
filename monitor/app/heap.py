"""Giving back the memory a poll freed (glibc; elsewhere nothing is done).

A poll allocates in bursts (a job list of several megabytes, a batch of logs) and then
frees it. glibc keeps freed heap memory for reuse, and after the first large block is
freed it raises the size from which blocks are mapped on their own, so the next job list
comes from the heap and pins it: the daemon's resident size stayed at its busiest poll's
plus one list (issue 17: +5.6 MiB from the second poll on). So large blocks are always
mapped on their own (`M_MMAP_THRESHOLD` set, which also stops the raising), and after
each poll the heap's free pages go back to the system (`malloc_trim`). Setting the one
threshold pins the other, `M_TRIM_THRESHOLD`, at its small default, under which glibc
shrinks and regrows the heap's top on every few frees (a `run --once` that set only the
first spent 0.4 s more CPU); it is set high, since the trim after each poll does that
work once. Only the daemon does this (`run --once` exits instead). Both are hints: a C
library without them (musl) is left as it is.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
LARGE_BLOCK = 256 * 1024  # bytes: larger blocks are mapped, and unmapped when freed
TRIM_AT = 64 * 1024 * 1024  # bytes free at the heap's top before free() itself trims


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def map_large_blocks() -> None:
    """Serve blocks over `LARGE_BLOCK` by their own mappings, from now on."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
        _LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_AT)


def give_back() -> None:
    """Return the heap's free pages to the system (a few milliseconds)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
