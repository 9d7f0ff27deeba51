"""Run in a fresh process by test_heap: free blocks full of "user text", then let embedded Chroma
create index files, and print the files that contain that text (JSON).

``python tests/heap_probe.py DIR scrub|noscrub``; start it with ``MALLOC_ARENA_MAX=1`` so Chroma's
worker threads draw from the same heap the freed blocks went back to.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import numpy as np

SECRET = "Бублик-секрет".encode()


def litter_the_heap() -> None:
    big = bytearray(4_000_000)  # freeing an mmapped block raises glibc's mmap threshold, so the
    del big  # blocks below come from the heap (and go back to it)
    keep = []
    litter = []
    for i in range(40):  # a live block between freed ones keeps them from merging and being trimmed
        litter.append(SECRET * (15_000 + i))
        keep.append(bytes(3000))
    del litter
    gc.collect()
    litter_the_heap.keep = keep  # type: ignore[attr-defined]


def main() -> None:
    root, mode = Path(sys.argv[1]), sys.argv[2]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import memory.chroma_store as chroma_store

    if mode == "noscrub":
        chroma_store.scrub_freed_memory = lambda: False
    litter_the_heap()
    store = chroma_store.ChromaStore(path=root)
    for user in range(3):
        vectors = np.random.default_rng(user).random((5, 384), dtype=np.float32)
        store.upsert(f"user{user}", [f"m{i}" for i in range(5)], vectors, [{"n": i} for i in range(5)])
    leaked = [str(p) for p in root.rglob("*") if p.is_file() and SECRET in p.read_bytes()]
    print(json.dumps(leaked))


if __name__ == "__main__":
    main()
