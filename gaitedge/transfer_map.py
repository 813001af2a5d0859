"""``gaitedge transfer-map``: where does GaitEdge's cross-domain advantage appear, as segmenter transfer improves?

One study axis, the appearance diversity a segmenter sees in phase 1: the size of each domain's scene pool
(SynthGait's ``backgrounds``), whether phase 1 changes the colours of its training frames (``ColourAugment``), and at
the low end how many people it sees (``data.train.subjects``). With one scene per domain, no colour changes and a few
people a segmenter can learn its background and its domain's few outfits by heart; with a scene per sequence,
colour changes and every training subject it has to learn what a person looks like. A level is written ``k`` (k scenes
per domain) or ``all`` (a scene per sequence), then optionally ``:plain`` (phase 1 without colour changes) and
``:ids=N`` (phase 1 on its first N training subjects only; P and K of its batches are lowered and raised so a batch
holds at least as many sequences). Only phase 1 changes with ``:plain`` and ``:ids``; phase 2 and the two-step
models train as in the demo. Each level is a full :func:`gaitedge.study.run_study` of the ``demo`` experiment (the
``map`` preset: the demo's data and models without the ground-truth-mask variant) in ``OUT/pool-<k>[-plain][-idsN]``.
The map reports, per level, the segmenters' cross-domain mIoU and the cross-domain differences GaitEdge - GaitGL-E2E
and GaitEdge - GaitGL with their subject-bootstrap intervals, as ``OUT/results.json``, ``OUT/report.md`` and
``OUT/transfer_map.png``. ``resume`` continues a killed map: finished levels, training runs and evaluations are
reused.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from gaitedge.evaluation.report import machine_text
from gaitedge.study import DOMAINS, load_experiment, run_study
from gaitedge.training.config import load_config

__all__ = ["DEFAULT_LEVELS", "DIFFERENCES", "Level", "parse_levels", "phase1_overrides", "run_transfer_map",
           "map_rows", "map_markdown"]

log = logging.getLogger(__name__)


class Level(NamedTuple):
    """One point of the axis."""

    backgrounds: int | None  # scenes per domain; None: a scene per sequence
    colour_augment: bool = True  # phase 1 changes its training frames' colours
    subjects: int | None = None  # phase 1 trains on its first that many training subjects; None: all


DEFAULT_LEVELS: tuple[Level, ...] = (Level(1, False, 1), Level(1, False, 2), Level(1, False), Level(1, True),
                                     Level(4, True), Level(None, True))
PLAIN = ["data.train.colour_augment=null"]  # the Segmentation override of a ``:plain`` level
DIFFERENCES = ("GaitEdge - GaitGL-E2E, cross-domain, mean", "GaitEdge - GaitGL, cross-domain, mean")
EXPERIMENT, PRESET = "demo", "map"


def parse_levels(text: str) -> list[Level]:
    """``"1:plain:ids=2,1,all"`` → ``[Level(1, False, 2), Level(1, True, None), Level(None, True, None)]``;
    ValueError naming a bad entry."""
    levels: list[Level] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        pool, *flags = part.split(":")
        if pool == "all":
            k = None
        else:
            k = _count(pool, part, "neither a positive integer nor 'all'")
        augment, subjects = True, None
        for flag in flags:
            if flag == "plain" and augment:
                augment = False
            elif flag.startswith("ids=") and subjects is None:
                subjects = _count(flag[4:], part, "has an ':ids=' that is not a positive integer")
            else:
                raise ValueError(f"levels: {part!r}: the suffixes are ':plain' and ':ids=N', each at most once")
        levels.append(Level(k, augment, subjects))
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise ValueError(f"levels must name at least two distinct levels, got {text!r}")
    return levels


def _count(text: str, part: str, what: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise ValueError(f"levels: {part!r} {what}") from None
    if not 1 <= k <= 10**6:
        raise ValueError(f"levels: {k} is outside [1, 1000000]")
    return k


def level_text(level: Sequence) -> str:
    k, augment, subjects = Level(*level)
    return (("all" if k is None else str(k)) + ("" if augment else ":plain")
            + ("" if subjects is None else f":ids={subjects}"))


def _name(level: Sequence) -> str:
    k, augment, subjects = Level(*level)
    return (("pool-all" if k is None else f"pool-{k}") + ("" if augment else "-plain")
            + ("" if subjects is None else f"-ids{subjects}"))


def phase1_overrides(level: Sequence) -> list[str]:
    """The Segmentation config overrides of a level (none for a level that keeps phase 1 as shipped)."""
    _, augment, subjects = Level(*level)
    over = [] if augment else list(PLAIN)
    if subjects is not None:
        over.append(f"data.train.subjects={subjects}")
        train = load_config(load_experiment(EXPERIMENT, PRESET)["models"]["Segmentation"]["config"])["data"]["train"]
        P, K = int(train["P"]), int(train["K"])
        if subjects < P:  # fewer ids than a batch draws: fewer ids, more sequences each
            over += [f"data.train.P={subjects}", f"data.train.K={-(-P * K // subjects)}"]
    return over


def map_rows(per_level: Mapping[str, Mapping], levels: Sequence[Level]) -> list[dict]:
    """One row per level (``per_level`` in ``levels`` order): the level, segmenter mIoU own and cross (mean of both
    domains, and per domain), and each difference of :data:`DIFFERENCES` with its interval."""
    rows = []
    for (name, res), level in zip(per_level.items(), levels):
        k, augment, subjects = Level(*level)
        seg = res["segmenter"]
        row = {"level": name, "text": level_text(level), "backgrounds": k, "colour_augment": augment,
               "phase1_subjects": subjects,
               "miou_own": round(statistics.fmean(seg[d]["miou"] for d in DOMAINS), 2),
               "miou_cross": round(statistics.fmean(seg[d]["miou_cross"] for d in DOMAINS), 2),
               "miou_cross_per_domain": {d: seg[d]["miou_cross"] for d in DOMAINS}}
        for key in DIFFERENCES:
            r = res["differences"].get(key)
            row[key] = None if r is None else {"mean": round(r["mean"], 2), "ci": [round(v, 2) for v in r["ci"]]}
        rows.append(row)
    return rows


def map_markdown(res: Mapping) -> str:
    env = res["environment"]
    md = ["# gaitedge transfer-map: where GaitEdge's cross-domain advantage appears", "",
          f"Command: `{res['command']}`. Seed {res['seed']}; {env['device']} ({machine_text(env)}); "
          f"{res['seconds'] / 60:.0f} min of compute over all levels.", "",
          "Axis: appearance diversity seen in phase 1: scenes per domain (`backgrounds`, shared by train and test "
          "subjects; `all` = a new scene for every sequence), `:plain` = phase 1 without its colour changes "
          "(`data.train.colour_augment`), and `:ids=N` = phase 1 on its first N training subjects only "
          "(`data.train.subjects`; phase 2 and GaitGL still train on all of them). Each level is the demo's study "
          "(same data size, shipped configs and training) on that world. mIoU is the phase-1 segmenters' (mean of "
          "the two domains); differences are mean rank-1 over NM/BG/CL in percentage points, both cross-domain "
          "cells pooled, with 95 % bootstrap intervals over test subjects (one seed: training variance is not "
          "included).", "",
          "| level | segmenter mIoU own | cross-domain | " + " | ".join(DIFFERENCES) + " |",
          "|---|---|---|" + "---|" * len(DIFFERENCES)]
    for row in res["rows"]:
        cells = []
        for key in DIFFERENCES:
            r = row[key]
            cells.append("-" if r is None else f"{r['mean']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}]")
        md.append(f"| {row['text']} | {row['miou_own']:.1f} | {row['miou_cross']:.1f} | "
                  + " | ".join(cells) + " |")
    md += ["", "Per-level reports (matrix, segmenters, geometric control) are in "
               "`pool-<k>[-plain][-idsN]/report.md`.", ""]
    return "\n".join(md)


def _plot(rows: Sequence[Mapping], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed: no transfer-map figure")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = sorted(rows, key=lambda r: r["miou_cross"])  # lines run along the x axis, whatever the level order
    for j, key in enumerate(DIFFERENCES):
        xs, ys, lo, hi = [], [], [], []
        for row in rows:
            if row[key] is None:
                continue
            xs.append(row["miou_cross"] + (j - 0.5) * 0.3)  # side by side where levels meet
            ys.append(row[key]["mean"])
            lo.append(row[key]["mean"] - row[key]["ci"][0])
            hi.append(row[key]["ci"][1] - row[key]["mean"])
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=key.split(",")[0])
    ax.margins(y=0.25)  # room at the top for the level names
    for i, row in enumerate(rows):  # level names along the top, neighbours on alternate lines: close ones stay legible
        ax.axvline(row["miou_cross"], color="grey", lw=0.5, ls=":")
        ax.annotate(row["text"], (row["miou_cross"], 1.0), xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(0, -4 - 10 * (i % 2)), ha="center", va="top", fontsize=8,
                    color="grey")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("segmenter cross-domain mIoU (%); dotted: a level, named at the top")
    ax.set_ylabel("cross-domain rank-1 difference (pp)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_transfer_map(out: str | Path, levels: Sequence[Level] = DEFAULT_LEVELS, seed: int = 0,
                     resume: bool = False, threads: int | None = None, device: str = "cpu") -> dict:
    """Run every level into ``out/pool-<k>`` and write the map (``results.json``, ``report.md``, the figure)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} is not empty; choose another --out, or pass --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    per_level: dict[str, dict] = {}
    levels = [Level(*v) for v in levels]  # plain tuples too: (scenes, colour changes[, subjects])
    for level in levels:
        name = _name(level)
        done = out / name / "results.json"
        if resume and done.is_file():
            log.info("%s: reusing %s", name, done)
            per_level[name] = json.loads(done.read_text())
            continue
        log.info("%s: running into %s", name, out / name)
        over = phase1_overrides(level)
        per_level[name] = run_study(out / name, EXPERIMENT, PRESET, seed=seed, resume=resume, threads=threads,
                                    device=device, data={"backgrounds": level.backgrounds},
                                    overrides={"Segmentation": over} if over else None)
    first = next(iter(per_level.values()))
    texts = [level_text(v) for v in levels]
    res = {"rows": map_rows(per_level, levels), "seed": int(seed), "levels": texts, "experiment": EXPERIMENT,
           "preset": PRESET, "data": {k: v for k, v in first["data"].items() if k not in ("backgrounds", "overrides")},
           "seconds": round(sum(r["seconds"] for r in per_level.values()), 1), "environment": first["environment"],
           "command": f"gaitedge transfer-map --out {out} --levels {','.join(texts)} --seed {seed}"
                      + (f" --threads {threads}" if threads else "")
                      + (f" --device {device}" if device != "cpu" else "")}
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "report.md").write_text(map_markdown(res))
    _plot(res["rows"], out / "transfer_map.png")
    return res
