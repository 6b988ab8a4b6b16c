#!/usr/bin/env python3
"""Scale benchmark (same as ``alsosee bench``): ``python scripts/benchmark.py --sizes 10k,100k``.

Derives corpora from ../shared/data/reuters21578 (outside the repository, in
~/.cache/alsosee-bench), then measures alsosee and the NearestNeighbors baseline.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.bench_cli import bench  # noqa: E402

if __name__ == "__main__":
    bench.main(prog_name="scripts/benchmark.py")
