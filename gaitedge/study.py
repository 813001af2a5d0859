"""The cross-domain study behind ``gaitedge demo`` and ``gaitedge reproduce`` (the paper's Table 2 on SynthGait).

For each domain (``indoor``: CASIA-B-like, ``outdoor``: TTG-200-like) the study renders SynthGait, trains phase 1
(the U-Net segmenter; the silhouette recognisers, which are also the two-step baselines), then phase 2 (GaitGL-E2E,
GaitEdge and its variants, initialised from phase 1), and evaluates every model on the test split of both domains
with the CASIA-B protocol (gallery NM#01-04; probes NM#05-06, BG#01-02, CL#01-02 and the recolour probes RC#01-02;
identical views excluded). It also measures the segmenters (mIoU on both domains, beside the all-foreground score)
and a colour-only nearest-neighbour baseline, and bootstraps 95 % intervals over test subjects for every cell and
for the paired differences the paper's claim rests on.

What runs is described by an experiment file (``gaitedge/configs/experiments/*.yaml``): which models, from which
shipped configs, with which overrides, on how much data. The configs stay the one source of truth; this module only
wires runs together and writes ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from gaitedge._system import cpu_model
from gaitedge.data import build_dataset, build_test_loader
from gaitedge.evaluation.colour_baseline import colour_baseline
from gaitedge.evaluation.report import image_grid, plot_per_view, study_markdown
from gaitedge.evaluation.segmenter_predictions import SegmenterPredictions, predict_segmenter, same_weights
from gaitedge.evaluation.stats import bootstrap_ci, paired_difference
from gaitedge.experiment import (evaluate_model, load_trained_model, run_block_cache, train_from_config,
                                 visualise_inputs)
from gaitedge.models.gaitedge import FrozenSegmenter
from gaitedge.training.config import CONFIG_DIR, ConfigError, apply_overrides, load_config, read_yaml_file

__all__ = ["DOMAINS", "IN_DOMAIN", "CROSS_DOMAIN", "EXPERIMENT_DIR", "load_experiment", "synth_spec", "study_configs",
           "run_study", "differences", "per_subject_table", "time_split", "control_set", "geometric_split",
           "world_targets"]

log = logging.getLogger(__name__)

DOMAINS = ("indoor", "outdoor")
EXPERIMENT_DIR = CONFIG_DIR / "experiments"
MATRIX_CONDITIONS = ("NM", "BG", "CL", "RC", "mean")
N_BOOT = 2000
BOOT_SEED = 0  # the bootstrap's own seed: fixed, so intervals differ between runs only through the data and models
_TRAIN_TYPES = ("nm", "bg", "cl")  # RC probes exist to measure leakage; no model ever trains on them
_SEQUENCES = {"nm": 6, "bg": 2, "cl": 2, "rc": 2}  # sequences per condition and view, as CASIA-B (plus RC)


def load_experiment(name: str, preset: str) -> dict:
    """The ``preset`` of experiment file ``name`` (``demo``, ``reproduce`` or a path), with its ``models`` table."""
    path = Path(name) if Path(name).is_file() else EXPERIMENT_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"experiment {name!r} is neither a file nor one of "
                          f"{sorted(p.stem for p in EXPERIMENT_DIR.glob('*.yaml'))}")
    spec = read_yaml_file(path)
    if not isinstance(spec, dict):
        raise ConfigError(f"experiment file {path} must be a mapping at top level")
    presets = spec.get("presets") or {}
    if preset not in presets:
        raise ConfigError(f"{path}: no preset {preset!r}; presets: {sorted(presets)}")
    out = copy.deepcopy(presets[preset])
    out["models"] = copy.deepcopy(spec.get("models") or {})
    out["name"], out["preset"], out["file"] = path.stem, preset, str(path)
    unknown = [m for m in out.get("run", []) if m not in out["models"]]
    if unknown or "Segmentation" not in out["models"]:
        raise ConfigError(f"{path}: preset {preset!r} runs {unknown or 'no Segmentation'}, which the models table "
                          "lacks")
    return out


def synth_spec(exp: Mapping, domain: str, seed: int, split: str | None = None) -> dict:
    """The ``data.synth`` section of one domain (in-memory SynthGait, shared by every run of the process)."""
    d = exp["data"]
    n, n_test = int(d["subjects"]), int(d["test_subjects"])
    if not 0 < n_test < n:
        raise ConfigError(f"data.test_subjects must be in [1, subjects - 1], got {n_test} of {n}")
    spec = {"domain": domain, "subjects": n, "seed": int(seed), "views": list(d["views"]), "frames": d["frames"],
            "size": int(d["size"]), "train_fraction": (n - n_test) / n, "conditions": dict(_SEQUENCES)}
    if d.get("backgrounds") is not None:
        spec["backgrounds"] = int(d["backgrounds"])
    return spec


def _types(conds: Sequence[str]) -> list[str]:
    return [f"{c}-{k + 1:02d}" for c in conds for k in range(_SEQUENCES[c])]


def study_configs(exp: Mapping, domain: str, seed: int, device: str = "cpu") -> dict[str, dict]:
    """Every model's full run config for training on ``domain``: shipped config + overrides + this study's data.

    Phase-2 ``model.init`` entries name phase-1 models (``{"from": "Segmentation"}``); :func:`run_study` replaces
    them with checkpoint paths once those runs exist.
    """
    out = {}
    over = exp.get("overrides") or {}
    for name in ("Segmentation", *exp.get("run", [])):
        entry = exp["models"][name]
        cfg = load_config(entry["config"])
        cfg.pop("_origin", None)
        cfg = apply_overrides(cfg, [*over.get("all", []), *entry.get("overrides", []), *over.get(name, [])])
        cfg["name"] = name
        data = dict(cfg.get("data") or {})
        for k in ("root", "format", "partition"):
            data.pop(k, None)
        data["synth"] = synth_spec(exp, domain, seed)
        data["train"] = dict(data.get("train") or {}, types=_types(_TRAIN_TYPES))
        data["test"] = dict(data.get("test") or {}, frames_limit=int(exp["data"]["test_frames"]))
        cfg["data"] = data
        cfg["trainer"] = dict(cfg.get("trainer") or {}, seed=int(seed), device=device, save_every=0, eval_every=0,
                              log_every=max(1, int(cfg.get("trainer", {}).get("log_every", 10))), num_workers=0)
        if "init" in entry:
            cfg["model"]["init"] = [dict(e) for e in entry["init"]]
        out[name] = cfg
    return out


def _other_domain(domain: str) -> str:
    return DOMAINS[1 - DOMAINS.index(domain)]


def control_set(train: str) -> str:
    """Name of the geometric control test set of models trained on ``train``: the other domain's test people,
    walks, scenes and light, filmed by ``train``'s camera (``SynthGait(other, camera=train)``)."""
    return f"{_other_domain(train)}@{train}-camera"


def _parse_test_set(test: str) -> tuple[str, str | None]:
    """``"outdoor"`` → ``("outdoor", None)``; ``"outdoor@indoor-camera"`` → ``("outdoor", "indoor")``."""
    domain, _, camera = test.partition("@")
    return domain, (camera.removesuffix("-camera") or None)


def _test_config(cfg: Mapping, exp: Mapping, test: str, seed: int, types: Sequence[str] | None = None) -> dict:
    """``cfg`` with its test split taken from test set ``test`` (a domain, or a :func:`control_set`)."""
    cfg = copy.deepcopy(dict(cfg))
    domain, camera = _parse_test_set(test)
    cfg["data"]["synth"] = synth_spec(exp, domain, seed)
    if camera is not None:
        cfg["data"]["synth"]["camera"] = camera
    if types is not None:
        cfg["data"]["test"]["types"] = list(types)
    return cfg


def _fill_init(cfg: dict, checkpoints: Mapping[str, str]) -> dict:
    """Replace ``{"from": run}`` init entries by that run's final checkpoint."""
    cfg = copy.deepcopy(cfg)
    init = []
    for e in cfg["model"].get("init") or []:
        e = dict(e)
        if "from" in e:
            src = e.pop("from")
            if src not in checkpoints:
                raise ConfigError(f"{cfg['name']}: model.init names {src!r}, which has not been trained yet")
            e["path"] = checkpoints[src]
        e.setdefault("strict", False)
        init.append(e)
    cfg["model"]["init"] = init
    return cfg


def _all_foreground_miou(data_cfg: Mapping) -> float:
    """mIoU of predicting "person" everywhere on the test split: the mean silhouette coverage, in %."""
    ds = build_dataset(data_cfg, ("sils",), "TEST_SET", types=data_cfg["test"].get("types"))
    cover = [float((np.asarray(ds[i][0]["sils"]) > 127).mean(axis=(1, 2)).mean()) for i in range(len(ds))]
    return 100.0 * float(np.mean(cover))


def _test_sequences(data_cfg: Mapping, frames: int):
    """``((id, type, view), {"rgbs", "sils"})`` of every test sequence, cut to the frames the models are shown."""
    ds = build_dataset(data_cfg, ("rgbs", "sils"), "TEST_SET")
    for i in range(len(ds)):
        arrays, sid, typ, view = ds[i]
        yield (sid, typ, view), {k: v[:frames] for k, v in arrays.items()}


def _probe_types(cond: str) -> list[str]:
    """The probe sequences of ``cond`` in the CASIA-B protocol (NM#05-06 for ``nm``; every RC for ``rc``)."""
    types = _types([cond])
    return types[4:] if cond == "nm" else types


def _frozen_edge(cfg: Mapping) -> bool:
    """Whether ``cfg`` builds a GaitEdge that reads its masks from a frozen segmenter."""
    model = cfg.get("model") or {}
    kw = model.get("kwargs") or {}
    return (model.get("name") == "GaitEdge" and kw.get("edge", True) and kw.get("mask_source", "frozen") == "frozen")


def _reads_masks_of(model: torch.nn.Module, segmenter: torch.nn.Module) -> bool:
    """Whether ``model`` is a frozen-mask GaitEdge whose frozen copy holds ``segmenter``'s U-Net weights (so the
    segmenter's masks are exactly the ones it would compute)."""
    frozen = getattr(model, "Frozen", None)
    return (isinstance(frozen, FrozenSegmenter) and getattr(model, "mask_source", None) == "frozen"
            and same_weights(frozen.Backbone, segmenter.Backbone))


def time_split(timings: Mapping[str, float], total: float) -> dict[str, float]:
    """Seconds spent rendering data, training and evaluating (segmenter passes, colour baseline and protocol
    runs), from a study's ``timings``, with evaluation's share of ``total`` in %."""
    groups = {"synth": ("synth/",), "train": ("train/",), "eval": ("eval/", "segment/", "colour/")}
    out = {g: round(sum(v for k, v in timings.items() if k.startswith(p)), 1) for g, p in groups.items()}
    out["eval_share"] = round(100.0 * out["eval"] / total, 1) if total > 0 else float("nan")
    return out


class _Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    def since(self) -> float:
        return time.perf_counter() - self.t0

    def lap(self, key: str, start: float) -> float:
        self.timings[key] = round(time.perf_counter() - start, 2)
        return self.timings[key]


def run_study(out: str | Path, experiment: str = "demo", preset: str = "default", seed: int = 0,
              force: bool = False, resume: bool = False, threads: int | None = None, device: str = "cpu",
              data: Mapping | None = None, overrides: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Run one seed of an experiment into ``out`` and return the dict written to ``out/results.json``.

    ``resume`` reuses every finished training run and evaluation already in ``out`` (a killed study continues where
    it stopped; numbers are those of an uninterrupted run, since each run is seeded on its own). ``data`` updates
    the preset's ``data`` section (e.g. ``{"backgrounds": 4}``) and is recorded with it; ``overrides`` adds config
    overrides per model (``{"Segmentation": ["data.train.colour_augment=null"]}``), recorded under
    ``data.overrides``. ``threads`` sets
    torch's CPU thread count for the whole study (None keeps the caller's); it is recorded, because results depend
    on it.
    """
    exp = load_experiment(experiment, preset)
    if data:  # a study axis (gaitedge.transfer_map): SynthGait arguments on top of the preset's
        exp["data"] = dict(exp["data"], **data)
    if overrides:  # likewise: config overrides per model name, after the preset's own
        merged = dict(exp.get("overrides") or {})
        for name, items in overrides.items():
            merged[name] = [*merged.get(name, []), *items]
        exp["overrides"] = merged
        exp["data"] = dict(exp["data"], overrides={k: list(v) for k, v in overrides.items()})  # recorded with it
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise FileExistsError(f"{out} is not empty; choose another --out, or pass --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(threads)
    clock = _Clock()
    commit = _commit()
    run_models = list(exp["run"])
    phase1 = [m for m in run_models if not exp["models"][m].get("init")]
    phase2 = [m for m in run_models if exp["models"][m].get("init")]
    cfgs = {dom: study_configs(exp, dom, seed, device) for dom in DOMAINS}

    def note(msg: str) -> None:
        log.info("[%6.0fs] %s", clock.since(), msg)

    # 1. data: render every domain once into the process-wide cache that all loaders share
    def render(name: str, data: Mapping, splits: Sequence[tuple[str, Sequence[str] | None]]) -> None:
        t = time.perf_counter()
        n = 0
        for split, types in splits:
            ds = build_dataset(data, ("rgbs", "sils", "aligned_sils", "ratios"), split, types=types)
            n += sum(int(ds[i][0]["sils"].shape[0]) for i in range(len(ds)))
        note(f"SynthGait {name}: {n} frames in {clock.lap(f'synth/{name}', t):.0f}s")

    for dom in DOMAINS:
        data = cfgs[dom]["Segmentation"]["data"]
        render(dom, data, (("TRAIN_SET", data["train"]["types"]), ("TEST_SET", None)))
    # the geometric control sets are test data too: rendered here, so the evaluation's timings hold no rendering
    for tr in DOMAINS:
        render(control_set(tr), _test_config(cfgs[tr]["Segmentation"], exp, control_set(tr), seed)["data"],
               (("TEST_SET", None),))

    # 2. training, per domain (phase 1, then phase 2 from phase-1 checkpoints)
    models: dict[str, dict[str, torch.nn.Module]] = {m: {} for m in ("Segmentation", *run_models)}
    reused = []  # runs and evaluations --resume took from an earlier run; none: the report calls the run fresh
    for dom in DOMAINS:
        ckpts: dict[str, str] = {}
        for name in ("Segmentation", *phase1, *phase2):
            cfg = _fill_init(cfgs[dom][name], ckpts)
            run_dir = out / "runs" / dom / name
            done = run_dir / "done.json"
            t = time.perf_counter()
            if resume and done.is_file():
                ckpt = str(run_dir / json.loads(done.read_text())["checkpoint"])  # absolute paths stay absolute
                model = load_trained_model(cfg, ckpt, device)
                reused.append(str(done))
                note(f"{dom}: {name} reused from {ckpt}")
            else:
                r = train_from_config(cfg, run_dir, force=True, progress=False, keep_model=True, evaluate=False)
                ckpt, model = r["checkpoint"], r["model"]
                # relative to the run folder, so a moved or copied study still resumes
                done.write_text(json.dumps({"checkpoint": os.path.relpath(ckpt, run_dir),
                                            "loss": r["train"].get("total")}))
                note(f"{dom}: {name} trained in {clock.lap(f'train/{dom}/{name}', t):.0f}s "
                     f"(last loss {r['train'].get('total', float('nan')):.3f})")
            ckpts[name] = ckpt
            models[name][dom] = model

    # 3. evaluation: every model on both test splits; each cell is cached in out/evals. Each phase-1 segmenter
    # segments each test split once (lazily): its mIoU and the masks of every frozen-mask GaitEdge holding its
    # weights come from that one pass
    evals_dir = out / "evals"
    evals_dir.mkdir(exist_ok=True)
    seg_preds: dict[tuple[str, str], SegmenterPredictions] = {}

    def predictions(tr: str, te: str) -> SegmenterPredictions:
        if (tr, te) not in seg_preds:
            # the batches of the recognisers' evaluation, so shared masks are those the frozen copy would compute
            src = next((m for m in run_models if _frozen_edge(cfgs[tr][m])), "Segmentation")
            data = _test_config(cfgs[tr][src], exp, te, seed)["data"]
            model = models["Segmentation"][tr]
            device = next(model.parameters()).device
            with run_block_cache(cfgs[tr]["Segmentation"], device):
                seg_preds[tr, te] = predict_segmenter(model, build_test_loader(data, ("rgbs", "sils"), 0, 1), device)
            clock.timings[f"segment/Segmentation/{tr}->{te}"] = round(seg_preds[tr, te].seconds, 2)
        return seg_preds[tr, te]

    def evaluate(name: str, tr: str, te: str, types: Sequence[str] | None = None, kind: str = "rec") -> dict:
        path = evals_dir / f"{kind}-{name}-{tr}-{te}.json"
        if resume and path.is_file():
            reused.append(str(path))
            return json.loads(path.read_text())
        t = time.perf_counter()
        model = models[name][tr]
        if kind == "seg":
            preds = predictions(tr, te)
            t = time.perf_counter()
            res = dict(preds.miou(types), eval_seconds=preds.seconds)  # the shared pass's seconds
        elif _reads_masks_of(model, models["Segmentation"][tr]):
            preds = predictions(tr, te)
            t = time.perf_counter()
            res = evaluate_model(model, _test_config(cfgs[tr][name], exp, te, seed, types),
                                 extra_inputs=lambda batch, meta: {"frozen_masks": preds.frozen_masks(batch, meta)})
        else:
            res = evaluate_model(model, _test_config(cfgs[tr][name], exp, te, seed, types))
        res = json.loads(json.dumps(res, default=float))  # plain JSON types, as a resumed run reads them back
        path.write_text(json.dumps(res))
        clock.lap(f"eval/{name}/{tr}->{te}", t)
        return res

    seg_types = _types(_TRAIN_TYPES)
    segmenter = {}
    for dom in DOMAINS:
        other = _other_domain(dom)
        own = evaluate("Segmentation", dom, dom, seg_types, "seg")
        cross = evaluate("Segmentation", dom, other, seg_types, "seg")
        data = _test_config(cfgs[dom]["Segmentation"], exp, dom, seed, seg_types)["data"]
        segmenter[dom] = {"miou": round(own["miou"], 2), "miou_cross": round(cross["miou"], 2),
                          "all_foreground": round(_all_foreground_miou(data), 2)}
        note(f"segmenter {dom}: mIoU {own['miou']:.1f}% (on {other}: {cross['miou']:.1f}%; all-foreground "
             f"{segmenter[dom]['all_foreground']:.1f}%)")

    for tr in DOMAINS:  # frozen-mask quality where the recolour probes are read: NM probes against their RC twins
        segmenter[tr]["mask_miou_probes"] = {}
        for te in DOMAINS:
            path = evals_dir / f"probes-Segmentation-{tr}-{te}.json"
            if resume and path.is_file():
                reused.append(str(path))
                probes = json.loads(path.read_text())
            else:
                preds = predictions(tr, te)
                probes = {c.upper(): round(preds.miou(_probe_types(c))["miou"], 2) for c in ("nm", "rc")}
                path.write_text(json.dumps(probes))
            segmenter[tr]["mask_miou_probes"][te] = probes
        ctrl = evaluate("Segmentation", tr, control_set(tr), seg_types, "seg")
        segmenter[tr]["miou_control"] = round(ctrl["miou"], 2)

    colour = {}
    for dom in DOMAINS:
        t = time.perf_counter()
        res = colour_baseline(_test_sequences(_test_config(cfgs[dom]["GaitGL"], exp, dom, seed)["data"],
                                              int(exp["data"]["test_frames"])))
        colour[dom] = {c: round(float(v), 2) for c, v in res["summary"].items()}
        clock.lap(f"colour/{dom}", t)
        note(f"colour baseline {dom}: NM rank-1 {colour[dom]['NM']:.1f}%")

    full: dict = {m: {tr: {} for tr in DOMAINS} for m in run_models}
    for m in run_models:
        for tr in DOMAINS:
            for te in DOMAINS:
                full[m][tr][te] = evaluate(m, tr, te)
        note(f"evaluated {m}")
    control = {m: {tr: evaluate(m, tr, control_set(tr)) for tr in DOMAINS} for m in run_models}
    note("evaluated the geometric controls")
    seg_preds.clear()
    total = clock.since()

    results = summarise_study(full, run_models)
    results.update(
        segmenter=segmenter, colour_baseline=colour, seed=int(seed), test_subjects=int(exp["data"]["test_subjects"]),
        seconds=round(total, 1), experiment=exp["name"], preset=exp["preset"], data=exp["data"],
        timings=clock.timings, time_split=time_split(clock.timings, total), resumed=bool(reused),
        per_view={m: {tr: {te: full[m][tr][te]["per_view"] for te in DOMAINS} for tr in DOMAINS} for m in run_models},
        per_subject=per_subject_table(full, run_models),
        geometric_control=geometric_split(full, control, run_models),
        targets=world_targets(segmenter, colour, int(exp["data"]["test_subjects"])),
        views=full[run_models[0]][DOMAINS[0]][DOMAINS[0]]["views"],
        environment={"torch": torch.__version__, "python": platform.python_version(),
                     "threads": torch.get_num_threads(), "machine": platform.machine(), "device": device,
                     "cpu": cpu_model(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                     "commit": commit},
    )
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(study_markdown(results, DOMAINS))
    _figures(out, full, models, cfgs, exp, seed, run_models, note)
    note(f"wrote {out / 'report.md'} and {out / 'results.json'} ({total:.0f}s)")
    return results


# the (train, test) cells of each kind
IN_DOMAIN = tuple((d, d) for d in DOMAINS)
CROSS_DOMAIN = tuple((a, b) for a in DOMAINS for b in DOMAINS if a != b)


def _pooled(full: Mapping, model: str, cells: Sequence[tuple[str, str]], cond: str) -> dict[str, float]:
    """Per-subject scores of ``model`` for ``cond`` over several (train, test) cells; keys ``"test:id"`` (the two
    domains hold different people, so pooling two cells with different test domains keeps subjects distinct)."""
    out = {}
    for tr, te in cells:
        for sid, v in full[model][tr][te]["per_subject"].get(cond, {}).items():
            out[f"{te}:{sid}"] = v
    return out


def per_subject_table(full: Mapping, models: Sequence[str]) -> dict:
    """``{model: {train: {test: {cond: {subject_id: rank-1 %}}}}}``: the scores behind every cell and difference,
    kept in ``results.json`` so that several seeds can be bootstrapped together (``gaitedge reproduce``)."""
    return {m: {tr: {te: full[m][tr][te]["per_subject"] for te in DOMAINS} for tr in DOMAINS} for m in models}


def differences(full: Mapping, models: Sequence[str], compare=None) -> dict[str, dict]:
    """The paired differences the paper's claim rests on, each bootstrapped over test subjects.

    ``compare(a, b)`` turns two ``{subject: score}`` mappings into the dict stored under each key (default: a
    subject-level :func:`~gaitedge.evaluation.stats.paired_difference`); ``gaitedge reproduce`` passes its own to
    pool several seeds the same way.

    - GaitEdge − GaitGL-E2E across domains (mean and CL): the paper says GaitEdge generalises better;
    - GaitGL-E2E − GaitEdge within a domain (mean): the paper says plain end-to-end wins in-domain;
    - every model's NM − RC gap in and across domains: how much rank-1 is lost when only the clothes change, i.e.
      how much the model reads colour and texture (exactly 0 for a model that sees silhouettes only).
    """
    out: dict[str, dict] = {}

    def add(key: str, a: dict, b: dict, what: str) -> None:
        out[key] = dict(compare(a, b) if compare else paired_difference(a, b, n_boot=N_BOOT, seed=BOOT_SEED),
                        what=what)

    if {"GaitEdge", "GaitGL-E2E"} <= set(models):
        for cond in ("mean", "CL"):
            add(f"GaitEdge - GaitGL-E2E, cross-domain, {cond}", _pooled(full, "GaitEdge", CROSS_DOMAIN, cond),
                _pooled(full, "GaitGL-E2E", CROSS_DOMAIN, cond), "both cross-domain cells pooled")
        for tr, te in CROSS_DOMAIN:
            add(f"GaitEdge - GaitGL-E2E, {tr}->{te}, mean", _pooled(full, "GaitEdge", [(tr, te)], "mean"),
                _pooled(full, "GaitGL-E2E", [(tr, te)], "mean"), f"trained {tr}, tested {te}")
        if "GaitGL" in models:
            add("GaitEdge - GaitGL, cross-domain, mean", _pooled(full, "GaitEdge", CROSS_DOMAIN, "mean"),
                _pooled(full, "GaitGL", CROSS_DOMAIN, "mean"), "both cross-domain cells pooled")
        add("GaitGL-E2E - GaitEdge, in-domain, mean", _pooled(full, "GaitGL-E2E", IN_DOMAIN, "mean"),
            _pooled(full, "GaitEdge", IN_DOMAIN, "mean"), "both in-domain cells pooled")
    gaps: dict[tuple[str, str], dict[str, float]] = {}
    for m in models:
        for label, cells in (("in-domain", IN_DOMAIN), ("cross-domain", CROSS_DOMAIN)):
            nm, rc = _pooled(full, m, cells, "NM"), _pooled(full, m, cells, "RC")
            if nm and rc:
                add(f"{m}, NM - RC, {label}", nm, rc, f"{label} cells pooled")
                gaps[m, label] = {k: nm[k] - rc[k] for k in nm.keys() & rc.keys()}
    for label in ("in-domain", "cross-domain"):
        if ("GaitGL-E2E", label) in gaps and ("GaitEdge", label) in gaps:
            add(f"leak: GaitGL-E2E gap - GaitEdge gap, {label}", gaps["GaitGL-E2E", label], gaps["GaitEdge", label],
                "difference of the NM - RC gaps, per subject")
    return out


def geometric_split(full: Mapping, control: Mapping, models: Sequence[str]) -> dict:
    """How much of each cross-domain drop is camera pitch and how much is appearance.

    Per model and training domain ``tr``: mean rank-1 in-domain, on the control set (the other domain's people and
    scenes under ``tr``'s camera) and cross-domain. ``appearance_drop = in_domain - control`` (different test people:
    the two test sets hold different subjects), ``camera_drop = control - cross_domain`` (the same subjects, the
    same walks: a paired difference with a subject bootstrap).
    """
    out: dict = {}
    for m in models:
        out[m] = {}
        for tr in DOMAINS:
            te = _other_domain(tr)
            res, ctrl = full[m][tr][te], control[m][tr]
            cam = paired_difference(ctrl["per_subject"]["mean"], res["per_subject"]["mean"], n_boot=N_BOOT,
                                    seed=BOOT_SEED)
            in_dom, c, x = (float(full[m][tr][tr]["summary"]["mean"]), float(ctrl["summary"]["mean"]),
                            float(res["summary"]["mean"]))
            cell, ci = _cell_summary(ctrl)
            out[m][tr] = {
                "test": control_set(tr), "matrix": cell, "ci": ci,
                "in_domain": round(in_dom, 2), "control": round(c, 2), "cross_domain": round(x, 2),
                "appearance_drop": round(in_dom - c, 2), "camera_drop": round(c - x, 2),
                "camera_drop_ci": [round(v, 2) for v in cam["ci"]],
            }
    return out


# Requirements on the world, fixed before any model is compared: the paper's premise is a segmenter that still works
# on the other domain, and a dataset on which clothing colour is worth something but not everything.
SEGMENTER_OWN_MIN = {"indoor": 93.0, "outdoor": 90.0}
SEGMENTER_OTHER_MIN = 85.0
SEGMENTER_GAP_MAX = 8.0
COLOUR_NM_RANGE = (20.0, 35.0)
COLOUR_RC_MAX_CHANCE = 2.0  # RC rank-1 of the colour baseline: above 0 and at most this many times chance


def world_targets(segmenter: Mapping, colour: Mapping, test_subjects: int) -> list[dict]:
    """Every requirement on the world with its measured value and whether it is met (``results.json["targets"]``)."""
    chance = 100.0 / test_subjects
    out = []

    def add(what: str, value: float, goal: str, met: bool) -> None:
        out.append({"what": what, "value": round(float(value), 2), "goal": goal, "met": bool(met)})

    for dom in DOMAINS:
        s = segmenter[dom]
        add(f"segmenter {dom}: own-domain mIoU", s["miou"], f">= {SEGMENTER_OWN_MIN[dom]:g}",
            s["miou"] >= SEGMENTER_OWN_MIN[dom])
        add(f"segmenter {dom}: other-domain mIoU", s["miou_cross"], f">= {SEGMENTER_OTHER_MIN:g}",
            s["miou_cross"] >= SEGMENTER_OTHER_MIN)
        add(f"segmenter {dom}: own - other", s["miou"] - s["miou_cross"], f"<= {SEGMENTER_GAP_MAX:g}",
            s["miou"] - s["miou_cross"] <= SEGMENTER_GAP_MAX)
    for dom in DOMAINS:
        c = colour[dom]
        lo, hi = COLOUR_NM_RANGE
        add(f"colour baseline {dom}: NM rank-1", c["NM"], f"{lo:g}-{hi:g}", lo <= c["NM"] <= hi)
        if "RC" in c:
            add(f"colour baseline {dom}: RC rank-1 (chance {chance:.1f})", c["RC"],
                f"> 0 and <= {COLOUR_RC_MAX_CHANCE * chance:.1f}", 0 < c["RC"] <= COLOUR_RC_MAX_CHANCE * chance)
    return out


def _cell_summary(res: Mapping) -> tuple[dict, dict]:
    """One protocol result → ``({cond: rank-1 %}, {cond: [lo, hi]})``, rounded to 0.01, over the matrix conditions."""
    cell = {c: round(float(res["summary"][c]), 2) for c in MATRIX_CONDITIONS if c in res["summary"]}
    ci = {c: [round(float(x), 2) for x in bootstrap_ci(list(res["per_subject"][c].values()), n_boot=N_BOOT,
                                                        seed=BOOT_SEED)] for c in cell}
    return cell, ci


def summarise_study(full: Mapping, models: Sequence[str]) -> dict:
    """``{"matrix", "ci", "differences"}`` from every cell's protocol result (rank-1 %, intervals in %)."""
    matrix: dict = {m: {tr: {} for tr in DOMAINS} for m in models}
    ci: dict = {m: {tr: {} for tr in DOMAINS} for m in models}
    for m in models:
        for tr in DOMAINS:
            for te in DOMAINS:
                matrix[m][tr][te], ci[m][tr][te] = _cell_summary(full[m][tr][te])
    return {"matrix": matrix, "ci": ci, "differences": differences(full, models),
            "bootstrap": {"n_boot": N_BOOT, "seed": BOOT_SEED, "level": 0.95, "unit": "test subject"}}


def _commit() -> str | None:
    """The checkout's short commit, with ``-dirty`` when tracked files differ from it; None outside a git checkout.
    Read when a study starts: the code a study runs is the code it imported then, whatever HEAD is later."""
    here = Path(__file__).resolve().parent
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                           timeout=5)
        head = r.stdout.strip()
        if not head:
            return None
        d = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                           text=True, timeout=10)
        return head + ("-dirty" if d.returncode == 0 and d.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _figures(out: Path, full, models, cfgs, exp, seed, run_models, note) -> None:
    """Per-view curves and Fig.-7-style input grids; a figure must never cost the numbers."""
    try:
        plot_per_view({f"{m} ({d})": full[m][d][d] for m in run_models for d in DOMAINS},
                      out / "per_view_in_domain.png", "in-domain rank-1 per probe view")
        if {"GaitGL-E2E", "GaitEdge"} <= set(run_models):
            for dom in DOMAINS:
                rows = visualise_inputs(models["GaitGL-E2E"][dom], models["GaitEdge"][dom],
                                        _test_config(cfgs[dom]["GaitEdge"], exp, dom, seed), n=6)
                image_grid(rows, out / f"inputs_{dom}.png")
    except Exception as e:  # noqa: BLE001
        note(f"figures skipped: {e}")
