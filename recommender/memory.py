"""How much memory this process has used: the one measure every stage reports."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_mib"]


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): ``VmHWM``, the high-water mark of its own
    address space. ``ru_maxrss`` would not do in a worker: it is carried over from the
    parent's size at fork (a loky worker of a 3 GB trainer reported 3 GB); it is the
    fallback where ``/proc`` is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
