"""Resumable training data streams: the batch for iteration ``i`` depends only on ``(seed, i, rank)``.

The data layer's batch sampler yields index lists; here every index is tagged with its iteration, and the dataset
access and collate run with python/numpy/torch RNGs seeded from ``(seed, iteration, rank)`` and restored afterwards.
So frame-window choices and augmentations do not depend on worker scheduling or on how many iterations ran before
a restart, and a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["seeded_rng", "IterationTaggedDataset", "make_train_stream"]


@contextlib.contextmanager
def seeded_rng(*key: int):
    """Seed python, numpy and torch (CPU) RNGs from ``key`` for the block, then restore their previous states."""
    seed = int(np.random.SeedSequence([abs(int(k)) for k in key]).generate_state(1)[0])
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield seed
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class IterationTaggedDataset(Dataset):
    """Wraps a dataset so items are requested as ``(iteration, index)`` and fetched under a seeded RNG."""

    def __init__(self, dataset: Dataset, seed: int, rank: int = 0) -> None:
        self.dataset, self.seed, self.rank = dataset, seed, rank

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        it, idx = key
        # no rank in the key: an item's randomness is the same whatever the number of processes
        with seeded_rng(self.seed, 1, it, idx):
            return it, self.dataset[idx]


class _TaggedBatches:
    def __init__(self, batch_sampler: Iterable, start_iter: int) -> None:
        self.batch_sampler, self.start_iter = batch_sampler, start_iter

    def __iter__(self) -> Iterator[list]:
        # index lists are cheap: skipping the first start_iter batches replays the sampler's own RNG exactly
        batches = itertools.islice(iter(self.batch_sampler), self.start_iter, None)
        for it, batch in enumerate(batches, start=self.start_iter):
            yield [(it, int(i)) for i in batch]


def _seeded_collate(collate: Callable, seed: int, rank: int) -> Callable:
    def fn(items):
        it = items[0][0]
        with seeded_rng(seed, 2, it, rank):
            return collate([x for _, x in items])

    return fn


def make_train_stream(dataset: Dataset, batch_sampler: Iterable, collate_fn: Callable, *, seed: int,
                      start_iter: int = 0, rank: int = 0, num_workers: int = 0,
                      pin_memory: bool = False) -> Iterator:
    """An iterator over ``(batch, meta)`` for iterations ``start_iter, start_iter + 1, ...``.

    Args:
        dataset: map-style dataset of the data layer.
        batch_sampler: deterministic (seeded) iterable of index lists for this rank, e.g. the P×K sampler.
        collate_fn: the data layer's collate, returning ``(batch, meta)``.
    """
    loader = DataLoader(
        IterationTaggedDataset(dataset, seed, rank),
        batch_sampler=_TaggedBatches(batch_sampler, start_iter),
        collate_fn=_seeded_collate(collate_fn, seed, rank),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        # own generator: creating the iterator must not consume the global torch RNG (resume exactness)
        generator=torch.Generator().manual_seed(seed),
    )
    return iter(loader)
