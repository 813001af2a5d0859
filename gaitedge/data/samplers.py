"""Batch samplers: P×K triplet batches for training and padded sequential batches for inference (DDP-aware).

Every rank builds the same global batch from the same seed and keeps its slice ``batch[rank::world_size]``, so
no broadcast is needed and the ranks' slices are disjoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["TripletSampler", "InferenceSampler", "dist_info"]


def dist_info(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(rank, world_size)``: the arguments when given, else torch.distributed's, else ``(0, 1)``."""
    if rank is None or world_size is None:
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                rank = dist.get_rank() if rank is None else rank
                world_size = dist.get_world_size() if world_size is None else world_size
        except ImportError:
            pass
    rank = 0 if rank is None else int(rank)
    world_size = 1 if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return rank, world_size


class TripletSampler:
    """Infinite (or ``num_steps``-long) stream of P ids × K sequences batches, as dataset index lists.

    Args:
        labels: the subject id of every dataset item.
        batch_size: ``(P, K)``: ids per batch and sequences per id (drawn with replacement only when an id has
            fewer than K sequences).
        seed: RNG seed; the stream is a pure function of (seed, epoch).
        rank: this process's rank (default: torch.distributed's, or 0).
        world_size: number of processes (default: torch.distributed's, or 1). ``P·K`` must divide evenly.
        shuffle: permute each global batch before slicing it across ranks (OpenGait's ``batch_shuffle``).
        num_steps: stop after this many batches (None: never stop).
    """

    def __init__(
        self,
        labels: Sequence[str],
        batch_size: tuple[int, int] | list[int],
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        shuffle: bool = True,
        num_steps: int | None = None,
    ) -> None:
        if len(batch_size) != 2 or min(batch_size) < 1:
            raise ValueError(f"batch_size must be (P, K) with P, K >= 1, got {batch_size!r}")
        self.P, self.K = int(batch_size[0]), int(batch_size[1])
        self.rank, self.world_size = dist_info(rank, world_size)
        if (self.P * self.K) % self.world_size:
            raise ValueError(f"P·K = {self.P * self.K} must be divisible by world_size = {self.world_size}")
        by_id: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            by_id.setdefault(str(lab), []).append(i)
        self.ids = sorted(by_id)
        self._pools = [np.asarray(by_id[k]) for k in self.ids]
        if self.P > len(self.ids):
            raise ValueError(f"P = {self.P} ids per batch but the dataset has only {len(self.ids)} ids")
        self.seed = int(seed)
        self.shuffle = shuffle
        self.num_steps = num_steps
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the stream (the DistributedSampler convention); all ranks must use the same epoch."""
        self.epoch = int(epoch)

    def global_batches(self) -> Iterator[np.ndarray]:
        """The un-sliced batches (``P·K`` indices each), identical on every rank."""
        rng = np.random.default_rng([self.seed, self.epoch])
        step = 0
        while self.num_steps is None or step < self.num_steps:
            chosen = rng.choice(len(self.ids), self.P, replace=False)
            batch = np.concatenate(
                [rng.choice(self._pools[c], self.K, replace=len(self._pools[c]) < self.K) for c in chosen]
            )  # [P·K], id-major
            if self.shuffle:
                batch = rng.permutation(batch)
            yield batch
            step += 1

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield batch[self.rank :: self.world_size].tolist()

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an infinite TripletSampler has no length; pass num_steps")
        return self.num_steps


class InferenceSampler:
    """Sequential batches over all items; the list is padded (repeating the first items) to a multiple of
    ``batch_size`` and each batch is split across ranks. Padded positions are ``>= num_items``-th entries of the
    padded list; use ``padded_length`` / ``num_items`` to trim gathered results.

    Args:
        num_items: dataset length.
        batch_size: global sequences per step (divisible by world_size).
        rank, world_size: as in :class:`TripletSampler`.
    """

    def __init__(self, num_items: int, batch_size: int = 1, rank: int | None = None, world_size: int | None = None):
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {num_items}")
        self.rank, self.world_size = dist_info(rank, world_size)
        if batch_size < 1 or batch_size % self.world_size:
            raise ValueError(f"batch_size = {batch_size} must be a positive multiple of world_size = {self.world_size}")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.padded_length = -(-self.num_items // batch_size) * batch_size
        order = np.arange(self.padded_length) % self.num_items  # wrap = repeat the first items
        self._order = order

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, self.padded_length, self.batch_size):
            yield self._order[start : start + self.batch_size][self.rank :: self.world_size].tolist()

    def __len__(self) -> int:
        return self.padded_length // self.batch_size
