"""Samplers, frame sampling, collation (batch dict of interfaces.md) and transforms."""

import numpy as np
import pytest
import torch

from gaitedge.data import (
    GaitCollate,
    InferenceSampler,
    RandomCropShift,
    SynthGaitDataset,
    TripletSampler,
    sample_frames,
)
from gaitedge.data.synth import SynthGait


@pytest.fixture(scope="module")
def dataset():
    g = SynthGait("indoor", subjects=5, seed=2, views=(0, 90), frames=(4, 9), conditions={"nm": 2, "bg": 1, "cl": 1},
                  size=32)  # fmt: skip
    return SynthGaitDataset(g, modalities=("ratios", "rgbs", "sils", "aligned_sils"), split=None)


def test_triplet_sampler_composition_and_rank_slices():
    labels = [f"{i // 6:03d}" for i in range(8 * 6)]  # 8 ids × 6 sequences
    full = TripletSampler(labels, (4, 3), seed=5, rank=0, world_size=1, num_steps=5)
    batches = list(full)
    assert len(batches) == 5 == len(full)
    for b in batches:
        ids = [labels[i] for i in b]
        assert len(b) == 12 and len(set(ids)) == 4
        assert all(ids.count(k) == 3 for k in set(ids))
        assert len(set(b)) == 12  # K distinct sequences per id when enough exist
    assert batches == list(TripletSampler(labels, (4, 3), seed=5, world_size=1, rank=0, num_steps=5))
    assert batches != list(TripletSampler(labels, (4, 3), seed=6, world_size=1, rank=0, num_steps=5))
    parts = [list(TripletSampler(labels, (4, 3), seed=5, rank=r, world_size=3, num_steps=5)) for r in range(3)]
    for step in range(5):
        slices = [set(p[step]) for p in parts]
        assert sum(len(s) for s in slices) == 12 and set().union(*slices) == set(batches[step])


def test_triplet_sampler_errors_and_replacement():
    with pytest.raises(ValueError, match="only 2 ids"):
        TripletSampler(["a", "b"], (3, 2), world_size=1, rank=0)
    with pytest.raises(ValueError, match="divisible"):
        TripletSampler(["a", "b", "c"], (3, 1), rank=0, world_size=2)
    b = next(iter(TripletSampler(["a", "b"], (2, 4), rank=0, world_size=1)))  # 1 sequence per id → replacement
    assert sorted(b) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_inference_sampler_pads_and_splits():
    s0 = list(InferenceSampler(5, batch_size=4, rank=0, world_size=2))
    s1 = list(InferenceSampler(5, batch_size=4, rank=1, world_size=2))
    assert s0 == [[0, 2], [4, 1]] and s1 == [[1, 3], [0, 2]]
    with pytest.raises(ValueError, match="multiple"):
        InferenceSampler(5, batch_size=3, rank=0, world_size=2)


def test_sample_frames():
    rng = np.random.default_rng(0)
    idx = sample_frames(10, "fixed_ordered", 4, rng)
    assert len(idx) == 4 and np.all(np.diff(idx) == 1)
    wrap = sample_frames(3, "fixed_ordered", 7, rng)  # shorter than the clip: contiguous with wrap-around
    assert len(wrap) == 7 and np.all((np.diff(wrap) % 3) == 1)
    assert len(set(sample_frames(10, "fixed_unordered", 10, rng))) == 10
    np.testing.assert_array_equal(sample_frames(10, "all_ordered", 0, rng, frames_all_limit=6), np.arange(6))
    np.testing.assert_array_equal(sample_frames(4, "all_ordered", 0, rng, frames_all_limit=6), np.arange(4))
    with pytest.raises(ValueError, match="sample_type"):
        sample_frames(4, "random", 3, rng)


def test_collate_fixed_clips(dataset):
    collate = GaitCollate(dataset.label_set, "fixed_ordered", frames_num=6, seed=0)
    items = [dataset[i] for i in (0, 5, 17)]
    batch, meta = collate(items)
    assert batch["seqL"] is None
    assert batch["rgbs"].shape == (3, 6, 3, 32, 32) and batch["rgbs"].dtype == torch.float32
    assert batch["sils"].shape == (3, 6, 32, 32) and set(batch["sils"].unique().tolist()) <= {0.0, 1.0}
    assert batch["aligned_sils"].shape == (3, 6, 64, 44) and 0 <= batch["aligned_sils"].min() <= batch["aligned_sils"].max() <= 1
    assert batch["ratios"].shape == (3, 6)
    assert batch["labels"].tolist() == [dataset.label_set.index(x[1]) for x in items]
    assert meta["ids"] == [x[1] for x in items] and meta["types"] == [x[2] for x in items]
    # ImageNet normalisation of a known pixel.
    raw = items[0][0]["rgbs"]
    seq_frames = raw.shape[0]
    assert seq_frames >= 4
    mean, std = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255
    b0 = batch["rgbs"][0].numpy()
    candidates = [(raw[f].astype(np.float32) - mean[:, None, None]) / std[:, None, None] for f in range(seq_frames)]
    assert any(np.allclose(b0[0], c, atol=1e-4) for c in candidates)


def test_collate_all_ordered_concatenates_with_seqL(dataset):
    collate = GaitCollate(dataset.label_set, "all_ordered", frames_all_limit=5)
    items = [dataset[i] for i in (1, 2)]
    batch, _ = collate(items)
    lengths = [min(5, x[0]["sils"].shape[0]) for x in items]
    assert batch["seqL"].tolist() == lengths
    assert batch["sils"].shape == (1, sum(lengths), 32, 32)
    assert batch["rgbs"].shape == (1, sum(lengths), 3, 32, 32)
    assert batch["ratios"].shape == (1, sum(lengths))


def test_collate_errors(dataset):
    collate = GaitCollate(["999"], "fixed_ordered", frames_num=4)
    with pytest.raises(KeyError, match="label"):
        collate([dataset[0]])
    with pytest.raises(ValueError, match="empty"):
        collate([])
    bad = ({"sils": np.zeros((4, 8, 8), np.uint8), "ratios": np.zeros(3, np.float32)}, "999", "nm-01", "000")
    with pytest.raises(ValueError, match="frame counts"):
        collate([bad])


def test_dataloader_end_to_end(dataset):
    sampler = TripletSampler(dataset.labels, (2, 2), seed=0, rank=0, world_size=1, num_steps=2)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=GaitCollate(dataset.label_set, frames_num=5, seed=1)
    )
    shapes = [tuple(b["sils"].shape) for b, _ in loader]
    assert shapes == [(4, 5, 32, 32)] * 2


def test_random_crop_shift_moves_rgb_and_sil_together():
    rng = np.random.default_rng(0)
    sils = np.zeros((3, 16, 16), np.uint8)
    sils[:, 4:12, 6:10] = 255
    rgbs = np.repeat(sils[:, None], 3, 1)
    out = RandomCropShift(prob=1.0, max_shift=3)({"rgbs": rgbs, "sils": sils}, rng)
    assert out["sils"].shape == sils.shape and out["rgbs"].shape == rgbs.shape
    np.testing.assert_array_equal(out["rgbs"][:, 0] > 0, out["sils"] > 0)
    assert out["sils"].sum() == sils.sum()  # the box stays inside, so nothing is lost
    none = RandomCropShift(prob=0.0, max_shift=3)({"rgbs": rgbs, "sils": sils}, rng)
    np.testing.assert_array_equal(none["sils"], sils)
