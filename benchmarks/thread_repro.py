"""Which results are bit-identical across CPU thread counts: the gaitedge ops and a few training steps.

For every thread count given, in one process:

- ``gait_synthesis`` and ``gait_edge_align`` (forward and the gradient w.r.t. ``prob``) on fixed inputs,
  fp32 and bf16 ``prob``, float and uint8 silhouettes, ``--frames`` frames of 128x128;
- ``--steps`` training steps of the demo's tiny GaitGL (aligned silhouettes), of its tiny segmentation U-Net
  and of its tiny GaitEdge (phase 2, from scratch), each from the same seed, on in-memory SynthGait.

Each result is compared bitwise with the first thread count's, and each thread count is run twice to check that
a repeat with the same count is bit-identical. Prints one JSON object.

    python -m benchmarks.thread_repro --threads 1,2
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import torch


def _ops(frames: int) -> dict[str, torch.Tensor]:
    from gaitedge.ops import gait_edge_align, gait_synthesis

    g = torch.Generator().manual_seed(0)
    sil = torch.zeros(frames, 1, 128, 128)
    for i in range(frames):
        x0 = 30 + i % 20
        sil[i, 0, 10 + i % 7:118, x0:x0 + 40] = 1.0
    sil = (sil * (torch.rand(sil.shape, generator=g) > 0.05)).contiguous()
    prob32 = torch.rand(frames, 1, 128, 128, generator=g)
    ratio = 0.3 + 0.4 * torch.rand(frames, generator=g)
    out = {}
    for pd in (torch.float32, torch.bfloat16):
        for sd in (torch.float32, torch.uint8):
            tag = f"{str(pd)[6:]}/{str(sd)[6:]}"
            prob, s = prob32.to(pd).requires_grad_(True), sil.to(sd)
            ms = gait_synthesis(prob, s, 3)
            (gy,) = torch.autograd.grad((ms * torch.linspace(-1, 1, ms.numel()).view_as(ms)).sum(), prob)
            out[f"gait_synthesis/{tag}/forward"], out[f"gait_synthesis/{tag}/grad"] = ms.detach(), gy
            al = gait_edge_align(prob, s, ratio, 3, (64, 44))
            (ga,) = torch.autograd.grad((al * torch.linspace(-1, 1, al.numel()).view_as(al)).sum(), prob)
            out[f"gait_edge_align/{tag}/forward"], out[f"gait_edge_align/{tag}/grad"] = al.detach(), ga
    return out


def _infer(frames: int) -> dict[str, torch.Tensor]:
    from gaitedge.models import create_model

    torch.manual_seed(0)
    model = create_model("GaitGL", channels=[8, 16, 32], parts=16, num_classes=4).eval()
    g = torch.Generator().manual_seed(1)
    batch = {"aligned_sils": (torch.rand(2, frames, 64, 44, generator=g) > 0.5).float(),
             "labels": torch.arange(2), "seqL": None}
    with torch.no_grad():
        out = model(batch)["inference_feat"]["embeddings"]
    return {"GaitGL/embeddings": out}


def _train(name: str, steps: int, work: Path) -> dict[str, torch.Tensor]:
    from gaitedge.experiment import train_from_config
    from gaitedge.study import load_experiment, study_configs

    name = "Segmentation" if name == "seg" else name
    cfg = copy.deepcopy(study_configs(load_experiment("demo", "tiny"), "indoor", 0)[name])
    cfg["trainer"].update(total_iter=steps, log_every=0)
    if name in ("GaitEdge", "GaitGL-E2E"):
        cfg["model"]["init"] = []
    res = train_from_config(cfg, work, force=True, progress=False, keep_model=True, evaluate=False)
    return {k: v.detach().clone() for k, v in res["model"].state_dict().items()}


def _diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict:
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    fl = [k for k in a if a[k].is_floating_point()]
    va = torch.cat([a[k].double().flatten() for k in fl]) if fl else torch.zeros(1)
    vb = torch.cat([b[k].double().flatten() for k in fl]) if fl else torch.zeros(1)
    # one number per model: a per-tensor ratio is dominated by tensors whose values are ~0 (conv biases before BN)
    rel = ((va - vb).norm() / va.norm().clamp_min(1e-30)).item()
    return {"bitwise_equal": not differing, "tensors": len(a), "differing": len(differing),
            "rel_l2_diff": rel, "max_abs_diff": (va - vb).abs().max().item(), "first_differing": differing[:3]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--steps", type=int, default=5, help="training steps per model (default 5)")
    ap.add_argument("--frames", type=int, default=64, help="frames per op call (default 64)")
    ap.add_argument("--models", default="GaitGL,seg,GaitEdge", help="demo models to train (default all three)")
    a = ap.parse_args(argv)
    counts = [int(t) for t in a.threads.split(",")]
    models = [m for m in a.models.split(",") if m]
    runs: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in counts:
            torch.set_num_threads(t)
            runs[t] = []
            for rep in range(2):
                r = {"ops": _ops(a.frames), "GaitGL inference": _infer(8)}
                for m in models:
                    r[m] = _train(m, a.steps, Path(tmp) / f"{m}-{t}-{rep}")
                runs[t].append(r)
    base = counts[0]
    report = {"torch": torch.__version__, "steps": a.steps, "frames": a.frames, "threads": counts,
              "repeat_same_threads": {}, "vs_first_count": {}}
    for t in counts:
        report["repeat_same_threads"][t] = {k: _diff(runs[t][0][k], runs[t][1][k])["bitwise_equal"]
                                            for k in runs[t][0]}
        if t != base:
            report["vs_first_count"][f"{base}->{t}"] = {k: _diff(runs[base][0][k], runs[t][0][k])
                                                         for k in runs[t][0]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
