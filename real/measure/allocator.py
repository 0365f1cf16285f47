"""Keep freed memory with the process while timing: the allocator setting every timing path shares.

glibc returns large freed blocks to the kernel (``munmap``, heap trimming) and maps fresh,
zeroed pages for the next pass. On this project's VM that page-fault work made one eager
MobileNetV2 pass take 24–29 ms instead of 17–18 ms, by an amount that moved with the host's
memory pressure — read as "drift" until traced. PyTorch's CPU performance guide swaps in
jemalloc/tcmalloc for the same reason; here ``mallopt`` does it in-process: blocks up to the
32 MiB mmap cap come from the heap, and the heap is never trimmed, so a pass reuses warm pages,
as a serving process in steady state does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["ALLOCATOR_NOTE", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_CAP = 32 * 1024 * 1024  # glibc's largest allowed mmap threshold on 64-bit
_applied: bool | None = None

#: What :func:`keep_freed_memory` sets, for the metadata of measurements.
ALLOCATOR_NOTE = "glibc mallopt: mmap threshold 32 MiB, heap never trimmed"


def keep_freed_memory() -> bool:
    """Apply the setting once per process (glibc only); True where it is in force."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_CAP)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
