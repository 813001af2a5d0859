"""Shared fixtures for the model tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # The tensors here are tiny: one intra-op thread is as fast, and it avoids OpenMP spin-wait stalls (100x
    # slowdowns measured) when the CI machine is oversubscribed. The previous setting is restored afterwards.
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
