"""Bundles kept in PostgreSQL (cluster mode): what a put and a read of one bundle cost.

Run from the repository root:

    .venv/bin/python benchmarks/cluster_blobs.py              # 1, 10 and 50 MiB, 3 rounds each
    .venv/bin/python benchmarks/cluster_blobs.py --quick      # 1 MiB, 1 round

PostgreSQL is $TURNOUT_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); the
run gets a fresh schema, dropped afterwards (tests/store/pg.py).

For random bytes of each size (50 MiB is the bundle size limit), the median of the rounds of:
put on node one (store + its cache), the same put again (idempotent), the first read on node two (from
the store, verified, then cached) and a second read on node two (from its cache). Baseline in the same
run: FileBlobStore, the single-node store, put and read of the same bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.store.pg import postgres_schema  # noqa: E402

from turnout.blobs import FileBlobStore  # noqa: E402
from turnout.cluster.blobs import PostgresBlobStore  # noqa: E402
from turnout.store import Store, open_store  # noqa: E402

MIB = 1 << 20


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def one_round(store: Store, folder: Path, data: bytes) -> dict[str, float]:
    one = PostgresBlobStore(store, FileBlobStore(folder / "one"))
    two = PostgresBlobStore(store, FileBlobStore(folder / "two"))
    local = FileBlobStore(folder / "local")
    sha = one.put(data)
    found = {
        "put again": timed(lambda: one.put(data)),
        "read, uncached": timed(lambda: two.get(sha)),
        "read, cached": timed(lambda: two.get(sha)),
        "baseline put (file)": timed(lambda: local.put(data)),
        "baseline read (file)": timed(lambda: local.get(sha)),
    }
    one.delete(sha)
    found["put"] = timed(lambda: one.put(data))
    one.delete(sha)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes, rounds = ([1], 1) if args.quick else ([1, 10, 50], 3)
    with postgres_schema() as url, tempfile.TemporaryDirectory() as tmp:
        store = open_store(url)
        try:
            for size in sizes:
                data = os.urandom(size * MIB)
                runs = [one_round(store, Path(tmp) / f"{size}-{n}", data) for n in range(rounds)]
                medians = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
                print(f"{size:>3} MiB  " + "  ".join(f"{k}: {v * 1000:.0f} ms" for k, v in medians.items()))
        finally:
            store.close()


if __name__ == "__main__":
    main()
