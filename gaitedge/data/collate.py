"""Frame sampling and batch collation (OpenGait's ``fixed_ordered`` / ``fixed_unordered`` / ``all_ordered``).

``GaitCollate`` turns dataset items ``(inputs, label, type, view)`` into ``(batch, meta)`` as specified in
``interfaces.md``: fixed-length clips give ``[n, s, ...]`` tensors and ``seqL = None``; ``all_ordered`` concatenates
whole sequences along the frame axis (``[1, sum(seqL), ...]``) with ``seqL`` the per-sequence counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .formats.native import take_frames
from .transforms import default_transforms

__all__ = ["sample_frames", "GaitCollate", "SAMPLE_TYPES"]

SAMPLE_TYPES = ("fixed_ordered", "fixed_unordered", "all_ordered")


def sample_frames(
    n: int, sample_type: str, frames_num: int, rng: np.random.Generator, frames_all_limit: int | None = None
) -> np.ndarray:
    """Frame indices to take from an ``n``-frame sequence.

    - ``fixed_ordered``: a random contiguous window of ``frames_num``; shorter sequences wrap around (tiled).
    - ``fixed_unordered``: ``frames_num`` random frames, with replacement only when ``n < frames_num``.
    - ``all_ordered``: every frame in order, truncated to the first ``frames_all_limit`` when set.
    """
    if n < 1:
        raise ValueError("cannot sample frames from an empty sequence")
    if sample_type == "all_ordered":
        limit = n if frames_all_limit is None else min(n, int(frames_all_limit))
        return np.arange(limit)
    if frames_num < 1:
        raise ValueError(f"frames_num must be >= 1, got {frames_num}")
    if sample_type == "fixed_ordered":
        start = int(rng.integers(n - frames_num + 1)) if n >= frames_num else int(rng.integers(n))
        return (start + np.arange(frames_num)) % n
    if sample_type == "fixed_unordered":
        return rng.choice(n, frames_num, replace=n < frames_num)
    raise ValueError(f"sample_type must be one of {SAMPLE_TYPES}, got {sample_type!r}")


class GaitCollate:
    """Collate function for ``torch.utils.data.DataLoader``.

    Args:
        label_set: sorted subject ids; a label's class index is its position here.
        sample_type: "fixed_ordered", "fixed_unordered" or "all_ordered".
        frames_num: clip length for the fixed samplers (30 in GaitEdge).
        frames_all_limit: cap on frames per sequence for ``all_ordered`` (512 in GaitEdge's test).
        transforms: modality → callable on ``[s, ...]`` numpy arrays; ``default_transforms()`` when None.
        sequence_transform: optional joint transform ``f(seq_dict, rng) -> seq_dict`` (e.g. ``RandomCropShift``).
        seed: makes frame choice reproducible (mixed with the DataLoader worker id); None draws from torch's RNG,
            which DataLoader seeds differently per worker.
    """

    def __init__(
        self,
        label_set: Sequence[str],
        sample_type: str = "fixed_ordered",
        frames_num: int = 30,
        frames_all_limit: int | None = None,
        transforms: dict[str, Callable] | None = None,
        sequence_transform: Callable | None = None,
        seed: int | None = None,
    ) -> None:
        if sample_type not in SAMPLE_TYPES:
            raise ValueError(f"sample_type must be one of {SAMPLE_TYPES}, got {sample_type!r}")
        self.label_index = {str(k): i for i, k in enumerate(label_set)}
        self.sample_type = sample_type
        self.frames_num = int(frames_num)
        self.frames_all_limit = frames_all_limit
        self.transforms = default_transforms() if transforms is None else dict(transforms)
        self.sequence_transform = sequence_transform
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._rng_worker: int | None = None

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = -1 if info is None else info.id
        if self._rng is None or self._rng_worker != worker:
            if self.seed is None:
                entropy = int(torch.randint(0, 2**62, (1,)).item())
            else:
                entropy = [int(self.seed), worker + 1]
            self._rng = np.random.default_rng(entropy)
            self._rng_worker = worker
        return self._rng

    def __call__(self, items) -> tuple[dict[str, torch.Tensor | None], dict[str, list[str]]]:
        if len(items) == 0:
            raise ValueError("cannot collate an empty batch")
        rng = self._generator()
        clips, labels, meta = [], [], {"ids": [], "types": [], "views": []}
        for inputs, label, seq_type, view in items:
            if not inputs:
                raise ValueError(f"sequence {label}/{seq_type}/{view} has no modalities")
            n = {k: int(v.shape[0]) for k, v in inputs.items()}
            if len(set(n.values())) != 1:
                raise ValueError(f"sequence {label}/{seq_type}/{view}: modalities have different frame counts {n}")
            idx = sample_frames(next(iter(n.values())), self.sample_type, self.frames_num, rng, self.frames_all_limit)
            clip = {k: take_frames(v, idx) for k, v in inputs.items()}  # reads only the sampled frames of a memmap
            if self.sequence_transform is not None:
                clip = self.sequence_transform(clip, rng)
            clip = {k: self.transforms.get(k, _float32)(v) for k, v in clip.items()}
            clips.append(clip)
            label = str(label)
            if label not in self.label_index:
                raise KeyError(f"label {label!r} is not in the collate label_set ({len(self.label_index)} ids)")
            labels.append(self.label_index[label])
            meta["ids"].append(label)
            meta["types"].append(str(seq_type))
            meta["views"].append(str(view))
        keys = clips[0].keys()
        if any(c.keys() != keys for c in clips):
            raise ValueError("all sequences in a batch must carry the same modalities")
        batch: dict[str, torch.Tensor | None] = {"labels": torch.tensor(labels, dtype=torch.long)}
        if self.sample_type == "all_ordered":
            seq_len = [next(iter(c.values())).shape[0] for c in clips]
            batch["seqL"] = torch.tensor(seq_len, dtype=torch.long)
            for k in keys:
                batch[k] = torch.from_numpy(np.concatenate([c[k] for c in clips], 0)).unsqueeze(0)  # [1, sum, ...]
        else:
            batch["seqL"] = None
            for k in keys:
                batch[k] = torch.from_numpy(np.stack([c[k] for c in clips], 0))  # [n, s, ...]
        return batch, meta


def _float32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32)
