"""Keep freed process memory out of the files Chroma writes.

Chroma's embedded HNSW index (hnswlib) allocates its buffers with ``malloc`` and writes them to disk
whole, capacity not yet used included. Those unused bytes are whatever the process freed before:
decrypted messages, HTTP bodies from Telegram. A wipe test caught the words a user had said, in
plaintext, in ``data_level0.bin`` of another collection. glibc can fill every fresh heap block with
a fixed byte and scrub every freed one (``mallopt(M_PERTURB)``), which closes that path for the
whole process at the cost of a ``memset`` per large allocation.

What it cannot reach: blocks recycled through glibc's per-thread cache (sizes up to about 1 KB),
which skip the scrub. Operators who want that closed too start the process with
``GLIBC_TUNABLES=glibc.malloc.tcache_count=0`` (see the README's privacy notes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_PERTURB = -6  # from glibc's malloc.h
# Freed blocks are filled with this byte and fresh blocks with its complement: 0xFF gives zeroed
# allocations, as calloc would.
_PERTURB_BYTE = 0xFF

_scrubbing = False


def scrub_freed_memory() -> bool:
    """Turn glibc's malloc perturbation on for this process (idempotent). False where there is no
    glibc (macOS, musl): there the allocator's own behaviour stands, and it is logged once."""
    global _scrubbing
    if _scrubbing:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.warning("memory: no glibc mallopt here; freed memory is not scrubbed before Chroma writes")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _scrubbing = bool(mallopt(_M_PERTURB, _PERTURB_BYTE))
    return _scrubbing
