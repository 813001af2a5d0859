"""GaitEdge phase-2 training step and inference, fused ops vs the same model on plain-PyTorch ops.

Every model is ``gaitedge.models.create_model("GaitEdge", ...)`` with identical weights; only the op under the
edge path differs (``--impls``):

- ``fused``: gaitedge's kernels (``ops_backend="fused"``);
- ``reference``: gaitedge's pure-PyTorch reference ops (``ops_backend="reference"``; its GaitAlign is a per-frame
  float64 loop, so it is slow, and not run on CUDA unless asked for);
- ``composite``: the fastest plain-PyTorch edge path of ``benchmarks/baselines.py`` (separable max_pool2d synthesis,
  GaitAlign as two batched matmuls), swapped in for the model's ``edge_align`` layer;
- ``compiled``: ``torch.compile`` of ``composite`` (skipped with ``--no-compile``);
- ``opengait``: the OpenGait path (kornia morphology + torchvision RoIAlign), when both import.

A step is forward + phase-2 loss (triplet + softmax + 10 x BCE) + backward + Adam update. Steps of all backends are
timed interleaved in one process. Inference is ``eval()`` + ``no_grad`` forward, reported as sequences/s. The
target compares ``fused`` with the fastest plain backend measured.

Shapes: on CUDA the paper's P x K = 8 x 8 sequences x 30 frames of 128x128 (AMP fp16, as OpenGait trains); on CPU
a reduced batch (default 2 x 2 sequences x 4 frames of 128x128, fp32) so a run takes minutes, not hours.

    python -m benchmarks.bench_train_step                       # CPU reduced shape (+ CUDA when present)
    python -m benchmarks.bench_train_step --device cuda --P 8 --K 8 --frames 30
    python -m benchmarks.bench_train_step --impls fused,composite --no-memory
"""

from __future__ import annotations

import argparse
import os
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks import baselines
from benchmarks.harness import BenchmarkError
from benchmarks.harness.cli_args import run_script, thread_counts
from benchmarks.harness.devices import num_threads, pick_devices
from benchmarks.harness.inputs import silhouettes
from benchmarks.harness.memory import peak_memory
from benchmarks.harness.results import Results
from benchmarks.harness.timing import paired_ratio, time_interleaved

BENCH = "train_step"
BACKENDS = ("fused", "reference", "composite", "compiled", "opengait")
PLAIN_LAYERS = {  # backends that replace the model's edge_align layer with a baselines.py function
    "composite": lambda: baselines.composite_gait_edge_align,
    "compiled": lambda: baselines.compiled(baselines.composite_gait_edge_align),
    "opengait": lambda: baselines.opengait_gait_edge_align,
}


class PlainEdgeAlign(torch.nn.Module):
    """The GaitEdge model's ``edge_align`` layer (``(prob, sil, ratio) -> crop``) on a plain-PyTorch baseline."""

    def __init__(self, fn: Callable[..., torch.Tensor], kernel_size: int, out_size: Tuple[int, int]):
        super().__init__()
        self.fn, self.kernel_size, self.out_size = fn, kernel_size, out_size

    def forward(self, prob: torch.Tensor, sil: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
        return self.fn(prob, sil, ratio, self.kernel_size, self.out_size)


def select_backends(spec: Optional[str], device: torch.device, no_compile: bool) -> List[str]:
    """``--impls`` (default: every backend that is available, without the per-frame reference on CUDA)."""
    if spec:
        wanted = [v.strip() for v in spec.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in BACKENDS]
        if unknown:
            raise BenchmarkError(f"--impls: unknown backend(s) {unknown} (choose from {', '.join(BACKENDS)})")
        if "opengait" in wanted and baselines.opengait_available() is not None:
            raise BenchmarkError(f"--impls opengait needs kornia and torchvision: "
                                 f"{baselines.opengait_available()}")
    else:
        wanted = [b for b in BACKENDS if not (b == "reference" and device.type == "cuda")
                  and not (b == "opengait" and baselines.opengait_available() is not None)]
    if no_compile:
        wanted = [b for b in wanted if b != "compiled"]
    backends = ["fused"] + [b for b in dict.fromkeys(wanted) if b != "fused"]
    if len(backends) < 2:
        raise BenchmarkError("--impls: name at least one plain backend to compare the fused model with")
    return backends


def _batch(p: int, k: int, s: int, size: int, device: torch.device) -> Dict[str, torch.Tensor]:
    n = p * k
    sil = silhouettes(n * s, size, size, torch.float32, device).view(n, s, size, size)  # [n, s, h, w]
    g = torch.Generator().manual_seed(3)
    rgbs = (torch.randn(n, s, 3, size, size, generator=g).to(device) * 0.5
            + sil.unsqueeze(2))  # [n, s, 3, h, w]: noise with the person brighter, roughly normalised
    ratios = (0.3 + 0.5 * torch.rand(n, s, generator=g)).to(device)  # [n, s]
    labels = torch.arange(p, device=device).repeat_interleave(k)  # [n]: K sequences of each of P ids
    return {"rgbs": rgbs, "sils": sil, "ratios": ratios, "labels": labels, "seqL": None}


def _models(num_classes: int, device: torch.device, backends: Sequence[str]):
    from gaitedge.models import create_model

    torch.manual_seed(0)
    models = {}
    for b in backends:
        m = create_model("GaitEdge", num_classes=num_classes, ops_backend="fused" if b == "fused" else "reference")
        if b in PLAIN_LAYERS:
            m.edge_align = PlainEdgeAlign(PLAIN_LAYERS[b](), m.kernel_size, m.out_size)
        models[b] = m.to(device)
    for b in backends[1:]:
        models[b].load_state_dict(models["fused"].state_dict())  # identical weights
    return models


def _loss():
    from gaitedge.training.losses import LossAggregator

    return LossAggregator.from_config({"triplet": {"weight": 1.0, "margin": 0.2},
                                       "softmax": {"weight": 1.0, "scale": 1.0, "label_smooth": False},
                                       "bce": {"weight": 10.0}})


def run(device: torch.device, p: int, k: int, s: int, size: int, args, res: Results) -> List[dict]:
    backends = select_backends(args.impls, device, args.no_compile)
    models = _models(max(p, 2), device, backends)
    loss_fn = _loss().to(device)
    batch = _batch(p, k, s, size, device)
    amp = device.type == "cuda" and not args.fp32
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if amp else nullcontext
    opts = {b: torch.optim.Adam([q for q in m.parameters() if q.requires_grad], lr=1e-4, weight_decay=5e-4)
            for b, m in models.items()}
    scalers = {b: torch.amp.GradScaler("cuda", enabled=amp) for b in backends} if device.type == "cuda" else None

    def step_fn(b):
        model, opt = models[b], opts[b]

        def step():
            model.train()
            opt.zero_grad(set_to_none=True)
            with autocast():
                out = model(batch)
            total, _ = loss_fn(out["training_feat"])
            if scalers is not None:
                scalers[b].scale(total).backward()
                scalers[b].step(opt)
                scalers[b].update()
            else:
                total.backward()
                opt.step()
            return total

        return step

    def infer_fn(b):
        model = models[b]
        infer_batch = {key: v for key, v in batch.items() if key != "labels"}

        def infer():
            model.eval()
            with torch.no_grad(), autocast():
                return model(infer_batch)["inference_feat"]["embeddings"]

        return infer

    n = p * k
    # Correctness first: from the same weights every backend must give the fused model's embeddings.
    e_f = infer_fn("fused")().float()
    scale = float(e_f.abs().max()) or 1.0
    errs = {}
    for b in backends[1:]:
        errs[b] = float((infer_fn(b)().float() - e_f).abs().max())
        if not errs[b] <= 1e-3 * scale + (5e-2 * scale if amp else 0.0):
            raise BenchmarkError(f"train_step: the fused and {b} models disagree "
                                 f"(max |diff| of the embeddings {errs[b]:.3g}, scale {scale:.3g})")
    rows = []
    shape = {"P": p, "K": k, "frames": s, "H": size, "W": size, "amp": amp}
    for what, make, unit in (("train_step", step_fn, "steps/s"), ("inference", infer_fn, "sequences/s")):
        fns = {b: make(b) for b in backends}
        st = time_interleaved(fns, device, warmup=2, block_s=0.0, min_runs=args.min_runs,
                              budget_s=args.budget if args.budget is not None else 20.0, flush_l2=False)
        for b in backends:
            med = st[b].median
            rate = (1.0 if what == "train_step" else n) / med
            row = {"op": what, "impl": b, "pass": "fwd+bwd+opt" if what == "train_step" else "fwd",
                   "device": str(device), "threads": torch.get_num_threads() if device.type == "cpu" else None,
                   **shape, "time_s": st[b].to_json(), "rate": rate, "rate_unit": unit,
                   "bytes": 0, "gbps": 0.0, "mpix_s": n * s * size * size / med / 1e6, "copy_fraction": None,
                   "loadavg_1m": os.getloadavg()[0], "correct": {"max_abs_err_embeddings_vs_fused": errs.get(b, 0.0)}}
            if b == "fused":
                row["speedup"] = {o: {"ratio_of_medians": st[o].median / med,
                                      "paired": paired_ratio(st[o], st[b])} for o in backends[1:]}
            if not args.no_memory:
                row["memory"] = peak_memory(fns[b], device, 0)
            rows.append(row)
            print(f"[{what}] {b}: {rate:.2f} {unit}" + (f", peak {row['memory']['peak_bytes'] / 2**20:.0f} MiB"
                                                         if row.get("memory") else ""), flush=True)
    fused = next(r for r in rows if r["op"] == "train_step" and r["impl"] == "fused")
    best = min(backends[1:], key=lambda o: fused["speedup"][o]["ratio_of_medians"])  # the fastest plain backend
    sp = fused["speedup"][best]["ratio_of_medians"]
    others = ", ".join(f"{fused['speedup'][o]['ratio_of_medians']:.2f}× vs {o}" for o in backends[1:] if o != best)
    res.target(f"GaitEdge phase-2 training step, fused vs the fastest plain-PyTorch edge path ({device}, {n} seq x "
               f"{s} frames, {size}², {'AMP fp16' if amp else 'fp32'})", "≥ 1.25× (GPU target)",
               f"{sp:.2f}× vs {best}" + (f" ({others})" if others else ""),
               (sp >= 1.25) if device.type == "cuda" else None, str(device))
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, a comma list, or auto (default)")
    p.add_argument("--threads", default=None, help="CPU thread counts (default: torch's)")
    p.add_argument("--P", type=int, default=None, help="identities per batch (default 8 on CUDA, 2 on CPU)")
    p.add_argument("--K", type=int, default=None, help="sequences per identity (default 8 on CUDA, 2 on CPU)")
    p.add_argument("--frames", type=int, default=None, help="frames per sequence (default 30 on CUDA, 4 on CPU)")
    p.add_argument("--size", type=int, default=128, help="frame size (the U-Net needs a multiple of 16)")
    p.add_argument("--fp32", action="store_true", help="no AMP on CUDA")
    p.add_argument("--budget", type=float, default=None, help="seconds of interleaved timing per measurement")
    p.add_argument("--min-runs", type=int, default=3)
    p.add_argument("--impls", default=None, help=f"comma list from {', '.join(BACKENDS)} (default: all available, "
                   "without the per-frame reference on CUDA)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile backend")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--stem", default=None)
    p.add_argument("--command", default=None)
    return p


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    args = build_parser().parse_args(argv)
    devices = pick_devices(args.device)
    res = results or Results(BENCH, devices, command=args.command)
    for dev in devices:
        gpu = dev.type == "cuda"
        p, k = args.P or (8 if gpu else 2), args.K or (8 if gpu else 2)
        s = args.frames or (30 if gpu else 4)
        if min(p, k, s) < 1 or (p < 2 or k < 2):
            raise BenchmarkError("--P and --K must be >= 2 (the triplet loss needs positives and negatives)")
        for thr in (thread_counts(args) if not gpu else [None]):
            with num_threads(thr):
                res.add(run(dev, p, k, s, args.size, args, res))
    if results is None:
        paths = res.write(args.out, args.stem or BENCH)
        print("wrote", ", ".join(str(x) for x in paths.values()))
    return res


if __name__ == "__main__":
    run_script(main)
