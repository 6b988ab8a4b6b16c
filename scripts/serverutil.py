"""Start and stop a real alsosee server (or plain gunicorn) for the operations scripts."""

from __future__ import annotations

import sys
from pathlib import Path

from service.launch import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent


class Server(ServerProcess):
    """``python -m service.server`` (or ``gunicorn service.wsgi:app`` with ``stock=True``: the
    stock HUP behaviour, for comparison) in its own process group, started at once; rate
    limits off, one API key."""

    def __init__(self, models: Path, workers: int, log_path: Path, *,
                 api_key: str = "bench-key-0123456789",
                 state_db: Path | None = None, stock: bool = False,
                 extra_env: dict[str, str] | None = None) -> None:
        env = {"ALSOSEE_API_KEYS": api_key, "ALSOSEE_RATE_LIMIT": "off",
               "ALSOSEE_MODEL_DIR": str(models), **(extra_env or {})}
        if state_db is not None:
            env["ALSOSEE_STATE_DB"] = str(state_db)
        port = free_port()
        command = None
        if stock:
            command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
                       f"127.0.0.1:{port}", "--timeout", "60", "service.wsgi:app"]
        super().__init__(models, workers=workers, port=port, command=command,
                         args=[] if stock else ["--timeout", "60"], env=env, log_path=log_path,
                         cwd=ROOT, startup_timeout=300, ready_answers=10)
        self.start()


def pss_kib(pid: int) -> dict[str, int]:
    """Pss and Rss (KiB) of one process from /proc/<pid>/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0] in ("Pss:", "Rss:"):
                values[parts[0][:-1].lower()] = int(parts[1])
    return values
