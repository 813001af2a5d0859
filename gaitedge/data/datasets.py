"""Sequence datasets: items are ``(inputs: dict[str, np.ndarray], label: str, type: str, view: str)``.

``label`` is the subject id; ``GaitCollate(label_set=dataset.label_set)`` turns it into a class index and
samples frames (``seqL`` comes from collation).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .formats import load_partition, open_store

__all__ = ["GaitDataset", "SynthGaitDataset"]

Key = tuple[str, str, str]


def _select(keys: list[Key], partition: dict | None, split: str | None, where: str) -> list[Key]:
    if split is None:
        return keys
    if partition is None:
        raise ValueError(f"{where}: split={split!r} needs a partition (a JSON path or a dict), none was found")
    if split not in partition:
        raise ValueError(f"{where}: split must be one of {sorted(partition)}, got {split!r}")
    wanted = {str(i) for i in partition[split]}
    present = {k[0] for k in keys}
    missing = sorted(wanted - present)
    if missing:
        warnings.warn(f"{where}: {len(missing)} {split} id(s) not found, e.g. {missing[:5]}", stacklevel=3)
    return [k for k in keys if k[0] in wanted]


class _SequenceIndex(torch.utils.data.Dataset):
    """Shared by the sequence datasets: the (id, type, view) keys of one split, restricted to ``types``."""

    keys: list[Key]
    label_set: list[str]

    def _set_keys(self, keys: list[Key], types: Sequence[str] | None, split: str | None, where: str) -> None:
        if types is not None:
            keys = [k for k in keys if k[1] in set(types)]
        if not keys:
            raise ValueError(f"{where}: no sequences for split={split!r}, types={types!r}")
        self.keys = keys
        self.label_set = sorted({k[0] for k in keys})

    def keep_first_ids(self, n: int, where: str = "data.train.subjects") -> None:
        """Keep only the sequences of the first ``n`` subject ids (sorted), e.g. to train on fewer people."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self.label_set):
            raise ValueError(f"{where} must be an int in [1, {len(self.label_set)}] (the split's subjects), "
                             f"got {n!r}")
        kept = set(self.label_set[:n])
        self.keys = [k for k in self.keys if k[0] in kept]
        self.label_set = sorted(kept)

    @property
    def labels(self) -> list[str]:
        """Subject id of every item (for :class:`~gaitedge.data.samplers.TripletSampler`)."""
        return [k[0] for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)


class GaitDataset(_SequenceIndex):
    """Sequences of a dataset root (native or OpenGait layout), filtered by a partition split.

    Args:
        root: dataset root.
        modalities: modalities each item carries, e.g. ``("ratios", "rgbs", "sils")`` or ``("aligned_sils",)``.
        split: "TRAIN_SET", "TEST_SET" or None (all sequences).
        partition: a partition JSON path or dict; defaults to the native index's partition.
        layout: "auto", "native" or "opengait".
        types: keep only these sequence types (e.g. the probe types of a protocol); None keeps all.
        cache: keep loaded OpenGait pickles in memory.
    """

    def __init__(
        self,
        root: str | Path,
        modalities: Sequence[str] = ("aligned_sils",),
        split: str | None = "TRAIN_SET",
        partition: str | Path | dict | None = None,
        layout: str = "auto",
        types: Sequence[str] | None = None,
        cache: bool = False,
    ) -> None:
        self.store = open_store(root, layout, cache=cache)
        if not modalities:
            raise ValueError("modalities must name at least one modality")
        self.modalities = tuple(modalities)
        unknown = [m for m in self.modalities if self.store.modalities and m not in self.store.modalities]
        if unknown:
            raise ValueError(f"{root}: modalities {unknown} not in this dataset (it has {list(self.store.modalities)})")
        if isinstance(partition, (str, Path)):
            partition = load_partition(partition)
        elif partition is None:
            partition = self.store.partition
        self._set_keys(_select(self.store.keys, partition, split, str(root)), types, split, str(root))

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], str, str, str]:
        key = self.keys[i]
        return self.store.load(key, self.modalities), key[0], key[1], key[2]


class SynthGaitDataset(_SequenceIndex):
    """SynthGait sequences rendered on demand, no disk involved (tests, demos).

    Args:
        synth: a :class:`~gaitedge.data.synth.SynthGait`.
        modalities: subset of "rgbs", "sils", "ratios", "aligned_sils", "boxes".
        split: "TRAIN_SET", "TEST_SET" or None.
        train_fraction: passed to ``synth.partition``.
        types: keep only these types; None keeps all.
        cache: keep rendered sequences in memory.
    """

    def __init__(
        self,
        synth,
        modalities: Sequence[str] = ("aligned_sils",),
        split: str | None = "TRAIN_SET",
        train_fraction: float = 0.6,
        types: Sequence[str] | None = None,
        cache: bool = True,
    ) -> None:
        known = ("rgbs", "sils", "ratios", "aligned_sils", "boxes")
        bad = [m for m in modalities if m not in known]
        if bad or not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {known}, got {tuple(modalities)}")
        self.synth = synth
        self.modalities = tuple(modalities)
        where = f"SynthGait({synth.domain})"
        self._set_keys(_select(synth.keys(), synth.partition(train_fraction), split, where), types, split, where)
        self.cache = cache
        self._cache: dict[Key, dict[str, np.ndarray]] = {}

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], str, str, str]:
        key = self.keys[i]
        seq = self._cache.get(key)
        if seq is None:
            full = self.synth.sequence(*key)
            seq = {m: full[m] for m in self.modalities}
            if self.cache:
                self._cache[key] = seq
        return seq, key[0], key[1], key[2]
