"""Config sections → training / test data: the entry points ``gaitedge.experiment`` calls.

A ``data`` section names either a dataset on disk (``root`` + ``format`` + optional ``partition``) or an in-memory
SynthGait set (``synth: {domain, subjects, seed, views, frames, train_fraction}``; rendered once per process and
shared by every loader that asks for the same set, so a demo renders each domain once)::

    data:
      root: data/synth-indoor        # or: synth: {domain: indoor, subjects: 20, views: [0, 90, 180], frames: 24}
      format: native                 # native | opengait | auto
      partition: null                # JSON path; default: the dataset's own (native index / SynthGait split)
      train: {P: 8, K: 8, frames: 30, sampling: ordered, types: null}     # ordered | unordered
      test: {frames_limit: 512, batch_size: 1, types: null}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch

from .collate import GaitCollate
from .datasets import GaitDataset, _select, _SequenceIndex
from .samplers import TripletSampler
from .synth import SynthGait
from .transforms import ColourAugment

__all__ = ["build_train_data", "build_test_loader", "build_dataset", "synth_from_config", "TestLoader"]

_TRAIN_KEYS = {"P", "K", "frames", "sampling", "types", "colour_augment", "subjects"}
_TEST_KEYS = {"frames_limit", "batch_size", "types"}
_SYNTH_KEYS = {"domain", "subjects", "seed", "views", "frames", "train_fraction", "conditions", "size", "jitter_prob",
               "jitter_pixels", "variation", "backgrounds", "camera"}
_DATA_KEYS = {"root", "format", "partition", "train", "test", "synth"}

# rendered SynthGait sequences, keyed by the generator's arguments: every loader of one process shares them
_SYNTH_CACHE: dict[tuple, dict] = {}


def _check_keys(cfg: Mapping, allowed: set, where: str) -> None:
    unknown = set(cfg) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def synth_from_config(synth_cfg: Mapping) -> tuple[SynthGait, float]:
    """``data.synth`` → (``SynthGait``, train fraction)."""
    cfg = dict(synth_cfg)
    _check_keys(cfg, _SYNTH_KEYS, "data.synth")
    frac = float(cfg.pop("train_fraction", 0.6))
    if "views" in cfg:
        cfg["views"] = tuple(int(v) for v in cfg["views"])
    if isinstance(cfg.get("frames"), list):
        cfg["frames"] = tuple(cfg["frames"])
    return SynthGait(**cfg), frac


class _SharedSynthDataset(_SequenceIndex):
    """SynthGait sequences rendered on first use into a process-wide cache (all modalities kept)."""

    def __init__(self, synth: SynthGait, modalities: Sequence[str], split: str | None, train_fraction: float,
                 types: Sequence[str] | None = None) -> None:
        key = synth.cache_key()
        self.synth, self.modalities = synth, tuple(modalities)
        self._cache = _SYNTH_CACHE.setdefault(key, {})
        where = f"SynthGait({synth.domain})"
        self._set_keys(_select(synth.keys(), synth.partition(train_fraction), split, where), types, split, where)

    def __getitem__(self, i: int):
        key = self.keys[i]
        seq = self._cache.get(key)
        if seq is None:
            seq = self.synth.sequence(*key)
            seq.pop("boxes", None)
            self._cache[key] = seq
        return {m: seq[m] for m in self.modalities}, key[0], key[1], key[2]


def build_dataset(data_cfg: Mapping, modalities: Sequence[str], split: str | None,
                  types: Sequence[str] | None = None):
    """The dataset a ``data`` section describes (disk or in-memory SynthGait), restricted to ``split``."""
    _check_keys(data_cfg, _DATA_KEYS, "data")
    if not modalities:
        raise ValueError("the model declares no input modalities (input_keys is empty)")
    if data_cfg.get("synth") is not None:
        synth, frac = synth_from_config(data_cfg["synth"])
        return _SharedSynthDataset(synth, modalities, split, frac, types)
    root = data_cfg.get("root")
    if not root:
        raise ValueError("data.root is not set (pass data.root=/path/to/dataset, or give data.synth)")
    if not Path(root).exists():
        raise FileNotFoundError(f"data.root: dataset folder not found: {root}")
    fmt = data_cfg.get("format") or "auto"
    if fmt not in ("auto", "native", "opengait"):
        raise ValueError(f"data.format must be auto|native|opengait, got {fmt!r}")
    partition = data_cfg.get("partition")
    if partition is not None and not Path(partition).is_file():
        raise FileNotFoundError(f"data.partition: partition file not found: {partition}")
    return GaitDataset(root, modalities=tuple(modalities), split=split, partition=partition, layout=fmt, types=types)


def build_train_data(data_cfg: Mapping, input_keys: Sequence[str], seed: int, rank: int = 0, world: int = 1):
    """Training split → ``(dataset, batch_sampler, collate_fn, num_classes)``.

    The batch sampler is the infinite seeded P×K :class:`TripletSampler`, already sliced for ``rank`` of ``world``;
    the collate samples ``train.frames`` frames per sequence (``ordered``: a contiguous window; ``unordered``:
    random frames) and draws from the global RNGs, which the training stream seeds per iteration. ``train.types``
    (optional) restricts training to those sequence types, ``train.subjects`` (optional) to the split's first that
    many subject ids.
    """
    train = dict(data_cfg.get("train") or {})
    _check_keys(train, _TRAIN_KEYS, "data.train")
    dataset = build_dataset(data_cfg, input_keys, "TRAIN_SET", types=train.get("types"))
    if train.get("subjects") is not None:
        dataset.keep_first_ids(train["subjects"])
    P, K = int(train.get("P", 8)), int(train.get("K", 8))
    sampler = TripletSampler(dataset.labels, (P, K), seed=seed, rank=rank, world_size=world)
    sampling = train.get("sampling", "ordered")
    if sampling not in ("ordered", "unordered"):
        raise ValueError(f"data.train.sampling must be 'ordered' or 'unordered', got {sampling!r}")
    augment = train.get("colour_augment")
    if augment is not None and not isinstance(augment, Mapping):
        raise ValueError(f"data.train.colour_augment must be a mapping of ColourAugment arguments, got {augment!r}")
    try:
        colour = None if augment is None else ColourAugment(**augment)
    except TypeError as e:
        raise ValueError(f"data.train.colour_augment: {e}") from None
    collate = GaitCollate(dataset.label_set, f"fixed_{sampling}", frames_num=int(train.get("frames", 30)),
                          sequence_transform=colour)
    return dataset, sampler, collate, len(dataset.label_set)


class TestLoader:
    """Sequential, unpadded batches of the test split for one rank: every sequence is seen exactly once overall.

    Yields ``(batch, meta)`` from :class:`GaitCollate` in ``all_ordered`` mode (whole sequences up to
    ``frames_limit`` frames, concatenated along the frame axis with ``seqL``). When every sequence of a batch has
    the same length the batch is reshaped to ``[n, s, ...]`` with ``seqL = None``: the models treat each sequence
    on its own either way (BatchNorm is in eval mode), and one batched call is several times faster on a CPU
    than a per-sequence loop.
    """

    def __init__(self, dataset, batch_size: int, frames_limit: int | None, rank: int = 0, world: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"data.test.batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.indices = list(range(rank, len(dataset), world))  # [rank::world]: disjoint shares, no padding
        self.collate = GaitCollate(dataset.label_set, "all_ordered", frames_all_limit=frames_limit)

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator:
        for start in range(0, len(self.indices), self.batch_size):
            batch, meta = self.collate([self.dataset[i] for i in self.indices[start:start + self.batch_size]])
            seqL = batch["seqL"]
            if seqL is not None and bool((seqL == seqL[0]).all()):
                n, s = int(seqL.numel()), int(seqL[0])
                batch = {k: (v.reshape(n, s, *v.shape[2:]) if torch.is_tensor(v) and k not in ("labels", "seqL")
                             else v) for k, v in batch.items()}  # [1, n*s, ...] -> [n, s, ...]
                batch["seqL"] = None
            yield batch, meta


def build_test_loader(data_cfg: Mapping, input_keys: Sequence[str], rank: int = 0, world: int = 1) -> TestLoader:
    """Test split → iterable of ``(batch, meta)`` over this rank's share (``test.types`` restricts the types)."""
    test = dict(data_cfg.get("test") or {})
    _check_keys(test, _TEST_KEYS, "data.test")
    dataset = build_dataset(data_cfg, input_keys, "TEST_SET", types=test.get("types"))
    limit = test.get("frames_limit")
    return TestLoader(dataset, int(test.get("batch_size", 1)), None if limit is None else int(limit), rank, world)
