"""The demo's two costs, each side by side in one process: one evaluation cell and the training steps, before and after.

- ``eval_cell``: what the study spends per (training domain, test domain) on the phase-1 segmenter's mIoU and the
  frozen-mask GaitEdge's protocol run, on the demo's SynthGait data (``--test-subjects`` test ids):
  ``recompute`` (the segmenter's mIoU pass, then GaitEdge running its frozen copy itself; NCHW),
  ``shared`` (one segmenter pass over the split feeding both; NCHW) and ``shared+cl`` (the same, channels-last).
  Untrained models: the time does not depend on the weights.
- ``train_step``: one training step of each demo model at the demo's shapes (``synth_*`` configs: 64x64 frames,
  P x K x frames as configured), ``trainer.channels_last`` off against on.

    python -m benchmarks.bench_demo_parts                  # 2 threads, as the demo
"""

from __future__ import annotations

import argparse
import os
import time
from typing import List, Optional

import torch

from benchmarks.harness.cli_args import run_script
from benchmarks.harness.devices import num_threads, pick_devices
from benchmarks.harness.results import Results
from benchmarks.harness.timing import paired_ratio, time_interleaved

BENCH = "demo_parts"


def _row(op: str, impl: str, st, base, unit_n: int, unit: str, shape: dict) -> dict:
    med = st[impl].median
    row = {"op": op, "impl": impl, "pass": "eval" if op == "eval_cell" else "fwd+bwd+opt", "device": "cpu",
           "threads": torch.get_num_threads(), **shape, "amp": False, "time_s": st[impl].to_json(),
           "rate": unit_n / med, "rate_unit": unit, "bytes": 0, "gbps": 0.0, "mpix_s": 0.0, "copy_fraction": None,
           "loadavg_1m": os.getloadavg()[0], "correct": {}}
    if impl != base:
        row["speedup"] = {base: {"ratio_of_medians": st[base].median / med, "paired": paired_ratio(st[base], st[impl])}}
    return row


def eval_rows(args) -> List[dict]:
    from gaitedge.data import build_test_loader
    from gaitedge.evaluation.segmenter_predictions import predict_segmenter
    from gaitedge.experiment import evaluate_model
    from gaitedge.models import to_channels_last_
    from gaitedge.study import _test_config, _types, load_experiment, study_configs
    from gaitedge.training.builders import build_model

    exp = load_experiment("demo", "default")
    exp["data"]["test_subjects"] = args.test_subjects
    exp["data"]["subjects"] = args.test_subjects + 10
    cfgs = study_configs(exp, "indoor", 0)
    torch.manual_seed(0)
    seg = build_model(dict(cfgs["Segmentation"]["model"], init=[]), num_classes=None)
    edge = build_model(dict(cfgs["GaitEdge"]["model"], init=[]), num_classes=10)
    edge.Frozen.Backbone.load_state_dict(seg.Backbone.state_dict())
    seg_cl, edge_cl = (to_channels_last_(build_model(dict(c["model"], init=[]), num_classes=n))
                       for c, n in ((cfgs["Segmentation"], None), (cfgs["GaitEdge"], 10)))
    seg_cl.load_state_dict(seg.state_dict())
    edge_cl.load_state_dict(edge.state_dict())
    seg_cfg = _test_config(cfgs["Segmentation"], exp, "indoor", 0, _types(("nm", "bg", "cl")))
    rec_cfg = _test_config(cfgs["GaitEdge"], exp, "indoor", 0)
    cpu = torch.device("cpu")
    list(build_test_loader(rec_cfg["data"], ("rgbs", "sils", "ratios")))  # render SynthGait before timing

    def recompute():
        evaluate_model(seg, seg_cfg)
        return evaluate_model(edge, rec_cfg)

    def shared(s=seg, e=edge):
        def run():
            preds = predict_segmenter(s, build_test_loader(rec_cfg["data"], ("rgbs", "sils")), cpu)
            preds.miou(_types(("nm", "bg", "cl")))
            return evaluate_model(e, rec_cfg, extra_inputs=lambda b, m: {"frozen_masks": preds.frozen_masks(b, m)})
        return run

    fns = {"recompute": recompute, "shared": shared(), "shared+cl": shared(seg_cl, edge_cl)}
    t = time.perf_counter()
    st = time_interleaved(fns, cpu, warmup=0, block_s=0.0, min_runs=args.min_runs, budget_s=0.0, flush_l2=False)
    print(f"[eval_cell] {time.perf_counter() - t:.0f}s", {k: round(v.median, 2) for k, v in st.items()}, flush=True)
    shape = {"P": args.test_subjects, "K": 1, "frames": exp["data"]["test_frames"], "H": 64, "W": 64}
    return [_row("eval_cell", k, st, "recompute", 1, "cells/s", shape) for k in fns]


def train_rows(args) -> List[dict]:
    from gaitedge.data import build_train_data
    from gaitedge.models import to_channels_last_
    from gaitedge.study import load_experiment, study_configs
    from gaitedge.training.builders import build_losses, build_model, build_optimizer

    exp = load_experiment("demo", "default")
    cfgs = study_configs(exp, "indoor", 0)
    rows = []
    for name in ("Segmentation", "GaitGL", "GaitGL-E2E", "GaitEdge"):
        cfg = cfgs[name]
        keys = ("rgbs", "sils", "ratios", "aligned_sils")
        ds, sampler, collate, ncls = build_train_data(cfg["data"], keys, 0, 0, 1)
        batch, _ = collate([ds[i] for i in next(iter(sampler))])
        fns = {}
        for impl in ("nchw", "channels_last"):
            torch.manual_seed(0)
            m = build_model(dict(cfg["model"], init=[]), num_classes=ncls)
            if impl == "channels_last":
                to_channels_last_(m)
            loss, opt = build_losses(cfg.get("loss")), None
            opt = build_optimizer(m, cfg.get("optimizer"))

            def step(m=m, loss=loss, opt=opt):
                m.train()
                opt.zero_grad(set_to_none=True)
                total, _ = loss(m(batch)["training_feat"])
                total.backward()
                opt.step()
            fns[impl] = step
        st = time_interleaved(fns, torch.device("cpu"), warmup=1, block_s=0.0, min_runs=args.min_runs,
                              budget_s=args.train_budget, flush_l2=False)
        print(f"[train_step] {name}", {k: round(v.median * 1e3, 1) for k, v in st.items()}, flush=True)
        d = cfg["data"]["train"]
        shape = {"P": d["P"], "K": d["K"], "frames": d["frames"], "H": 64, "W": 64}
        for k in fns:
            row = dict(_row("train_step", k, st, "nchw", 1, "steps/s", shape), model=name)
            rows.append(dict(row, impl=f"{name} {k}"))
    return rows


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test-subjects", type=int, default=8)
    p.add_argument("--min-runs", type=int, default=2)
    p.add_argument("--train-budget", type=float, default=10.0)
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--command", default=None)
    args = p.parse_args(argv)
    device = pick_devices("cpu")[0]
    res = results or Results(BENCH, [device], command=args.command)
    with num_threads(args.threads):
        res.add(train_rows(args))
        if not args.skip_eval:
            res.add(eval_rows(args))
    if results is None:
        paths = res.write(args.out, BENCH)
        print("wrote", ", ".join(str(x) for x in paths.values()))
    return res


if __name__ == "__main__":
    run_script(main)
