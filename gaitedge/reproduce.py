"""``gaitedge reproduce``: the cross-domain study at paper shape, over several seeds, resumable, with one combined
report.

Each seed is a full :func:`gaitedge.study.run_study` in ``OUT/seed-N``; the combined ``OUT/results.json`` holds every
seed's results and, per cell and per difference, the mean and standard deviation over seeds. The paired differences
and the summary quantities also get a 95 % interval over seeds and test subjects together
(:func:`~gaitedge.evaluation.stats.hierarchical_bootstrap`), from each seed's per-subject scores. ``--resume`` reuses
finished seeds, training runs and evaluations, so a killed run continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Mapping, Sequence

from gaitedge.evaluation.report import machine_text, matrix_markdown
from gaitedge.evaluation.stats import hierarchical_bootstrap, paired_hierarchical_difference
from gaitedge.study import BOOT_SEED, CROSS_DOMAIN, DOMAINS, IN_DOMAIN, N_BOOT, _pooled, differences, run_study

__all__ = ["run_reproduce", "combine_seeds", "per_subject_from_evals", "seed_subject_intervals"]

log = logging.getLogger(__name__)


def _mean_sd(values: Sequence[float]) -> list[float]:
    vals = [float(v) for v in values if v == v]
    if not vals:
        return [float("nan"), float("nan")]
    return [round(statistics.fmean(vals), 2), round(statistics.stdev(vals), 2) if len(vals) > 1 else 0.0]


def _summary(per_seed: Mapping[int, Mapping], seeds: Sequence[int]) -> dict:
    """Per model, ``[mean, sd]`` over seeds of the mean rank-1 averaged over the two training domains, in-domain
    and cross-domain, and of its NM - RC gaps: the four numbers the claim is about."""
    def avg(m, cells, s):
        return statistics.fmean(per_seed[s]["matrix"][m][tr][te]["mean"] for tr, te in cells)

    def gap(m, kind, s):
        return per_seed[s]["differences"].get(f"{m}, NM - RC, {kind}", {}).get("mean", float("nan"))

    return {m: {"in_domain": _mean_sd([avg(m, IN_DOMAIN, s) for s in seeds]),
                "cross_domain": _mean_sd([avg(m, CROSS_DOMAIN, s) for s in seeds]),
                "nm_rc_in_domain": _mean_sd([gap(m, "in-domain", s) for s in seeds]),
                "nm_rc_cross_domain": _mean_sd([gap(m, "cross-domain", s) for s in seeds])}
            for m in per_seed[seeds[0]]["matrix"]}


def per_subject_from_evals(seed_dir: str | Path, models: Sequence[str]) -> dict | None:
    """A seed's per-subject table (``{model: {train: {test: {cond: {id: score}}}}}``, as ``results.json``'s
    ``per_subject``) read from ``seed_dir/evals/rec-<model>-<train>-<test>.json``; None, with a warning naming the
    file, when one is missing or unreadable."""
    table: dict = {}
    for m in models:
        for tr in DOMAINS:
            for te in DOMAINS:
                path = Path(seed_dir) / "evals" / f"rec-{m}-{tr}-{te}.json"
                try:
                    scores = json.loads(path.read_text())["per_subject"]
                    if not isinstance(scores, dict):
                        raise TypeError("per_subject is not a mapping")
                except (OSError, ValueError, KeyError, TypeError) as e:
                    log.warning("no per-subject scores in %s (%s): no intervals over seeds and subjects",
                                path, type(e).__name__)
                    return None
                table.setdefault(m, {}).setdefault(tr, {})[te] = scores
    return table


def _as_full(table: Mapping) -> dict:
    """A per-subject table in the nesting ``gaitedge.study`` pools from (``full[m][tr][te]["per_subject"]``)."""
    return {m: {tr: {te: {"per_subject": cell} for te, cell in row.items()} for tr, row in rows.items()}
            for m, rows in table.items()}


def seed_subject_intervals(per_seed: Mapping[int, Mapping], seeds: Sequence[int]) -> dict | None:
    """``{"differences_ci", "summary_ci", "bootstrap"}``: 95 % intervals over seeds and test subjects together.

    ``differences_ci`` has every key of the seeds' ``differences`` (pooled exactly as
    :func:`gaitedge.study.differences` pools them), ``summary_ci`` the quantities of ``summary`` per model (mean
    rank-1 in-domain and cross-domain, from the pooled per-subject ``mean`` scores of the two cells; NM - RC gaps).
    Each entry is ``{"mean", "ci", "n_seeds", "n"}`` (``mean``: over seeds, of each seed's subject mean). None when
    a seed lacks ``per_subject``.
    """
    missing = [s for s in seeds if not isinstance(per_seed[s].get("per_subject"), Mapping)]
    if missing:
        log.warning("seeds %s have no per-subject scores: no intervals over seeds and subjects", missing)
        return None
    models = list(per_seed[seeds[0]]["matrix"])
    full = {s: _as_full(per_seed[s]["per_subject"]) for s in seeds}

    def pairs(s):  # {key: {"a", "b", "what"}}: the two per-subject mappings each difference compares
        return differences(full[s], models, compare=lambda a, b: {"a": a, "b": b})

    per_key = {s: pairs(s) for s in seeds}
    diffs = {}
    for key in per_seed[seeds[0]]["differences"]:
        if all(key in per_key[s] for s in seeds):
            r = paired_hierarchical_difference({s: per_key[s][key]["a"] for s in seeds},
                                               {s: per_key[s][key]["b"] for s in seeds}, n_boot=N_BOOT, seed=BOOT_SEED)
            diffs[key] = dict(r, what=per_key[seeds[0]][key]["what"])
        else:
            log.warning("difference %r is not computable from every seed's per-subject scores", key)
    summary = {}
    for m in models:
        summary[m] = {name: hierarchical_bootstrap({s: _pooled(full[s], m, cells, "mean") for s in seeds},
                                                   n_boot=N_BOOT, seed=BOOT_SEED)
                      for name, cells in (("in_domain", IN_DOMAIN), ("cross_domain", CROSS_DOMAIN))}
        for name, label in (("nm_rc_in_domain", "in-domain"), ("nm_rc_cross_domain", "cross-domain")):
            if f"{m}, NM - RC, {label}" in diffs:
                summary[m][name] = {k: v for k, v in diffs[f"{m}, NM - RC, {label}"].items() if k != "what"}
    return {"differences_ci": diffs, "summary_ci": summary,
            "bootstrap": {"n_boot": N_BOOT, "seed": BOOT_SEED, "level": 0.95,
                          "unit": "training seed, then test subject within each drawn seed"}}


def combine_seeds(per_seed: Mapping[int, Mapping]) -> dict:
    """``{"seeds", "summary", "matrix_mean_sd", "differences_mean_sd", "segmenter", "colour_baseline", "per_seed"}``
    from several seeds' ``results.json`` dicts; every ``[mean, sd]`` pair is over seeds. ``summary``: per model,
    mean rank-1 averaged over the training domains (``in_domain``, ``cross_domain``) and the NM - RC gaps. When
    every seed holds ``per_subject``, also :func:`seed_subject_intervals`' ``differences_ci``, ``summary_ci`` and
    ``bootstrap``."""
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]
    matrix = {m: {tr: {te: {c: _mean_sd([per_seed[s]["matrix"][m][tr][te][c] for s in seeds])
                            for c in first["matrix"][m][tr][te]} for te in DOMAINS} for tr in DOMAINS}
              for m in first["matrix"]}
    diffs = {k: _mean_sd([per_seed[s]["differences"][k]["mean"] for s in seeds]) for k in first["differences"]}
    seg = {d: {k: _mean_sd([per_seed[s]["segmenter"][d][k] for s in seeds]) for k, v in first["segmenter"][d].items()
               if isinstance(v, (int, float)) and all(k in per_seed[s]["segmenter"][d] for s in seeds)}
           for d in DOMAINS}
    colour = {d: {k: _mean_sd([per_seed[s]["colour_baseline"][d][k] for s in seeds])
                  for k in first["colour_baseline"][d]} for d in DOMAINS}
    out = {"seeds": seeds, "summary": _summary(per_seed, seeds), "matrix_mean_sd": matrix,
           "differences_mean_sd": diffs, "segmenter": seg, "colour_baseline": colour,
           "seconds": round(sum(per_seed[s]["seconds"] for s in seeds), 1),
           "environment": first["environment"], "experiment": first["experiment"], "preset": first["preset"],
           "data": first["data"], "per_seed": {str(s): per_seed[s] for s in seeds}}
    out.update(seed_subject_intervals(per_seed, seeds) or {})
    return out


def _interval_text(r: Mapping | None) -> str:
    if r is None or r["mean"] != r["mean"]:
        return "-"
    return f"{r['mean']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]"


def _both_levels_text(res: Mapping) -> str:
    n = len(res["seeds"])
    return (f"Each interval over seeds and subjects resamples the {n} seeds with replacement, then the test subjects "
            f"within each drawn seed ({res['bootstrap']['n_boot']} resamples): it includes training variance (each "
            "seed trains every model afresh, on its own rendering of SynthGait with its own people) as well as which "
            "test subjects were drawn. "
            + (f"With {n} seeds the seed level is coarse, so these intervals are rough; " if n > 1 else
               "With one seed there is no seed level to resample, so these are the subject intervals; ")
            + "the per-seed intervals cover test subjects only.")


def combined_markdown(res: Mapping, command: str) -> str:
    seeds = res["seeds"]
    env = res["environment"]
    mean = {m: {tr: {te: {c: v[0] for c, v in cell.items()} for te, cell in row.items()} for tr, row in rows.items()}
            for m, rows in res["matrix_mean_sd"].items()}
    conds = [c for c in ("NM", "BG", "CL", "RC", "mean") if c in mean[next(iter(mean))][DOMAINS[0]][DOMAINS[0]]]
    d = res["data"]
    md = [f"# gaitedge reproduce: GaitEdge's cross-domain claim on SynthGait (`{res['preset']}`, seeds {seeds})", "",
          f"Command: `{command}`. Device {env['device']} ({machine_text(env)}); {res['seconds'] / 3600:.1f} h of "
          "compute over all seeds.",
          f"SynthGait per domain: {d['subjects']} subjects ({d['test_subjects']} test), views {d['views']}, "
          f"{d['frames']} frames of {d['size']}x{d['size']}.", "",
          "## Summary: mean ± sd over seeds", "",
          "Mean rank-1 (%) over NM/BG/CL, averaged over the two training domains; NM - RC is the drop when only the "
          "clothes change (percentage points).", "",
          "| model | in-domain | cross-domain | NM - RC in-domain | NM - RC cross-domain |", "|---|---|---|---|---|"]
    for m, r in res["summary"].items():
        cells = (r["in_domain"], r["cross_domain"], r["nm_rc_in_domain"], r["nm_rc_cross_domain"])
        md.append(f"| {m} | " + " | ".join(f"{v[0]:.1f} ± {v[1]:.1f}" for v in cells) + " |")
    both = res.get("differences_ci")
    if both is not None:
        md += ["", "## Summary: 95 % intervals over seeds and test subjects", "", _both_levels_text(res), "",
               "| model | in-domain | cross-domain | NM - RC in-domain | NM - RC cross-domain |",
               "|---|---|---|---|---|"]
        for m, r in res["summary_ci"].items():
            md.append(f"| {m} | " + " | ".join(_interval_text(r.get(k)) for k in
                                                ("in_domain", "cross_domain", "nm_rc_in_domain", "nm_rc_cross_domain"))
                      + " |")
    md += ["", "## Rank-1 (%), mean over seeds", "", matrix_markdown(mean, DOMAINS, conds), "",
           "Per-seed reports, with 95 % intervals over test subjects, are in `seed-N/report.md`.", "",
           "## Paired differences (percentage points): mean ± sd over seeds, "
           + ("the 95 % interval over seeds and subjects, " if both is not None else "") + "and each seed's 95 % "
           "interval over its test subjects", ""]
    md.append(_both_levels_text(res) if both is not None else
              "No interval over seeds and subjects: it needs every seed's per-subject scores (`per_subject` in its "
              "`results.json`, or its `evals/`), which some seed lacks.")
    md += ["", "| difference | mean ± sd | " + ("seeds + subjects 95 % | " if both is not None else "")
           + " | ".join(f"seed {s}" for s in seeds) + " |",
           "|---|---|" + ("---|" if both is not None else "") + "---|" * len(seeds)]
    for k, (m, sd) in res["differences_mean_sd"].items():
        cells = [_interval_text(both.get(k))] if both is not None else []
        for s in seeds:
            r = res["per_seed"][str(s)]["differences"][k]
            cells.append(f"{r['mean']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]")
        md.append(f"| {k} | {m:.1f} ± {sd:.1f} | " + " | ".join(cells) + " |")
    targets = {s: res["per_seed"][str(s)].get("targets") for s in seeds}
    if all(targets.values()):
        md += ["", "## Requirements on the world, per seed", "", "| requirement | goal | " +
               " | ".join(f"seed {s}" for s in seeds) + " |", "|---|---|" + "---|" * len(seeds)]
        for i, t in enumerate(targets[seeds[0]]):
            md.append(f"| {t['what']} | {t['goal']} | " + " | ".join(
                f"{targets[s][i]['value']:.1f}" + ("" if targets[s][i]["met"] else " (**not met**)") for s in seeds)
                      + " |")
    md += ["", "## Segmenters and colour baseline (mean ± sd over seeds)", "",
           "| domain | test mIoU | mIoU on the other domain | all-foreground | colour-NN NM rank-1 |", "|---|---|---|---|---|"]
    for dom in DOMAINS:
        s = res["segmenter"][dom]
        c = res["colour_baseline"][dom]["NM"]
        md.append(f"| {dom} | {s['miou'][0]:.1f} ± {s['miou'][1]:.1f} | {s['miou_cross'][0]:.1f} ± "
                  f"{s['miou_cross'][1]:.1f} | {s['all_foreground'][0]:.1f} | {c[0]:.1f} ± {c[1]:.1f} |")
    return "\n".join(md) + "\n"


def run_reproduce(out: str | Path, preset: str = "cpu", seeds: Sequence[int] = (0, 1, 2), resume: bool = False,
                  threads: int | None = None, device: str = "cpu") -> dict:
    """Run the ``reproduce`` experiment for every seed into ``out/seed-N`` and write the combined results."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} is not empty; choose another --out, or pass --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    per_seed = {}
    for s in seeds:
        seed_dir = out / f"seed-{s}"
        done = seed_dir / "results.json"
        if resume and done.is_file():
            log.info("seed %d: reusing %s", s, done)
            per_seed[s] = json.loads(done.read_text())
            continue
        log.info("seed %d: running into %s", s, seed_dir)
        per_seed[s] = run_study(seed_dir, "reproduce", preset, seed=s, resume=resume, threads=threads,
                                device=device)
    for s in seeds:  # seeds run before results.json held per-subject scores still have them in evals/
        if "per_subject" not in per_seed[s]:
            table = per_subject_from_evals(out / f"seed-{s}", list(per_seed[s]["matrix"]))
            if table is not None:
                per_seed[s] = dict(per_seed[s], per_subject=table)
    res = combine_seeds(per_seed)
    command = (f"gaitedge reproduce --out {out} --preset {preset} --seeds {','.join(map(str, seeds))}"
               + (f" --threads {threads}" if threads else "") + (f" --device {device}" if device != "cpu" else ""))
    res["command"] = command
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "report.md").write_text(combined_markdown(res, command))
    return res
