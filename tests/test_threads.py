"""Native thread pools held to one thread around small computations, and given back afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion._threads import one_native_thread

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # NumPy's BLAS is loaded by now
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


def test_inside_the_block_every_blas_pool_has_one_thread_and_after_it_the_previous_count():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and all(count == 2 for count in before)
        with one_native_thread():
            assert all(count == 1 for count in _blas_threads())
        assert _blas_threads() == before
