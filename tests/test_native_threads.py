"""The server limits BLAS/OpenMP to one thread per process unless the operator chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from livesrv import ROOT

PROBE = """
import json, numpy, scipy.sparse
from threadpoolctl import threadpool_info
from service.server import _limit_native_threads
_limit_native_threads()
print(json.dumps(sorted({p["num_threads"] for p in threadpool_info()})))
"""


def _threads(env: dict[str, str]) -> list[int]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def test_one_native_thread_per_process_by_default():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: BLAS uses one thread anyway")
    assert _threads({}) == [1]


def test_the_operators_setting_is_kept():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: cannot tell the settings apart")
    assert _threads({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}) == [2]
