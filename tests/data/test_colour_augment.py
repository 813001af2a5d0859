"""ColourAugment: the phase-1 colour changes that keep a segmenter from telling people by their clothes' colour."""

import numpy as np
import pytest

from gaitedge.data import ColourAugment
from gaitedge.data.builders import build_train_data


def _seq(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"rgbs": rng.integers(0, 256, (n, 3, 16, 12), dtype=np.uint8),
            "sils": (rng.random((n, 16, 12)) > 0.5).astype(np.uint8) * 255}


def test_identity_settings_change_nothing_and_silhouettes_are_untouched():
    seq = _seq()
    out = ColourAugment(0, (1, 1), (1, 1), (1, 1), 0)(seq, np.random.default_rng(0))
    np.testing.assert_array_equal(out["rgbs"], seq["rgbs"])
    out = ColourAugment()(seq, np.random.default_rng(0))
    assert out["sils"] is seq["sils"] and out["rgbs"].dtype == np.uint8 and out["rgbs"].shape == seq["rgbs"].shape
    assert not np.array_equal(out["rgbs"], seq["rgbs"])


def test_hue_rotation_keeps_grey_and_moves_colours():
    grey = np.full((4, 3, 8, 8), 120, np.uint8)
    out = ColourAugment(180, (1, 1), (1, 1), (1, 1), 0)({"rgbs": grey}, np.random.default_rng(1))["rgbs"]
    assert np.abs(out.astype(int) - 120).max() <= 1  # grey is on the rotation axis
    red = np.zeros((64, 3, 2, 2), np.uint8)
    red[:, 0] = 200
    out = ColourAugment(180, (1, 1), (1, 1), (1, 1), 0)({"rgbs": red}, np.random.default_rng(2))["rgbs"]
    dominant = out[:, :, 0, 0].argmax(1)
    assert set(dominant.tolist()) == {0, 1, 2}  # red turns green or blue in some frames
    np.testing.assert_allclose(out.astype(float).sum(1), red.astype(float).sum(1), atol=130)  # brightness-ish kept


def test_grey_prob_one_makes_grey_frames_and_draws_are_seeded():
    seq = _seq()
    out = ColourAugment(grey_prob=1.0, contrast=(1, 1), brightness=(1, 1))(seq, np.random.default_rng(0))["rgbs"]
    assert np.abs(out.astype(int) - out.astype(int).mean(1, keepdims=True)).max() <= 1
    a = ColourAugment()(seq, np.random.default_rng(7))["rgbs"]
    b = ColourAugment()(seq, np.random.default_rng(7))["rgbs"]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw", [dict(hue_deg=200), dict(hue_deg=-1), dict(saturation=(2, 1)), dict(contrast=(-1, 1)),
                                dict(brightness=(0, float("inf"))), dict(grey_prob=1.5), dict(grey_prob=float("nan"))])
def test_bad_arguments_are_named(kw):
    with pytest.raises(ValueError, match=next(iter(kw)).split("_")[0]):
        ColourAugment(**kw)


def test_the_data_config_builds_it_and_names_bad_values():
    data = {"synth": {"domain": "indoor", "subjects": 4, "views": [90], "frames": 4, "size": 32},
            "train": {"P": 2, "K": 1, "frames": 2, "sampling": "unordered", "colour_augment": {"hue_deg": 90}}}
    _, _, collate, _ = build_train_data(data, ("rgbs", "sils"), seed=0)
    assert isinstance(collate.sequence_transform, ColourAugment) and collate.sequence_transform.hue == np.radians(90)
    for bad, match in (({"hue": 3}, "colour_augment"), ("yes", "colour_augment"), ({"grey_prob": 3}, "grey_prob")):
        data["train"]["colour_augment"] = bad
        with pytest.raises(ValueError, match=match):
            build_train_data(data, ("rgbs", "sils"), seed=0)
