#!/usr/bin/env python3
"""Training on a Dask cluster vs locally: articles per core-second, and the same model.

    python scripts/dask_cluster.py                      # the bundled sample
    python scripts/dask_cluster.py --size 20000         # a derived Reuters corpus (cache dir)
    python scripts/dask_cluster.py --corpus archive.csv --workers 2 --json out.json

Starts a scheduler and ``--workers`` worker processes (``LocalCluster(processes=True)``, one
thread each), then runs ``alsosee train`` twice on the same corpus, as an operator would:
locally (default workers) and with ``--dask-scheduler``. Each training's report gives the CPU
seconds of its two parallel steps (vectorising and neighbour lists; the workers' own CPU
time travels back with their results), and articles per core-second is articles / those CPU
seconds. Wall time on the cluster includes shipping tasks and data between processes. The
two models are compared: same vectors (bit for bit), same neighbour lists.

On one machine the cluster's workers share its cores with everything else: the figures show
what the cluster path costs, not a speed-up (there are no extra cores to gain).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _train(corpus: Path | None, out: Path, scheduler: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "recommender", "train", "--out", str(out), "--quiet"]
    if corpus is not None:
        cmd.insert(4, str(corpus))
    if scheduler:
        cmd += ["--dask-scheduler", scheduler]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"alsosee train failed:\n{proc.stderr}")
    from recommender.model import artifact

    report = json.loads((artifact.resolve(out) / artifact.REPORT_FILE).read_text())
    n = report["model"]["articles"]
    vz, nb = report["fit_stats"]["vectorize"], report["fit_stats"]["neighbors"]
    cpu = vz["cpu_seconds"] + nb["cpu_seconds"]
    return {
        "articles": n,
        "backend": f"vectorise {vz['counting']['backend']}, neighbours {nb['backend']}",
        "workers": nb["n_jobs"],
        "fit_wall_seconds": round(report["timings_seconds"]["fit"], 2),
        "vectorize": {"wall_seconds": round(vz["seconds"], 2),
                      "cpu_seconds": round(vz["cpu_seconds"], 2),
                      "articles_per_core_second": round(n / max(vz["cpu_seconds"], 1e-9))},
        "neighbors": {"wall_seconds": round(nb["seconds"], 2),
                      "cpu_seconds": round(nb["cpu_seconds"], 2),
                      "articles_per_core_second": round(n / max(nb["cpu_seconds"], 1e-9))},
        "articles_per_core_second": round(n / max(cpu, 1e-9)),
    }


def _same_model(a: Path, b: Path) -> dict[str, bool]:
    from recommender.model import artifact

    ma, mb = artifact.load(a).model, artifact.load(b).model
    return {
        "vectors_bit_identical": bool((ma.matrix_ != mb.matrix_).nnz == 0),
        "neighbour_lists_identical": bool(np.array_equal(ma.neighbors_, mb.neighbors_)
                                          and np.array_equal(ma.neighbor_scores_,
                                                             mb.neighbor_scores_)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="corpus file (default: the bundled sample)")
    parser.add_argument("--size", type=int, help="derive a Reuters corpus of N articles")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import distributed

    corpus = args.corpus
    if args.size:
        from recommender.bench.benchmark import DEFAULT_SOURCE
        from recommender.bench.derived import cached_corpus

        _, corpus = cached_corpus(DEFAULT_SOURCE, args.size)
    with tempfile.TemporaryDirectory(prefix="alsosee-dask-") as tmp:
        local = _train(corpus, Path(tmp) / "local", None)
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                      processes=True, protocol="tcp",
                                      dashboard_address=":0") as cluster:
            remote = _train(corpus, Path(tmp) / "cluster", cluster.scheduler_address)
        same = _same_model(Path(tmp) / "local", Path(tmp) / "cluster")
    figures = {"corpus": str(corpus or "bundled sample"), "cpu_count": os.cpu_count(),
               "local": local, "cluster": remote, **same}
    for name, run in (("local", local), ("cluster", remote)):
        print(f"{name:8} {run['articles']} articles ({run['backend']}, {run['workers']} "
              f"worker(s)): {run['articles_per_core_second']} articles/core-second "
              f"(vectorise {run['vectorize']['articles_per_core_second']}, neighbours "
              f"{run['neighbors']['articles_per_core_second']}), fit {run['fit_wall_seconds']} s "
              "wall")
    print(f"same model: vectors bit-identical {same['vectors_bit_identical']}, neighbour "
          f"lists identical {same['neighbour_lists_identical']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
