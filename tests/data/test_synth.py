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
        # Near the centre: OpenGait's GaitAlign of a tight, border-touching crop lands a few columns off it.
        assert abs(int(np.argmax(mass > mass[-1] / 2)) - 22) <= 4


@pytest.mark.parametrize("jitter", [0.0, 0.5])
def test_aligned_sils_are_the_gait_align_crop_of_the_silhouettes(jitter):
    import torch

    from gaitedge.ops import gait_align

    g = _small("outdoor", jitter_prob=jitter, jitter_pixels=20)
    seq = g.sequence(2, "bg-02", 162)
    reference = seq if jitter == 0 else _small("outdoor").sequence(2, "bg-02", 162)  # the unjittered crop
    mask = torch.from_numpy(reference["sils"][:, None] / np.float32(255))  # [n, 1, S, S] in {0, 1}
    out = gait_align(mask, mask, torch.from_numpy(seq["ratios"]), out_size=(64, 44), mode="opengait")  # [n, 1, 64, 44]
    expected = np.clip(np.rint(out[:, 0].numpy() * np.float32(255)), 0, 255).astype(np.uint8)
    assert seq["aligned_sils"].tobytes() == expected.tobytes()


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


# ---------------------------------------------------------------------------------------- palettes and recolour probes
_RC = {"nm": 6, "bg": 2, "cl": 2, "rc": 2}


def _box_blur(x, r):
    from gaitedge.data.synth.generator import _box_blur as blur

    return blur(x, r)


def _person_colour(seq):
    m = seq["sils"] > 0
    return seq["rgbs"].transpose(0, 2, 3, 1)[m].astype(np.float32).mean(0)


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_rc_rerenders_the_nm_probe_walk_in_other_clothes(domain):
    g = _small(domain, conditions=_RC, jitter_prob=0.5)
    assert g.types[-2:] == ["rc-01", "rc-02"]
    for j in (1, 2):
        for view in (0, 90):
            nm, rc = g.sequence(1, f"nm-0{4 + j}", view), g.sequence(1, f"rc-0{j}", view)
            for k in ("sils", "ratios", "aligned_sils", "boxes"):
                assert rc[k].tobytes() == nm[k].tobytes(), k
            # Same background, lighting, optics and sensor noise; the person alone is recoloured, and the blur
            # (sigma <= 1.2 px at 64x64, so <= 2.4 px at this 128x128) carries the change at most 3 sigma outwards.
            near = _box_blur((nm["sils"] > 0).astype(np.float32), 8) > 0
            far = np.broadcast_to(~near[:, None], nm["rgbs"].shape)
            assert far.mean() > 0.05
            np.testing.assert_array_equal(rc["rgbs"][far], nm["rgbs"][far])
            diff = np.abs(rc["rgbs"].astype(np.int16) - nm["rgbs"]).max(1)[nm["sils"] > 0]  # per person pixel
            assert (diff > 10).mean() > 0.2  # at least the trousers or the top changed


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_rc_outfit_differs_from_the_identity_outfit(domain):
    from gaitedge.data.synth.appearance import PALETTES

    g = SynthGait(domain, subjects=60, seed=1, conditions=_RC)
    pal = PALETTES[domain]
    kept_top = kept_pants = changed_both = 0
    for s in range(60):
        own = g.identity(s).outfit
        for j in (1, 2):
            rc = g.rc_outfit(s, j)
            assert not rc.coat
            same_top, same_pants = np.array_equal(rc.top, own.top), np.array_equal(rc.pants, own.pants)
            assert not (same_top and same_pants)  # never the identity's own outfit
            kept_top, kept_pants, changed_both = kept_top + same_top, kept_pants + same_pants, changed_both + (
                not same_top and not same_pants)
            assert (pal.tops == rc.top).all(1).any() and (pal.pants == rc.pants).all(1).any()
    # A random draw among the other outfits, not a forced swap: with 4 tops x 3 trousers, 2 of the 11 other outfits
    # keep the top, 3 keep the trousers and 6 change both (expected 22, 33 and 65 of these 120 probes).
    assert kept_top > 5 and kept_pants > 10 and changed_both > 40
    # Rendered: the person's mean colour moves away from the NM walk's (a palette's colours are close, and one piece
    # may be kept, so by a few levels on a single probe; by more on average).
    g = _small(domain, conditions=_RC, frames=4)
    moves = [np.abs(_person_colour(g.sequence(s, "rc-01", 90)) - _person_colour(g.sequence(s, "nm-05", 90))).max()
             for s in range(3)]
    assert min(moves) > 2 and np.mean(moves) > 8


def test_rc_is_not_deterministic():
    """People in the same outfit get different recolour outfits (the old palette of two tops and two trousers
    forced one answer)."""
    g = SynthGait("indoor", subjects=80, seed=3, conditions=_RC)
    by_outfit: dict = {}
    for s in range(80):
        own = g.identity(s).outfit
        key = (tuple(own.top.tolist()), tuple(own.pants.tolist()))
        for j in (1, 2):
            rc = g.rc_outfit(s, j)
            by_outfit.setdefault(key, set()).add((tuple(rc.top.tolist()), tuple(rc.pants.tolist())))
    assert max(len(v) for v in by_outfit.values()) >= 4
    # and two probes of one person usually differ from each other
    assert sum(not np.array_equal(g.rc_outfit(s, 1).top, g.rc_outfit(s, 2).top)
               or not np.array_equal(g.rc_outfit(s, 1).pants, g.rc_outfit(s, 2).pants) for s in range(80)) > 50


def test_adding_rc_changes_no_other_sequence():
    plain = _small(frames=4)
    with_rc = _small(frames=4, conditions=_RC)
    assert with_rc.types == plain.types + ["rc-01", "rc-02"]
    for key in plain.keys()[::4]:
        a, b = plain.sequence(*key), with_rc.sequence(*key)
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), (key, k)


def test_rc_conditions_are_checked_and_listed_in_the_protocols():
    with pytest.raises(ValueError, match="rc <= nm - 4"):
        SynthGait(conditions={"nm": 5, "rc": 2})
    with pytest.raises(ValueError, match="conditions"):
        SynthGait(conditions={"nm": 6, "xx": 1})
    with pytest.raises(KeyError, match="type"):
        _small().sequence(0, "rc-01", 0)  # the default conditions have no RC
    proto = _small(conditions=_RC).protocols()
    assert proto["casia-b"]["gallery"] == ["nm-01", "nm-02", "nm-03", "nm-04"]
    assert proto["casia-b"]["probes"] == {"NM": ["nm-05", "nm-06"], "BG": ["bg-01", "bg-02"], "CL": ["cl-01", "cl-02"],
                                          "RC": ["rc-01", "rc-02"]}  # fmt: skip
    assert "rc-01" not in proto["ttg-200"]["probes"]["ALL"] and proto["ttg-200"]["probes"]["RC"] == ["rc-01", "rc-02"]
    assert "RC" not in _small().protocols()["casia-b"]["probes"]


def test_conditions_from_a_yaml_mapping():
    import yaml

    from gaitedge.data.builders import synth_from_config

    cfg = yaml.safe_load("domain: outdoor\nsubjects: 3\nviews: [0, 90]\nframes: 4\n"
                         "conditions: {nm: 6, bg: 2, cl: 2, rc: 2}\n")  # fmt: skip
    g, frac = synth_from_config(cfg)
    assert frac == 0.6 and g.conditions == _RC and "rc-02" in g.types
    assert g.sequence("003", "rc-02", 90)["sils"].shape == (4, 128, 128)


def test_domains_draw_from_different_palettes():
    from gaitedge.data.synth.appearance import LOOKS, PALETTES

    def colours(pal):
        return {tuple(c) for c in np.concatenate([pal.tops, pal.pants, pal.coats]).tolist()}

    assert not colours(PALETTES["indoor"]) & colours(PALETTES["outdoor"])
    assert {p for p, _, _ in PALETTES["indoor"].textures} != {p for p, _, _ in PALETTES["outdoor"].textures}
    for domain in ("indoor", "outdoor"):
        g = SynthGait(domain, subjects=30, seed=0)
        pal, other = PALETTES[domain], PALETTES["outdoor" if domain == "indoor" else "indoor"]
        for s in range(30):
            ident = g.identity(s)
            assert (pal.tops == ident.outfit.top).all(1).any() and (pal.pants == ident.outfit.pants).all(1).any()
            assert (pal.coats == ident.cl_outfit.top).all(1).any()
            assert not (other.tops == ident.outfit.top).all(1).any()
            # Skin and hair come from the looks shared by both domains.
            assert (LOOKS == np.stack([ident.skin, ident.hair])).all((1, 2)).any()


@pytest.mark.parametrize("n_tops", [1, 3])
def test_small_palettes_repeat_outfits_across_identities(monkeypatch, n_tops):
    import dataclasses

    from gaitedge.data.synth import appearance

    pal = appearance.PALETTES["indoor"]
    tops = np.array([[20.0, 40, 60], [200, 40, 40], [40, 200, 40]], np.float32)[:n_tops]  # [N, 3]
    monkeypatch.setitem(appearance.PALETTES, "indoor",
                        dataclasses.replace(pal, tops=tops, sleeves=(True,) * n_tops))  # fmt: skip
    g = SynthGait("indoor", subjects=80, seed=2)
    worn = [tuple(g.identity(s).outfit.top.tolist()) for s in range(80)]
    assert set(worn) == {tuple(t) for t in tops.tolist()}  # every colour is worn, and only those
    # Whole appearances (look, top, pants, texture) repeat: colour is shared by identities, not a fingerprint.
    looks = [
        (tuple(i.skin.tolist()), tuple(i.hair.tolist()), tuple(i.outfit.top.tolist()), tuple(i.outfit.pants.tolist()),
         i.outfit.pattern)
        for i in map(g.identity, range(80))
    ]  # fmt: skip
    assert len(set(looks)) <= len(appearance.LOOKS) * n_tops * len(pal.pants) * len(pal.textures)
    assert len(set(looks)) < 80

