import math

import numpy as np
import pytest

from gaitedge.evaluation.stats import bootstrap_ci, paired_difference, summarise


def _scores(n, seed=0):
    return np.random.default_rng(seed).normal(70.0, 15.0, size=n)  # [n] per-subject scores in %


def test_bootstrap_ci_contains_mean_and_matches_normal_theory():
    x = _scores(400)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi
    # for a large sample the percentile interval is close to mean +- 1.96 standard errors
    se = x.std(ddof=0) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.2 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.2 * se)


def test_bootstrap_ci_shrinks_with_more_subjects_and_grows_with_level():
    few, many = bootstrap_ci(_scores(20)), bootstrap_ci(_scores(500))
    assert many[1] - many[0] < 0.5 * (few[1] - few[0])
    lo90, hi90 = bootstrap_ci(_scores(50), level=0.90)
    lo99, hi99 = bootstrap_ci(_scores(50), level=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_bootstrap_ci_is_deterministic_per_seed_and_order_free():
    x = _scores(30)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)
    assert bootstrap_ci(x[::-1].tolist(), seed=3) == bootstrap_ci(x, seed=3)


def test_bootstrap_ci_degenerate_inputs():
    assert bootstrap_ci([0.1] * 7) == (0.1, 0.1)  # exact, no rounding from summing 0.1s
    assert bootstrap_ci([42.0]) == (42.0, 42.0)
    assert bootstrap_ci([float("nan"), 42.0, float("nan")]) == (42.0, 42.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert all(math.isnan(v) for v in bootstrap_ci([float("nan")]))
    assert bootstrap_ci([1.0, float("nan"), 3.0, 8.0], seed=1) == bootstrap_ci([1.0, 3.0, 8.0], seed=1)
    lo, hi = bootstrap_ci([0.0, 100.0], n_boot=1)
    assert lo == hi and lo in (0.0, 50.0, 100.0)


@pytest.mark.parametrize("kw, name", [
    ({"n_boot": 0}, "n_boot"), ({"n_boot": -5}, "n_boot"), ({"n_boot": 2.5}, "n_boot"), ({"n_boot": "10"}, "n_boot"),
    ({"level": 0.0}, "level"), ({"level": 1.0}, "level"), ({"level": 95}, "level"), ({"level": float("nan")}, "level"),
    ({"level": "high"}, "level"),
])
def test_bad_arguments_raise(kw, name):
    with pytest.raises(ValueError, match=name):
        bootstrap_ci([1.0, 2.0], **kw)
    with pytest.raises(ValueError, match=name):
        paired_difference({"a": 1.0}, {"a": 2.0}, **kw)
    with pytest.raises(ValueError, match=name):
        summarise({"NM": {"a": 1.0}}, **kw)


def test_bootstrap_ci_rejects_non_1d():
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci([[1.0, 2.0], [3.0, 4.0]])


def test_paired_difference_of_identical_scores_is_exactly_zero():
    a = {f"{i:03d}": float(v) for i, v in enumerate(_scores(40))}
    res = paired_difference(a, dict(a))
    assert res == {"mean": 0.0, "ci": [0.0, 0.0], "n": 40}


def test_paired_difference_uses_only_shared_finite_subjects():
    a = {"001": 10.0, "002": 20.0, "003": 30.0, "004": 50.0}
    b = {"002": 5.0, "003": 10.0, "004": float("nan"), "005": 99.0}
    res = paired_difference(a, b)
    assert res["n"] == 2
    assert res["mean"] == pytest.approx(17.5)  # (20 - 5 + 30 - 10) / 2
    assert 15.0 <= res["ci"][0] <= res["ci"][1] <= 20.0
    empty = paired_difference({"001": 1.0}, {"002": 1.0})
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and all(math.isnan(v) for v in empty["ci"])


def test_paired_difference_bootstraps_the_differences():
    x = _scores(60)
    a = {f"{i:03d}": float(v) for i, v in enumerate(x)}
    b = {k: v - 2.0 + 0.5 * np.sin(i) for i, (k, v) in enumerate(a.items())}  # b tracks a closely
    res = paired_difference(a, b, seed=7)
    diffs = [a[k] - b[k] for k in sorted(a)]
    assert res["ci"] == list(bootstrap_ci(diffs, seed=7))
    assert res["mean"] == pytest.approx(float(np.mean(diffs)))
    assert res["ci"][0] < res["mean"] < res["ci"][1]
    # pairing removes the spread between subjects: far tighter than either model's own interval
    lo, hi = bootstrap_ci(x, seed=7)
    assert res["ci"][1] - res["ci"][0] < 0.2 * (hi - lo)
    # the dicts' insertion order does not matter
    assert paired_difference(dict(reversed(a.items())), b, seed=7) == res


def test_summarise_per_condition():
    per_subject = {
        "NM": {"002": 90.0, "001": 80.0, "003": float("nan")},
        "CL": {"001": 40.0, "002": 60.0, "003": 50.0},
        "RC": {},
        "mean": {"001": 60.0, "002": 75.0, "003": 50.0},
    }
    out = summarise(per_subject, n_boot=500, seed=2)
    assert list(out["point"]) == ["NM", "CL", "RC", "mean"]
    assert out["point"]["NM"] == pytest.approx(85.0)
    assert out["point"]["CL"] == pytest.approx(50.0)
    assert out["point"]["mean"] == pytest.approx(185.0 / 3)
    assert math.isnan(out["point"]["RC"]) and all(math.isnan(v) for v in out["ci"]["RC"])
    for cond in ("NM", "CL", "mean"):
        assert out["ci"][cond] == list(bootstrap_ci(list(per_subject[cond].values()), n_boot=500, seed=2))
        assert out["ci"][cond][0] <= out["point"][cond] <= out["ci"][cond][1]
    shuffled = {c: dict(reversed(d.items())) for c, d in reversed(per_subject.items())}
    again = summarise(shuffled, n_boot=500, seed=2)
    assert all(again["ci"][c] == out["ci"][c] for c in ("NM", "CL", "mean"))
