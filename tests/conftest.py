import pytest
import torch


def _cuda_ready() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        from gaitedge._extension import has_cuda_kernels
    except ImportError:
        return False
    return has_cuda_kernels()


def pytest_collection_modifyitems(config, items):
    if _cuda_ready():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and gaitedge._C built with CUDA kernels")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# Property-based tests (hypothesis, a test-only dependency): a bounded, derandomised example count by default, so CI
# is fast and repeatable; GAITEDGE_HYPOTHESIS_PROFILE=thorough runs many more examples on demand.
try:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=400, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("GAITEDGE_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # the property tests skip themselves
    pass
