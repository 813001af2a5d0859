"""The worker pool of the pretreatment commands: one single-threaded process per core, started safely."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

from .png import _cv2

__all__ = ["worker_pool"]

_THREAD_LIMITS = []  # keeps threadpoolctl's limiter alive in a worker


def _init_worker() -> None:
    """Worker processes run one thread each: the pool already has a process per core, and OpenCV's or a BLAS's
    own threads on top of it only compete with the other workers for the same cores."""
    _cv2().setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the CLI also sets the BLAS thread variables before numpy is first imported
        pass
    else:
        _THREAD_LIMITS.append(threadpool_limits(limits=1))


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes.

    Forking is the cheap start, and the CLI's pretreatment never imports torch. A process that has (a notebook, a
    training script, a test session) may have started OpenMP threads; a forked child then waits forever on a lock
    one of those threads held at the fork. Such callers get freshly started workers instead.
    """
    method = "spawn" if "torch" in sys.modules else None
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               mp_context=multiprocessing.get_context(method))
