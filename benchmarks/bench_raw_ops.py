"""Raw-op timing: the fused ops called directly (no autograd), next to the same work through autograd.

The op benchmarks time what a user's training loop runs: forward under autograd and ``torch.autograd.grad``. When
a GPU kernel takes less time than the host needs to issue it, those figures measure the host. This script times the
registered ops themselves (``torch.ops.gaitedge.*``, the backward ops included) and a device copy, so each kernel's
figure can be set against the bytes it must move, and the autograd rows show what the host adds.

    python -m benchmarks.bench_raw_ops --device cuda --N 1920 --size 128
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

import gaitedge.ops as ops
from benchmarks.harness import BenchmarkError
from benchmarks.harness.cli_args import parse_dtypes
from benchmarks.harness.devices import pick_devices
from benchmarks.harness.inputs import dtype_name, probabilities, silhouettes
from benchmarks.harness.metadata import metadata
from benchmarks.harness.report import fmt_time
from benchmarks.harness.timing import time_interleaved

OUT_H, OUT_W = 64, 44


def _bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def raw_op_calls(n: int, size: int, k: int, dtype: torch.dtype, mask_dtype: torch.dtype, device: torch.device):
    """{name: (callable, bytes a perfect kernel moves)} for one input shape."""
    sil = silhouettes(n, size, size, mask_dtype, device)  # [N, 1, h, w]
    prob = probabilities(sil, dtype)  # [N, 1, h, w]
    ratio = torch.full((n,), 0.45, device=device)
    g_full = torch.randn(prob.shape, device=device).to(dtype)  # [N, 1, h, w]
    g_align = torch.randn(n, 1, OUT_H, OUT_W, device=device).to(dtype)  # [N, 1, H, W]
    boxes = ops.align_boxes(sil, ratio, (OUT_H, OUT_W))
    gops = torch.ops.gaitedge
    p_req = prob.detach().clone().requires_grad_(True)
    calls = {
        # read prob and sil, write Ms
        "gait_synthesis fwd (op)": (lambda: gops.gait_synthesis(prob, sil, k, 0.5), 2 * _bytes(prob) + _bytes(sil)),
        # read grad and sil, write grad_prob
        "gait_synthesis bwd (op)": (lambda: gops._gait_synthesis_backward(g_full, sil, k, 0.5),
                                    2 * _bytes(g_full) + _bytes(sil)),
        "gait_synthesis fwd+bwd (autograd)": (
            lambda: torch.autograd.grad(ops.gait_synthesis(p_req, sil, k), p_req, g_full),
            4 * _bytes(prob) + 2 * _bytes(sil)),
        # read prob and sil (sil twice: box, edge bits), write the crop
        "gait_edge_align fwd (op)": (lambda: gops.gait_edge_align(prob, sil, ratio, k, OUT_H, OUT_W, 1.0, "opengait"),
                                     _bytes(prob) + 2 * _bytes(sil) + _bytes(g_align)),
        # read grad and sil, write grad_prob
        "gait_edge_align bwd (op)": (lambda: gops._gait_edge_align_backward(g_align, sil, boxes, k, "opengait"),
                                     _bytes(g_align) + _bytes(sil) + _bytes(prob)),
        "gait_edge_align fwd+bwd (autograd)": (
            lambda: torch.autograd.grad(ops.gait_edge_align(p_req, sil, ratio, k), p_req, g_align),
            2 * _bytes(prob) + 3 * _bytes(sil) + 2 * _bytes(g_align)),
    }
    src = torch.empty(_bytes(prob) // 4, dtype=torch.float32, device=device)  # as many bytes as one prob map
    dst = torch.empty_like(src)
    calls["copy of one prob map"] = (lambda: dst.copy_(src), 2 * _bytes(src))
    return calls


def _calls(args):
    """(device, dtype, mask dtype, raw_op_calls) for the command line's shape."""
    device = pick_devices(args.device)[-1]  # "auto" lists cpu, then cuda when present
    dtype = parse_dtypes(args.dtype, "--dtype")[0]
    mask_dtype = parse_dtypes(args.mask, "--mask")[0]
    return device, dtype, mask_dtype, raw_op_calls(args.N, args.size, args.k, dtype, mask_dtype, device)


def run(args) -> dict:
    device, dtype, mask_dtype, calls = _calls(args)
    stats = time_interleaved({name: fn for name, (fn, _) in calls.items()}, device, budget_s=args.budget)
    copy_gbps = calls["copy of one prob map"][1] / stats["copy of one prob map"].median / 1e9
    rows: List[Dict] = []
    for name, (_, nbytes) in calls.items():
        st = stats[name]
        gbps = nbytes / st.median / 1e9
        rows.append({"name": name, "bytes": nbytes, "gbps": gbps, "copy_fraction": gbps / copy_gbps, **st.to_json()})
    return {"meta": metadata([device]), "device": str(device), "N": args.N, "size": args.size, "k": args.k,
            "dtype": dtype_name(dtype), "mask_dtype": dtype_name(mask_dtype),
            "command": " ".join(sys.argv), "rows": rows}


def render(data: dict) -> str:
    dev = data["meta"]["devices"][0]["name"]
    lines = [f"# Raw fused ops vs autograd, {dev}",
             "",
             f"- N={data['N']}, {data['size']}², k={data['k']}, prob {data['dtype']}, sil {data['mask_dtype']}",
             f"- command: `{data['command']}`; commit `{data['meta']['git_commit']}`",
             "- GB/s counts the bytes a perfect kernel moves; the copy row is the same-size device copy",
             "",
             "| call | median | IQR | GB/s | of copy |",
             "|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['name']} | {fmt_time(r['median'])} | {fmt_time(r['iqr'])} | "
                     f"{r['gbps']:.1f} | {100 * r['copy_fraction']:.0f}% |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when present, else cpu)")
    p.add_argument("--N", type=int, default=1920)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--mask", default="uint8")
    p.add_argument("--budget", type=float, default=5.0, help="seconds of timing rounds")
    p.add_argument("--out", type=Path, default=None, help="directory for raw_ops_<device>.json / .md")
    p.add_argument("--once", action="store_true",
                   help="call each raw op twice (a warm-up, then the one to look at) and time nothing: a program for "
                        "Nsight Compute, e.g. ncu -k regex:gaitedge --kernel-name-base demangled")
    return p


def call_once(args) -> List[str]:
    """Each raw op (the "(op)" rows) twice, synchronised; returns their names."""
    device, _, _, calls = _calls(args)
    names = [name for name in calls if name.endswith("(op)")]
    for name in names:
        for _ in range(2):
            calls[name][0]()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return names


def main(argv: Optional[List[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.N < 1 or args.size < 8:
        raise SystemExit("--N must be >= 1 and --size >= 8")
    try:
        if args.once:
            names = call_once(args)
            print(f"called twice each on {args.device}: " + ", ".join(names))
            return {"called": names}
        data = run(args)
    except BenchmarkError as e:
        raise SystemExit(f"error: {e}") from None
    text = render(data)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"raw_ops_{data['device'].split(':')[0]}"
        (args.out / f"{stem}.json").write_text(json.dumps(data, indent=1))
        (args.out / f"{stem}.md").write_text(text)
    return data


if __name__ == "__main__":
    main()
