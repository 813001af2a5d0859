"""Subject-level uncertainty for protocol scores: percentile-bootstrap confidence intervals and paired differences.

The unit of resampling is the subject: :func:`~gaitedge.evaluation.protocols.casia_b_protocol` returns one score per
subject and condition (``res["per_subject"]``), and a benchmark's score is (in a balanced design) the mean of those.
Resampling subjects with replacement gives an interval for that mean that reflects how much it depends on which
people happened to be in the test set. Comparing two models on the same subjects, :func:`paired_difference`
bootstraps the per-subject differences, which is much tighter than comparing two independent intervals.

Everything is deterministic for a given ``seed``: values are sorted (and subjects ordered by id) before resampling,
so neither the order of a sequence nor the order of a dict changes the result.
"""

from __future__ import annotations

import logging
import math
import operator
from typing import Mapping, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "paired_difference", "summarise"]

logger = logging.getLogger(__name__)


def _check_args(n_boot: int, level: float) -> int:
    try:
        n = operator.index(n_boot)
    except TypeError:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}") from None
    if n < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number with 0 < level < 1, got {level!r}") from None
    if not 0.0 < lv < 1.0:  # also rejects NaN
        raise ValueError(f"level must be a number with 0 < level < 1, got {level!r}")
    return n


def _finite_sorted(values: Sequence[float], name: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of per-subject scores, got shape {x.shape}")
    return np.sort(x[np.isfinite(x)])  # [n]


def _centred_mean(x: np.ndarray) -> float:
    """Mean of a non-empty array, taken around its first value: exact when all values are equal."""
    return float(x[0] + np.mean(x - x[0]))


def _bootstrap(x: np.ndarray, n_boot: int, seed, level: float) -> tuple[float, float]:
    """Percentile interval of the mean of ``x`` (finite, sorted, 1-D) over ``n_boot`` resamples of its entries."""
    if x.size == 0:
        return float("nan"), float("nan")
    ref = x[0]
    dev = x - ref  # [n]; all zeros when the values are equal, so the interval is then exactly (v, v)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))  # [n_boot, n]: subjects drawn with replacement
    means = ref + dev[idx].mean(axis=1)  # [n_boot]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, seed=0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of per-subject scores.

    Subjects are resampled with replacement ``n_boot`` times (one ``[n_boot, n]`` index matrix drawn from
    ``np.random.default_rng(seed)``); the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
    the resampled means.

    Args:
        values: 1-D per-subject scores; NaN and infinite entries are dropped. Their order does not matter.
        n_boot: number of resamples, ``>= 1``.
        seed: seed for ``np.random.default_rng``.
        level: coverage, ``0 < level < 1``.

    Returns:
        ``(lo, hi)``: ``(nan, nan)`` when no finite value is left; ``(v, v)`` when every value is ``v`` (one value
        included).
    """
    n_boot = _check_args(n_boot, level)
    return _bootstrap(_finite_sorted(values), n_boot, seed, float(level))


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], n_boot: int = 2000, seed=0,
                      level: float = 0.95) -> dict:
    """Mean per-subject difference ``a - b`` with a subject-level bootstrap interval.

    Only subjects present in both mappings with finite scores in both are used; the same resample of subjects is
    applied to both models, i.e. the per-subject differences are bootstrapped.

    Args:
        a, b: ``{subject_id: score}``, e.g. ``res["per_subject"]["CL"]`` of two models on the same test set.
        n_boot, seed, level: as in :func:`bootstrap_ci`.

    Returns:
        dict: ``{"mean": float, "ci": [lo, hi], "n": int}`` (``n`` subjects used; NaNs when ``n == 0``).
    """
    n_boot = _check_args(n_boot, level)
    a_s = {str(k): float(v) for k, v in a.items()}
    b_s = {str(k): float(v) for k, v in b.items()}
    shared = sorted(set(a_s) & set(b_s))
    diffs = [a_s[s] - b_s[s] for s in shared if math.isfinite(a_s[s]) and math.isfinite(b_s[s])]
    dropped = len(set(a_s) | set(b_s)) - len(diffs)
    if dropped:
        logger.debug("paired_difference: %d subjects not scored (finitely) in both, %d used", dropped, len(diffs))
    d = np.sort(np.asarray(diffs, dtype=np.float64))  # [n]
    if d.size == 0:
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n": 0}
    lo, hi = _bootstrap(d, n_boot, seed, float(level))
    return {"mean": _centred_mean(d), "ci": [lo, hi], "n": int(d.size)}


def summarise(per_subject: Mapping[str, Mapping[str, float]], n_boot: int = 2000, seed=0,
              level: float = 0.95) -> dict:
    """Mean over subjects and its bootstrap interval for every condition of a ``per_subject`` table.

    Args:
        per_subject: ``{condition: {subject_id: score}}``, e.g. ``casia_b_protocol(...)["per_subject"]`` (its
            ``"mean"`` key is treated like any other condition).
        n_boot, seed, level: as in :func:`bootstrap_ci`; every condition uses the same seed.

    Returns:
        dict: ``{"point": {cond: mean}, "ci": {cond: [lo, hi]}}`` (NaN for a condition without finite scores).
    """
    n_boot = _check_args(n_boot, level)
    point: dict[str, float] = {}
    ci: dict[str, list[float]] = {}
    for cond, scores in per_subject.items():
        x = _finite_sorted([scores[s] for s in sorted(scores, key=str)], name=f"per_subject[{cond!r}]")
        point[cond] = _centred_mean(x) if x.size else float("nan")
        ci[cond] = list(_bootstrap(x, n_boot, seed, float(level)))
    return {"point": point, "ci": ci}
