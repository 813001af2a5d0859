"""Shared helpers for the model tests: tiny deterministic batches."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
