"""Connecting to a Dask cluster: the vectorizer's and the neighbour pass's shared client.

Both passes run their joblib tasks on the cluster when ``dask_scheduler`` is given; this
module checks the address (a bounded TCP connect) before Dask's own, slower retries.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .errors import InvalidParameterError

if TYPE_CHECKING:  # an optional dependency (the dask extra)
    from distributed import Client

__all__ = ["CONNECT_TIMEOUT", "check_scheduler", "dask_client"]

#: Seconds to wait for a Dask scheduler before giving up with a clear error.
CONNECT_TIMEOUT = 5.0


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast (``InvalidParameterError``) when a Dask scheduler cannot be reached.

    A TCP connect with a timeout runs before Dask's own client, whose retries could
    otherwise wait much longer on an unreachable host.
    """
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme not in {"tcp", "tls"} or not parsed.hostname:
        raise InvalidParameterError(
            "dask_scheduler", f"expected tcp://HOST:PORT, got {address!r}")
    port = parsed.port or 8786
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise InvalidParameterError(
            "dask_scheduler",
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}",
        ) from None


@contextlib.contextmanager
def dask_client(address: str, timeout: float = CONNECT_TIMEOUT) -> Iterator[Client]:
    """A ``distributed.Client`` connected to ``address`` (checked first, bounded wait)."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidParameterError(
            "dask_scheduler",
            "Dask is not installed: pip install 'alsosee[dask]'",
        ) from exc
    check_scheduler(address, timeout)
    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except OSError as exc:
        raise InvalidParameterError(
            "dask_scheduler", f"cannot connect to the Dask scheduler at {address}: {exc}"
        ) from None
    try:
        yield client
    finally:
        client.close()
