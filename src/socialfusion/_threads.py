"""Native thread pools (BLAS, OpenMP) held to one thread around many small computations.

A k-means fit on a few thousand rows, or the dozens of small logistic regressions of a cross-validated search, take
milliseconds each on one thread. With OpenMP or BLAS threads they pay a fork-join per iteration, and when another
process keeps a core busy those threads spin-wait on each other: on the two-CPU development machine, the demo's
k-means searches took 10.4 s with the default threads against 0.05 s on one thread, with one other busy process.
Work this small gains nothing from a second thread, so it runs on one; large matrix products keep the defaults.

``usable_cpus()`` is how many threads or processes socialfusion's own pools use by default (the USE encoder's
texts at once, image decoding, ingest workers, second processes): every CPU this process may run on, or
``SOCIALFUSION_NUM_THREADS`` where it is set (a process started beside another gets 1).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["NUM_THREADS_VARIABLE", "one_native_thread", "usable_cpus"]

NUM_THREADS_VARIABLE = "SOCIALFUSION_NUM_THREADS"


def usable_cpus() -> int:
    """``SOCIALFUSION_NUM_THREADS`` when set to a positive integer, else the CPUs this process may run on (its
    affinity where the platform says, else the machine's count)."""
    setting = os.environ.get(NUM_THREADS_VARIABLE, "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def one_native_thread(user_api: str | None = None) -> Iterator[None]:
    """Within the block, BLAS and OpenMP pools (or only ``user_api``: ``"blas"``, ``"openmp"``) use one thread.

    threadpoolctl comes with scikit-learn; without it the block runs with the pools as they are.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn requires threadpoolctl
        yield
        return
    with threadpool_limits(limits=1, user_api=user_api):
        yield
