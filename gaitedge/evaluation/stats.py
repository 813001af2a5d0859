"""Subject-level uncertainty for protocol scores: percentile-bootstrap confidence intervals and paired differences.

The unit of resampling is the subject: :func:`~gaitedge.evaluation.protocols.casia_b_protocol` returns one score per
subject and condition (``res["per_subject"]``), and a benchmark's score is (in a balanced design) the mean of those.
Resampling subjects with replacement gives an interval for that mean that reflects how much it depends on which
people happened to be in the test set. Comparing two models on the same subjects, :func:`paired_difference`
bootstraps the per-subject differences, which is much tighter than comparing two independent intervals.

A subject-level interval says nothing about training: another seed trains other models (and, on SynthGait, renders
other people). :func:`hierarchical_bootstrap` and :func:`paired_hierarchical_difference` take per-subject scores of
several training seeds and resample at both levels, seeds first and then subjects within each drawn seed, so their
interval covers both the training run and the test population.

Everything is deterministic for a given ``seed``: values are sorted (and subjects ordered by id) before resampling,
so neither the order of a sequence nor the order of a dict changes the result.
"""

from __future__ import annotations

import logging
import math
import operator
from typing import Mapping, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "paired_difference", "summarise", "hierarchical_bootstrap", "paired_hierarchical_difference"]

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


def _per_seed_arrays(per_seed: Mapping[object, np.ndarray]) -> list[np.ndarray]:
    """The non-empty per-seed arrays, seeds ordered by ``str(seed)`` (so a dict's order does not matter)."""
    out = []
    for s in sorted(per_seed, key=str):
        if per_seed[s].size:
            out.append(per_seed[s])
        else:
            logger.debug("seed %r has no finite score and is left out of the seed-level resample", s)
    return out


def _hierarchical(xs: list[np.ndarray], n_boot: int, seed, level: float) -> dict:
    """Mean over seeds of each seed's mean, with the percentile interval of a two-level resample.

    ``xs``: per seed, its finite scores sorted (non-empty). Each replicate draws ``len(xs)`` seeds with replacement,
    then, within each drawn seed, as many subjects as it has, with replacement; the replicate's statistic is the
    mean over the drawn seeds of their resampled means (every seed weighs the same, whatever its subject count).
    """
    n_seeds = len(xs)
    if n_seeds == 0:
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n_seeds": 0, "n": 0}
    counts = np.array([x.size for x in xs])  # [S]
    ref = min(float(x[0]) for x in xs)  # deviations from it are all 0 when every value is equal: exact intervals
    pad = np.zeros((n_seeds, int(counts.max())))  # [S, n_max]; seed k's deviations in its first counts[k] slots
    for k, x in enumerate(xs):
        pad[k, :x.size] = x - ref
    seed_means = np.array([float(np.mean(x - ref)) for x in xs])  # [S]
    rng = np.random.default_rng(seed)
    if n_seeds == 1:  # nothing to resample at the seed level: the same draws as bootstrap_ci
        pick = np.zeros((n_boot, 1), dtype=np.int64)  # [n_boot, 1]
        idx = rng.integers(0, counts[0], size=(n_boot, 1, counts[0]))  # [n_boot, 1, n]
    else:
        pick = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # [n_boot, S]: seeds drawn with replacement
        # [n_boot, S, n_max]: subjects drawn with replacement within each drawn seed (slots past its count unused)
        idx = rng.integers(0, counts[pick][:, :, None], size=(n_boot, n_seeds, pad.shape[1]))
    used = np.arange(pad.shape[1]) < counts[pick][:, :, None]  # [n_boot, S, n_max]
    sums = np.where(used, pad[pick[:, :, None], idx], 0.0).sum(axis=2)  # [n_boot, S]
    means = ref + (sums / counts[pick]).mean(axis=1)  # [n_boot]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": ref + float(np.mean(seed_means)), "ci": [float(lo), float(hi)], "n_seeds": n_seeds,
            "n": int(counts.sum())}


def _check_nested(values, name: str) -> Mapping:
    if not isinstance(values, Mapping):
        raise ValueError(f"{name} must be a mapping {{seed: {{subject_id: score}}}}, got {type(values).__name__}")
    for s, scores in values.items():
        if not isinstance(scores, Mapping):
            raise ValueError(f"{name}[{s!r}] must be a mapping {{subject_id: score}}, got {type(scores).__name__}")
    return values


def _scores(scores: Mapping, name: str) -> dict[str, float]:
    out = {}
    for k, v in scores.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{k!r}] must be a number, got {v!r}") from None
    return out


def hierarchical_bootstrap(values: Mapping[object, Mapping[str, float]], n_boot: int = 2000, seed=0,
                           level: float = 0.95) -> dict:
    """Mean over training seeds of per-subject scores, with a two-level percentile-bootstrap interval.

    Each of ``n_boot`` replicates resamples the training seeds with replacement, then the subjects of each drawn
    seed with replacement, and takes the mean over drawn seeds of their subject means. The interval therefore
    covers both sources of variance: the training run (initialisation, data order; on SynthGait also the rendered
    world, whose test people differ between seeds, which is why subjects are resampled within a seed rather than
    jointly) and the test population. With few seeds the seed level is coarse: three seeds give only ten distinct
    seed multisets, so the interval's seed part is a rough estimate, and it cannot reflect training variance larger
    than the seeds happened to show. With one seed it is exactly :func:`bootstrap_ci` (same draws).

    Vectorised: one ``[n_boot, seeds, max subjects]`` gather, drawn from ``np.random.default_rng(seed)``.

    Args:
        values: ``{training_seed: {subject_id: score}}``. Non-finite scores are dropped, and a seed left without
            any is left out. Seeds are ordered by ``str(seed)`` and each seed's scores are sorted, so no dict order
            changes the result.
        n_boot, seed, level: as in :func:`bootstrap_ci` (``seed`` seeds the bootstrap, not training).

    Returns:
        dict: ``{"mean", "ci": [lo, hi], "n_seeds", "n"}``: every seed weighs the same in ``mean``; ``n`` is the
        number of scores used over all seeds. NaNs (and zero counts) when no finite score is left.
    """
    n_boot = _check_args(n_boot, level)
    values = _check_nested(values, "values")
    per_seed = {s: _finite_sorted(list(_scores(v, f"values[{s!r}]").values()), name=f"values[{s!r}]")
                for s, v in values.items()}
    return _hierarchical(_per_seed_arrays(per_seed), n_boot, seed, float(level))


def paired_hierarchical_difference(a: Mapping[object, Mapping[str, float]], b: Mapping[object, Mapping[str, float]],
                                   n_boot: int = 2000, seed=0, level: float = 0.95) -> dict:
    """Mean per-subject difference ``a - b`` over training seeds, with a two-level bootstrap interval.

    Within each seed the per-subject differences are formed first (subjects present in both with finite scores),
    so the same resample of seeds and subjects applies to both models; the differences are then resampled as in
    :func:`hierarchical_bootstrap`, whose notes on what the interval covers (and on few seeds) apply. With one seed
    it is exactly :func:`paired_difference`.

    Args:
        a, b: ``{training_seed: {subject_id: score}}`` of two models; only seeds in both are used.
        n_boot, seed, level: as in :func:`bootstrap_ci`.

    Returns:
        dict: ``{"mean", "ci": [lo, hi], "n_seeds", "n"}`` as in :func:`hierarchical_bootstrap` (``n``: paired
        subjects over all seeds).
    """
    n_boot = _check_args(n_boot, level)
    a, b = _check_nested(a, "a"), _check_nested(b, "b")
    a_k, b_k = {str(s): s for s in a}, {str(s): s for s in b}
    if set(a_k) ^ set(b_k):
        logger.debug("paired_hierarchical_difference: seeds %s are not in both", sorted(set(a_k) ^ set(b_k)))
    per_seed = {}
    for s in set(a_k) & set(b_k):
        a_s = _scores(a[a_k[s]], f"a[{a_k[s]!r}]")
        b_s = _scores(b[b_k[s]], f"b[{b_k[s]!r}]")
        shared = sorted(set(a_s) & set(b_s))
        diffs = [a_s[i] - b_s[i] for i in shared if math.isfinite(a_s[i]) and math.isfinite(b_s[i])]
        per_seed[s] = np.sort(np.asarray(diffs, dtype=np.float64))  # [n_s]
    return _hierarchical(_per_seed_arrays(per_seed), n_boot, seed, float(level))
