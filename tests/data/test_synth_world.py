"""SynthGait's scenes, scene pools and the camera override (the geometric control)."""

import numpy as np
import pytest

from gaitedge.data.synth import SynthGait
from gaitedge.data.synth.scene import background


def _g(domain="indoor", **kw):
    kw = dict(dict(subjects=6, seed=0, views=(0, 90, 180), frames=4, size=64), **kw)
    return SynthGait(domain, **kw)


def test_every_sequence_draws_its_own_scene_by_default():
    g = _g("outdoor")
    a, b, c = g._scene(0, 1, 1, 0), g._scene(0, 1, 1, 90), g._scene(1, 1, 1, 0)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    np.testing.assert_array_equal(a, g._scene(0, 1, 1, 0))  # deterministic


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_a_scene_pool_is_shared_by_all_sequences(domain):
    one = _g(domain, backgrounds=1)
    scenes = [one._scene(s, c, n, v) for s in range(3) for c in (1, 2) for n in (1, 2) for v in (0, 90)]
    assert all(np.array_equal(scenes[0], x) for x in scenes[1:])
    four = _g(domain, backgrounds=4)
    distinct = {four._scene(s, c, n, v).tobytes() for s in range(6) for c in (1, 2, 3) for n in (1, 2) for v in (0, 90)}
    assert len(distinct) == 4
    # and the pool is part of what a cache of rendered sequences must tell apart
    assert one.cache_key() != four.cache_key() != _g(domain).cache_key()


def test_scene_families_differ_in_content_but_overlap_in_statistics():
    rng = np.random.default_rng
    indoor = np.stack([background("indoor", rng(i)) for i in range(24)])  # [24, 3, H, W]
    outdoor = np.stack([background("outdoor", rng(100 + i)) for i in range(24)])
    # overlapping low-level statistics: mean brightness and its spread between scenes
    bi, bo = indoor.mean(axis=(1, 2, 3)), outdoor.mean(axis=(1, 2, 3))
    assert bi.min() < bo.max() and bo.min() < bi.max()
    # different content: outdoor scenes have a sky band at the top, brighter than the ground below, on average
    top_minus_bottom = lambda x: (x[:, :, :30].mean() - x[:, :, -60:].mean())  # noqa: E731
    assert top_minus_bottom(outdoor) > top_minus_bottom(indoor)
    # no two scenes alike
    assert len({x.tobytes() for x in indoor}) == 24


def test_camera_override_keeps_everything_but_the_geometry():
    own, ctrl = _g("outdoor"), _g("outdoor", camera="indoor")
    assert ctrl.camera == "indoor" and own.camera == "outdoor" and own.cache_key() != ctrl.cache_key()
    for s in range(3):
        a, b = own.identity(s), ctrl.identity(s)
        np.testing.assert_array_equal(a.outfit.top, b.outfit.top)
        np.testing.assert_array_equal(a.traits["height"], b.traits["height"])
        np.testing.assert_array_equal(own._scene(s, 1, 1, 90), ctrl._scene(s, 1, 1, 90))
    assert own.sequence(0, "nm-01", 90)["sils"].tobytes() != ctrl.sequence(0, "nm-01", 90)["sils"].tobytes()
    # a domain filmed by its own camera is exactly the default
    same = _g("indoor", camera="indoor").sequence(1, "bg-01", 0)
    for k, v in _g("indoor").sequence(1, "bg-01", 0).items():
        assert v.tobytes() == same[k].tobytes(), k


def test_the_camera_not_the_people_sets_the_foreshortening():
    """The raised outdoor camera foreshortens people vertically: the same people and walks have wider boxes
    (width/height) under it than under the level indoor camera, whichever domain they come from."""

    def mean_ratio(g):
        return np.mean([g.sequence(s, "nm-01", v)["ratios"].mean() for s in range(6) for v in (0, 90, 180)])

    for domain in ("indoor", "outdoor"):
        level, raised = mean_ratio(_g(domain, camera="indoor")), mean_ratio(_g(domain, camera="outdoor"))
        assert raised > level + 0.008, (domain, level, raised)


def test_bad_world_arguments_are_named():
    for bad in (0, -1, True, 2.5, "4"):
        with pytest.raises(ValueError, match="backgrounds"):
            _g(backgrounds=bad)
    with pytest.raises(ValueError, match="camera"):
        _g(camera="aerial")
