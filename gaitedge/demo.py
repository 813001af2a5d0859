"""``gaitedge demo``: the paper's cross-domain experiment (Table 2) on SynthGait, from nothing, on a CPU.

For each domain (``indoor``: CASIA-B-like, ``outdoor``: TTG-200-like) it generates SynthGait, trains phase 1
(U-Net segmentation; GaitGL on aligned silhouettes, which is also the two-step GaitGL baseline), then phase 2
(GaitEdge and GaitGL-E2E initialised from phase 1), and evaluates every model on the test split of both domains
with the CASIA-B protocol (gallery NM#01-04, probes NM#05-06 / BG#01-02 / CL#01-02, identical views excluded).
Every number in ``DIR/results.json`` and ``DIR/report.md`` is computed in that run.

``gt_masks=True`` adds a fourth model, ``GaitEdge-GT``: GaitEdge with ``mask_source="silhouette"`` (OpenGait's
behaviour: interior, edge band and box from the ground-truth silhouettes, in training and testing), trained from the
same phase-1 weights with the same seed and batches as ``GaitEdge``; it isolates whether appearance enters through
the segmenter's binary mask or through the edge band.

Sizes: ``tiny`` (CI smoke, ~2-3 min on 2 cores), ``small``, ``default`` (the documented demo, <= 15 min on 2 cores).
The configs are built here in Python so the demo runs without PyYAML.
"""

from __future__ import annotations

import copy
import json
import platform
import time
from pathlib import Path

import torch

__all__ = ["run_demo", "DEMO_SIZES", "demo_configs"]

DOMAINS = ("indoor", "outdoor")
MODELS = ("GaitGL", "GaitGL-E2E", "GaitEdge")
GT_MODEL = "GaitEdge-GT"  # optional: GaitEdge with ground-truth masks (``run_demo(gt_masks=True)``)

# Scale presets. subjects = train + test ids; iterations per phase; model widths kept small for a CPU.
DEMO_SIZES = {
    "tiny": dict(train_subjects=4, test_subjects=3, frames=6, views=(0, 90, 180), img=64, P=2, K=2, clip=6,
                 seg_iter=3, rec_iter=6, joint_iter=2, seg_channels=(4, 8, 16), rec_channels=(8, 16, 32),
                 parts=16, test_frames=6),
    "small": dict(train_subjects=8, test_subjects=4, frames=8, views=(0, 90, 180), img=64, P=4, K=2, clip=6,
                  seg_iter=12, rec_iter=30, joint_iter=8, seg_channels=(8, 16, 32), rec_channels=(8, 16, 32),
                  parts=16, test_frames=8),
    # a bigger run for a GPU (``--size large --device cuda``); not the documented CPU demo
    "large": dict(train_subjects=40, test_subjects=20, frames=16, views=(0, 54, 90, 126), img=128, P=8, K=4, clip=15,
                  seg_iter=600, rec_iter=2500, joint_iter=1200, seg_channels=(16, 32, 64, 128),
                  rec_channels=(32, 64, 128), parts=64, test_frames=16),
    "default": dict(train_subjects=14, test_subjects=6, frames=12, views=(0, 90, 180), img=64, P=4, K=2, clip=8,
                    seg_iter=30, rec_iter=200, joint_iter=60, seg_channels=(8, 16, 32), rec_channels=(8, 16, 32),
                    parts=16, test_frames=12),
}


def synth_spec(size: dict, domain: str, seed: int) -> dict:
    """The ``data.synth`` section of one domain: in-memory SynthGait, rendered once and shared by every run."""
    n = size["train_subjects"] + size["test_subjects"]
    return {"domain": domain, "subjects": n, "seed": seed, "views": list(size["views"]), "frames": size["frames"],
            "size": size["img"], "train_fraction": size["train_subjects"] / n}


def _common(size: dict, synth: dict, seed: int, device: str = "cpu") -> dict:
    return {
        "data": {"synth": synth,
                 "train": {"P": size["P"], "K": size["K"], "frames": size["clip"], "sampling": "ordered"},
                 "test": {"frames_limit": size["test_frames"], "batch_size": 16}},
        "trainer": {"log_every": 10, "save_every": 0, "eval_every": 0, "seed": seed, "device": device,
                    "amp": "off", "num_workers": 0},
        "eval": {"kind": "recognition", "protocol": "casia_b", "metric": "euc"},
    }


def demo_configs(size: dict, synth: dict, seed: int = 0, device: str = "cpu",
                 gt_masks: bool = False) -> dict[str, dict]:
    """The four configs of one domain: ``seg``, ``GaitGL`` (phase 1 rec = two-step baseline), ``GaitEdge``,
    ``GaitGL-E2E`` (phase 2; their ``model.init`` paths are filled in once phase 1 has run); with ``gt_masks``
    also ``GaitEdge-GT`` (``GaitEdge``'s config with ``mask_source="silhouette"``)."""
    base = _common(size, synth, seed, device)
    rec_kw = {"channels": list(size["rec_channels"]), "parts": size["parts"]}
    seg = copy.deepcopy(base)
    seg.update(name="Segmentation",
               model={"name": "Segmentation", "kwargs": {"channels": list(size["seg_channels"]),
                                                          "freeze_encoder": False}},
               loss={"bce": {"weight": 1.0}},
               optimizer={"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
               scheduler={"milestones": [int(size["seg_iter"] * 0.6), int(size["seg_iter"] * 0.8)], "gamma": 0.1},
               eval={"kind": "segmentation"})
    seg["trainer"]["total_iter"] = size["seg_iter"]
    seg["data"]["train"].update(P=size["P"], K=2, frames=max(2, size["clip"] // 2), sampling="unordered")
    rec = copy.deepcopy(base)
    rec.update(name="GaitGL", model={"name": "GaitGL", "kwargs": rec_kw},
               loss={"triplet": {"weight": 1.0, "margin": 0.2},
                     "softmax": {"weight": 1.0, "scale": 1.0, "label_smooth": False}},
               optimizer={"type": "Adam", "lr": 1e-3, "weight_decay": 5e-4},
               scheduler={"milestones": [int(size["rec_iter"] * 0.8)], "gamma": 0.1})
    rec["trainer"]["total_iter"] = size["rec_iter"]
    out = {"seg": seg, "GaitGL": rec}
    for name, edge in (("GaitEdge", True), ("GaitGL-E2E", False)):
        j = copy.deepcopy(base)
        j.update(name=name,
                 model={"name": name, "kwargs": dict(rec_kw, seg_channels=list(size["seg_channels"]), edge=edge,
                                                     align=True, kernel_size=3, freeze_encoder=True,
                                                     mask_source="segmentation", align_mode="opengait"),
                        "init": [{"path": None, "strict": False}, {"path": None, "strict": False}]},
                 loss={"triplet": {"weight": 1.0, "margin": 0.2},
                       "softmax": {"weight": 1.0, "scale": 1.0, "label_smooth": False}, "bce": {"weight": 10.0}},
                 # the paper's 1e-4 / 1e-5, scaled ×10 like phase 1 because the demo runs ~100× fewer iterations
                 optimizer={"type": "Adam", "lr": 1e-3, "weight_decay": 5e-4,
                            "groups": [{"match": "Backbone.", "lr": 1e-4}]},
                 scheduler={"milestones": [max(1, size["joint_iter"] // 2)], "gamma": 0.1})
        j["trainer"]["total_iter"] = size["joint_iter"]
        out[name] = j
    if gt_masks:
        gt = copy.deepcopy(out["GaitEdge"])
        gt["name"] = GT_MODEL
        gt["model"]["kwargs"]["mask_source"] = "silhouette"
        out[GT_MODEL] = gt
    return out


def run_demo(out: str | Path, size: str = "default", seed: int = 0, force: bool = False,
             threads: int | None = None, device: str = "cpu", gt_masks: bool = False) -> dict:
    """Run the whole demo into ``out``; returns the results dict written to ``out/results.json``.

    ``threads``: torch's CPU thread count for the whole run (None keeps the caller's setting). The numbers depend
    on it, so ``results.json`` and ``report.md`` record the count used (``gaitedge demo`` passes ``--threads`` or
    its load-independent default). ``gt_masks=True`` also trains and evaluates ``GaitEdge-GT`` (module docstring):
    one more phase-2 run and four more evaluations, phase 1 reused.
    """
    from gaitedge.data import build_dataset
    from gaitedge.evaluation.report import casia_b_markdown, image_grid, matrix_markdown, plot_per_view
    from gaitedge.experiment import evaluate_model, train_from_config

    if size not in DEMO_SIZES:
        raise ValueError(f"size must be one of {sorted(DEMO_SIZES)}, got {size!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; choose another --out or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(threads)
    sz = DEMO_SIZES[size]
    models_run = MODELS + ((GT_MODEL,) if gt_masks else ())
    phase2 = ("GaitEdge", "GaitGL-E2E") + ((GT_MODEL,) if gt_masks else ())
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def log(msg: str) -> None:
        print(f"[demo {time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)

    # 1. data
    roots = {}
    for i, dom in enumerate(DOMAINS):
        t0 = time.perf_counter()
        roots[dom] = synth_spec(sz, dom, seed + 1000 * i)
        # render every sequence once into the shared in-memory cache (all later loaders read from it)
        ds = build_dataset({"synth": roots[dom]}, ("rgbs",), None)
        frames = sum(int(ds[j][0]["rgbs"].shape[0]) for j in range(len(ds)))
        timings[f"synth/{dom}"] = time.perf_counter() - t0
        log(f"SynthGait {dom}: {roots[dom]['subjects']} subjects, {len(ds)} sequences, {frames} frames "
            f"in {timings[f'synth/{dom}']:.1f}s")

    # 2. training, per domain
    models: dict[str, dict[str, torch.nn.Module]] = {m: {} for m in models_run}
    seg_miou: dict[str, float] = {}
    for dom in DOMAINS:
        cfgs = demo_configs(sz, roots[dom], seed, device, gt_masks)
        runs = out / "runs" / dom
        t0 = time.perf_counter()
        seg = train_from_config(cfgs["seg"], runs / "seg", force=force, progress=False)
        seg_miou[dom] = seg["eval"]["miou"] if seg.get("eval") else float("nan")
        timings[f"train/{dom}/seg"] = time.perf_counter() - t0
        log(f"{dom}: phase 1 segmentation done, test mIoU {seg_miou[dom]:.1f}%")
        t0 = time.perf_counter()
        rec = train_from_config(cfgs["GaitGL"], runs / "GaitGL", force=force, progress=False, keep_model=True,
                                evaluate=False)
        timings[f"train/{dom}/GaitGL"] = time.perf_counter() - t0
        models["GaitGL"][dom] = rec["model"]
        log(f"{dom}: phase 1 GaitGL done in {timings[f'train/{dom}/GaitGL']:.0f}s, last loss "
            f"{rec['train'].get('total', float('nan')):.3f}")
        for name in phase2:
            cfg = cfgs[name]
            cfg["model"]["init"][0]["path"] = seg["checkpoint"]
            cfg["model"]["init"][1]["path"] = rec["checkpoint"]
            t0 = time.perf_counter()
            r = train_from_config(cfg, runs / name, force=force, progress=False, keep_model=True, evaluate=False)
            timings[f"train/{dom}/{name}"] = time.perf_counter() - t0
            models[name][dom] = r["model"]
            log(f"{dom}: phase 2 {name} done in {timings[f'train/{dom}/{name}']:.0f}s, last loss "
                f"{r['train'].get('total', float('nan')):.3f}")

    # 3. the 2x2 matrix (in-domain numbers come from the same evaluation code as cross-domain ones)
    matrix: dict = {m: {tr: {} for tr in DOMAINS} for m in models_run}
    full: dict = {m: {tr: {} for tr in DOMAINS} for m in models_run}
    for m in models_run:
        for tr in DOMAINS:
            for te in DOMAINS:
                cfg = demo_configs(sz, roots[te], seed, device, gt_masks)[m]
                t0 = time.perf_counter()
                res = evaluate_model(models[m][tr], cfg)
                timings[f"eval/{m}/{tr}->{te}"] = time.perf_counter() - t0
                full[m][tr][te] = res
                matrix[m][tr][te] = {k: round(float(v), 2) for k, v in res["summary"].items()}
            log(f"evaluated {m} trained on {tr}")
    total = time.perf_counter() - t_start

    # 4. report
    table = matrix_markdown(matrix, DOMAINS)
    print("\n" + table + "\n", flush=True)
    figs = []
    p = plot_per_view({f"{m} ({tr}→{te})": full[m][tr][te] for m in models_run for tr in DOMAINS
                       for te in DOMAINS if tr == te},
                      out / "per_view_in_domain.png", "in-domain rank-1 per probe view")
    if p:
        figs.append(p.name)
    try:
        from gaitedge.experiment import visualise_inputs

        for dom in DOMAINS:
            rows = visualise_inputs(models["GaitGL-E2E"][dom], models["GaitEdge"][dom],
                                    demo_configs(sz, roots[dom], seed, device)["GaitEdge"], n=6)
            figs.append(image_grid(rows, out / f"inputs_{dom}.png").name)
    except Exception as e:  # a figure must never cost the numbers
        log(f"input grid skipped: {e}")
    results = {
        "matrix": matrix,
        "segmentation_miou": seg_miou,
        "size": size, "scale": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sz.items()},
        "seed": seed, "gt_masks": gt_masks, "seconds": round(total, 1),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "per_view": {m: {tr: {te: full[m][tr][te]["per_view"] for te in DOMAINS} for tr in DOMAINS}
                     for m in models_run},
        "views": full[MODELS[0]][DOMAINS[0]][DOMAINS[0]]["views"],
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads(), "machine": platform.machine(),
                        "device": device},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    md = [f"# gaitedge demo: cross-domain matrix on SynthGait (`--size {size}`)", "",
          f"Computed in this run in {total / 60:.1f} min on {device} ({torch.get_num_threads()} CPU threads, "
          f"torch {torch.__version__}). Train on one domain, test on both; CASIA-B protocol (gallery NM#01-04, "
          "probes NM#05-06, BG#01-02, CL#01-02), rank-1 %, identical views excluded.", "", table, "",
          "Phase-1 segmentation test mIoU: " + ", ".join(f"{d} {v:.1f}%" for d, v in seg_miou.items()), ""]
    if gt_masks:
        md += [f"{GT_MODEL}: GaitEdge with `mask_source=\"silhouette\"` (ground-truth interior, edge band and box, "
               "in training and testing; OpenGait's behaviour), same phase-1 weights, seed and batches as GaitEdge.",
               ""]
    for m in models_run:
        for tr in DOMAINS:
            for te in DOMAINS:
                md.append(casia_b_markdown(full[m][tr][te], title=f"{m}, trained {tr}, tested {te}"))
                md.append("")
    md += [f"![{f}]({f})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n")
    log(f"wrote {out / 'report.md'} and {out / 'results.json'} ({total:.0f}s total)")
    return results
