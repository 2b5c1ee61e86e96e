"""OPML import benchmark: `claimwatch feeds import-opml` of 2,000 and 20,000 feeds into a new data directory.

Prints the seconds of each and the ratio 20k / 2k: about 10 for an import that is linear in the number of
feeds (it was about 100 when each feed was inserted on its own; 20k feeds took over two minutes). Target:
20k feeds in a few seconds, in one store write.

    python bench/opml_bench.py [--feeds 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def opml(count: int) -> bytes:
    outlines = "".join(f'<outline text="Feed {i}" xmlUrl="https://f{i}.example/rss"/>' for i in range(count))
    return f'<opml version="2.0"><body>{outlines}</body></opml>'.encode()


def import_seconds(count: int, folder: Path) -> float:
    path = folder / f"{count}.opml"
    path.write_bytes(opml(count))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"CLAIMWATCH_DATA": str(folder / f"data-{count}"), "CLAIMWATCH_USER": "bench"}
    subprocess.run([sys.executable, "-m", "claimwatch", "list"], env=env, capture_output=True, check=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "claimwatch", "feeds", "import-opml", str(path)], env=env,
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    assert f"{count} feeds added" in done.stdout, done.stdout
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = import_seconds(args.feeds // 10, Path(tmp))
        large = import_seconds(args.feeds, Path(tmp))
    print(f"{args.feeds // 10:>6} feeds: {small:6.2f} s")
    print(f"{args.feeds:>6} feeds: {large:6.2f} s")
    print(f"ratio {args.feeds}/{args.feeds // 10}: {large / small:.1f} (linear: about 10)")


if __name__ == "__main__":
    main()
