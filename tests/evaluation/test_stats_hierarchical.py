"""The two-level (training seed, then test subject) bootstrap of ``gaitedge.evaluation.stats``."""

import math

import numpy as np
import pytest

from gaitedge.evaluation.stats import (bootstrap_ci, hierarchical_bootstrap, paired_difference,
                                       paired_hierarchical_difference)


def _subjects(n, loc=60.0, scale=15.0, seed=0):
    """``{subject_id: score}`` of ``n`` subjects, scores in %."""
    return {f"{i:03d}": float(v) for i, v in enumerate(np.random.default_rng(seed).normal(loc, scale, size=n))}


def _width(ci):
    return ci[1] - ci[0]


def test_one_seed_is_exactly_the_subject_bootstrap():
    x = _subjects(40)
    for bseed in (0, 5):
        res = hierarchical_bootstrap({7: x}, n_boot=1000, seed=bseed, level=0.9)
        assert res["ci"] == list(bootstrap_ci(list(x.values()), n_boot=1000, seed=bseed, level=0.9))
        assert res["mean"] == pytest.approx(float(np.mean(list(x.values()))))
        assert (res["n_seeds"], res["n"]) == (1, 40)
    y = {k: v - 3.0 + np.cos(i) for i, (k, v) in enumerate(x.items())}
    paired = paired_hierarchical_difference({0: x}, {0: y}, seed=2)
    plain = paired_difference(x, y, seed=2)
    assert paired["ci"] == plain["ci"] and paired["mean"] == plain["mean"] and paired["n"] == plain["n"]


def test_identical_seeds_add_no_seed_variance():
    x = _subjects(30, seed=1)
    one = hierarchical_bootstrap({0: x}, n_boot=4000, seed=3)
    three = hierarchical_bootstrap({s: dict(x) for s in range(3)}, n_boot=4000, seed=3)
    assert three["mean"] == pytest.approx(one["mean"], abs=1e-9)
    assert (three["n_seeds"], three["n"]) == (3, 90)
    # three copies of one population are three independent subject resamples of it: the spread of their mean is
    # that of 90 subjects, i.e. the subject-only interval of the pooled scores, narrower than one seed's by sqrt(3)
    pooled = bootstrap_ci(list(x.values()) * 3, n_boot=4000, seed=3)
    assert _width(three["ci"]) == pytest.approx(_width(pooled), rel=0.12)
    assert _width(three["ci"]) == pytest.approx(_width(one["ci"]) / math.sqrt(3), rel=0.12)
    # identical scores everywhere: exactly that value, however many seeds
    flat = hierarchical_bootstrap({s: {f"{i}": 0.1 for i in range(5)} for s in range(4)})
    assert flat["mean"] == 0.1 and flat["ci"] == [0.1, 0.1]


def test_seed_variance_widens_the_interval():
    # three training seeds with the same subject spread, but whole-model shifts of -8, 0 and +8 points
    per_seed = {s: _subjects(40, loc=60.0 + shift, scale=10.0, seed=s) for s, shift in zip((0, 1, 2), (-8, 0, 8))}
    pooled = [v for d in per_seed.values() for v in d.values()]
    subject_only = bootstrap_ci(pooled, seed=0)  # treats the 120 scores as one test population
    res = hierarchical_bootstrap(per_seed, seed=0)
    assert res["mean"] == pytest.approx(float(np.mean(pooled)))  # equal subject counts: the pooled mean
    assert res["ci"][0] < res["mean"] < res["ci"][1]
    assert _width(res["ci"]) > 2.5 * _width(subject_only)
    # the seed level is real: the same scores without the shifts give an interval close to the subject-only one
    centred = {s: {k: v - shift for k, v in d.items()} for (s, d), shift in zip(per_seed.items(), (-8, 0, 8))}
    flat = hierarchical_bootstrap(centred, seed=0)
    assert _width(flat["ci"]) < 0.5 * _width(res["ci"])


def test_deterministic_and_free_of_dict_order():
    per_seed = {s: _subjects(25 + 5 * s, seed=s) for s in range(3)}  # unequal subject counts
    res = hierarchical_bootstrap(per_seed, seed=4)
    assert hierarchical_bootstrap(per_seed, seed=4) == res
    assert hierarchical_bootstrap(per_seed, seed=5)["ci"] != res["ci"]
    shuffled = {s: dict(reversed(d.items())) for s, d in reversed(per_seed.items())}
    assert hierarchical_bootstrap(shuffled, seed=4) == res
    other = {s: {k: v - 1.0 for k, v in d.items()} for s, d in per_seed.items()}
    diff = paired_hierarchical_difference(per_seed, other, seed=4)
    assert paired_hierarchical_difference(shuffled, {s: dict(reversed(d.items())) for s, d in reversed(other.items())},
                                          seed=4) == diff


def test_unequal_subject_counts_weigh_every_seed_the_same():
    per_seed = {0: {f"{i}": 10.0 for i in range(50)}, 1: {"a": 20.0, "b": 30.0}}
    res = hierarchical_bootstrap(per_seed, n_boot=500)
    assert res["mean"] == pytest.approx((10.0 + 25.0) / 2)
    assert 10.0 <= res["ci"][0] <= res["ci"][1] <= 30.0


def test_paired_version_resamples_the_per_subject_differences():
    a = {s: _subjects(30, seed=10 + s) for s in range(3)}
    b = {s: {k: v - (2.0 + s) + 0.3 * np.sin(i) for i, (k, v) in enumerate(d.items())} for s, d in a.items()}
    res = paired_hierarchical_difference(a, b, seed=1)
    diffs = {s: {k: a[s][k] - b[s][k] for k in a[s]} for s in a}
    assert res == hierarchical_bootstrap(diffs, seed=1)
    assert res["mean"] == pytest.approx(3.0, abs=0.2)
    # pairing removes the spread between subjects: far tighter than one model's own interval
    assert _width(res["ci"]) < 0.5 * _width(hierarchical_bootstrap(a, seed=1)["ci"])
    same = paired_hierarchical_difference(a, {s: dict(d) for s, d in a.items()})
    assert same["mean"] == 0.0 and same["ci"] == [0.0, 0.0] and same["n"] == 90


def test_nan_missing_subjects_and_seeds():
    nan = float("nan")
    res = hierarchical_bootstrap({0: {"a": 1.0, "b": nan, "c": 3.0}, 1: {"a": nan}, 2: {}}, n_boot=200, seed=1)
    assert (res["n_seeds"], res["n"]) == (1, 2)  # seeds without a finite score are left out
    assert res["ci"] == list(bootstrap_ci([1.0, 3.0], n_boot=200, seed=1))
    for empty in ({}, {0: {}}, {0: {"a": nan}}):
        r = hierarchical_bootstrap(empty)
        assert r["n_seeds"] == 0 and r["n"] == 0 and math.isnan(r["mean"]) and all(math.isnan(v) for v in r["ci"])
    # only seeds in both, and within a seed only subjects scored finitely in both
    a = {0: {"x": 5.0, "y": 7.0, "z": nan}, 1: {"x": 1.0}, "2": {"x": 4.0}}
    b = {0: {"x": 1.0, "y": 2.0, "z": 0.0}, 1: {"q": 1.0}, 3: {"x": 0.0}}
    r = paired_hierarchical_difference(a, b, n_boot=200)
    assert (r["n_seeds"], r["n"]) == (1, 2) and r["mean"] == pytest.approx(4.5)
    # seeds are matched by str(seed), so JSON round-trips (int -> str keys) pair up
    assert paired_hierarchical_difference({0: {"x": 2.0}}, {"0": {"x": 1.0}})["n"] == 1


@pytest.mark.parametrize("kw, name", [
    ({"n_boot": 0}, "n_boot"), ({"n_boot": 2.5}, "n_boot"), ({"level": 1.0}, "level"),
    ({"level": float("nan")}, "level"), ({"level": "high"}, "level"),
])
def test_bad_arguments_raise(kw, name):
    with pytest.raises(ValueError, match=name):
        hierarchical_bootstrap({0: {"a": 1.0}}, **kw)
    with pytest.raises(ValueError, match=name):
        paired_hierarchical_difference({0: {"a": 1.0}}, {0: {"a": 2.0}}, **kw)


def test_bad_values_are_named():
    with pytest.raises(ValueError, match=r"values must be a mapping"):
        hierarchical_bootstrap([1.0, 2.0])
    with pytest.raises(ValueError, match=r"values\[0\] must be a mapping"):
        hierarchical_bootstrap({0: [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"values\[0\]\['s1'\] must be a number"):
        hierarchical_bootstrap({0: {"s1": "high"}})
    with pytest.raises(ValueError, match=r"b\[1\] must be a mapping"):
        paired_hierarchical_difference({1: {"a": 1.0}}, {1: None})
    with pytest.raises(ValueError, match=r"a\[1\]\['a'\] must be a number"):
        paired_hierarchical_difference({1: {"a": None}}, {1: {"a": 1.0}})


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_score = st.floats(0.0, 100.0, allow_nan=False)
_seeds = st.dictionaries(st.integers(0, 20), st.dictionaries(st.text("abcdef", min_size=1, max_size=3), _score,
                                                             min_size=1, max_size=12), min_size=1, max_size=5)


@given(_seeds, st.floats(-50.0, 50.0), st.integers(0, 2 ** 32 - 1))
def test_property_bounds_and_shift(per_seed, shift, bseed):
    res = hierarchical_bootstrap(per_seed, n_boot=200, seed=bseed)
    values = [v for d in per_seed.values() for v in d.values()]
    # every replicate is an average of observed scores: the interval lies within their range, around the mean
    assert min(values) - 1e-9 <= res["ci"][0] <= res["ci"][1] <= max(values) + 1e-9
    assert min(values) - 1e-9 <= res["mean"] <= max(values) + 1e-9
    assert res["n_seeds"] == len(per_seed) and res["n"] == len(values)
    moved = hierarchical_bootstrap({s: {k: v + shift for k, v in d.items()} for s, d in per_seed.items()},
                                   n_boot=200, seed=bseed)
    assert moved["mean"] == pytest.approx(res["mean"] + shift, abs=1e-6)
    assert moved["ci"] == pytest.approx([c + shift for c in res["ci"]], abs=1e-6)
    # a model against itself differs by exactly nothing
    zero = paired_hierarchical_difference(per_seed, per_seed, n_boot=50, seed=bseed)
    assert zero["mean"] == 0.0 and zero["ci"] == [0.0, 0.0]
