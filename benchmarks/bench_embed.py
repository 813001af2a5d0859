"""`gaitedge embed` throughput on CPU at the demo's sizes, and where the time goes.

    python -m benchmarks.bench_embed                                 # 1 thread, writes benchmarks/results/embed_cpu.*
    python -m benchmarks.bench_embed --threads 2 --out /tmp/embed

The model is the demo's GaitEdge (``synth_phase2_gaitedge``: U-Net 8/16/32, GaitGL 8/16/32, 16 parts, frozen-mask
segmenter) with seeded random weights; the inputs are SynthGait test sequences at the demo's sizes (64x64 crops,
8 frames per sequence, ``test_frames``). Timed side by side in interleaved rounds (``time_interleaved``):

- ``embed``: :func:`gaitedge.inference.embed_batch` on ``--batch`` sequences (uint8 in, embeddings out), the unit
  ``gaitedge embed`` runs; sequences/s = batch / its median time;
- its parts on the same batch: ``segmentation`` (trainable U-Net + sigmoid, and the frozen U-Net's mask),
  ``ops`` (fused Gait Synthesis + GaitAlign, ``gait_edge_align``), ``recogniser`` (GaitGL on the aligned maps).

The fractions are each part's median over the parts' sum; the rest of ``embed`` (normalisation, concatenation,
checks) is ``embed`` minus that sum. Reading files is not included (see ``bench_pretreat`` for decoding).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness.metadata import metadata
from benchmarks.harness.timing import time_interleaved
from gaitedge.data import SynthGait
from gaitedge.inference import embed_batch
from gaitedge.models import create_model, to_channels_last_
from gaitedge.training.config import load_config

RESULTS = Path(__file__).resolve().parent / "results"


def demo_model(seed: int = 0):
    kwargs = dict(load_config("synth_phase2_gaitedge")["model"]["kwargs"])
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    torch.manual_seed(seed)
    model = create_model("GaitEdge", num_classes=30, **kwargs)
    to_channels_last_(model)  # as gaitedge embed loads it (load_rgb_model)
    return model.eval()


def demo_sequences(n: int, frames: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    synth = SynthGait("indoor", subjects=max(2, n // 2), views=(0, 90, 180), frames=frames, size=size, seed=1)
    keys = synth.keys()[:n]
    return [(s["rgbs"], s["ratios"]) for s in (synth.sequence(*k) for k in keys)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8, help="sequences per forward pass (gaitedge embed's default)")
    ap.add_argument("--frames", type=int, default=8, help="frames per sequence (the demo's test_frames)")
    ap.add_argument("--size", type=int, default=64, help="crop side (the demo's)")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of interleaved rounds")
    ap.add_argument("--out", default=str(RESULTS / "embed_cpu"), help="result path without suffix (.json, .md)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = demo_model()
    seqs = demo_sequences(a.batch, a.frames, a.size)
    # the parts, on exactly the tensors embed_batch builds
    rgbs = torch.cat([torch.from_numpy(r) for r, _ in seqs])  # [N, 3, S, S] uint8
    ratios = torch.cat([torch.from_numpy(q) for _, q in seqs]).float()  # [N]
    seqL = torch.tensor([[len(r) for r, _ in seqs]])  # [1, b]
    x = model.normalize_rgb(rgbs)  # [N, 3, S, S]
    with torch.no_grad():
        probs = torch.sigmoid(model.Backbone(x))
        mask = model.Frozen(x) > 0.5
        roi = model.edge_align(probs, mask, ratios)  # [N, 1, 64, 44]
    n_frames = int(rgbs.shape[0])

    def seg():
        with torch.no_grad():
            return torch.sigmoid(model.Backbone(x)), model.Frozen(x) > 0.5

    def ops():
        with torch.no_grad():
            return model.edge_align(probs, mask, ratios)

    def rec():
        with torch.no_grad():
            return model.recognise(roi.reshape(1, n_frames, *model.out_size), seqL, None)

    stats = time_interleaved({"embed": lambda: embed_batch(model, seqs), "segmentation": seg, "ops": ops,
                              "recogniser": rec}, torch.device("cpu"), budget_s=a.budget)
    parts = {k: stats[k].median for k in ("segmentation", "ops", "recogniser")}
    total = sum(parts.values())
    result = {
        "what": "gaitedge embed throughput, demo sizes",
        "batch": a.batch, "frames": a.frames, "size": a.size, "threads": a.threads,
        "sequences_per_s": a.batch / stats["embed"].median,
        "fractions": {k: v / total for k, v in parts.items()},
        "rest_of_embed_s": stats["embed"].median - total,
        "stats": {k: v.to_json() for k, v in stats.items()},
        "meta": metadata([torch.device("cpu")]),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    m = result["meta"]
    lines = [f"# `gaitedge embed` on CPU, demo sizes ({a.batch} sequences x {a.frames} frames, {a.size}x{a.size}, "
             f"{a.threads} thread{'s' if a.threads > 1 else ''})", "",
             f"{m['cpu_model']}, torch {m['torch']}, ATen {m['aten_cpu_capability']}, commit {m['git_commit']}, "
             f"load average at start {m['loadavg_start']} (a shared machine).", "",
             f"**{result['sequences_per_s']:.1f} sequences/s** (embed_batch median "
             f"{stats['embed'].median * 1e3:.1f} ms, IQR {stats['embed'].iqr * 1e3:.1f} ms, {stats['embed'].runs} rounds)", "",
             "| part | median ms | fraction of the parts |", "|---|---|---|"]
    for k, v in parts.items():
        lines.append(f"| {k} | {v * 1e3:.2f} | {v / total:.1%} |")
    rest = result["rest_of_embed_s"] * 1e3
    lines += ["", f"Rest of embed (normalisation, concatenation, checks): {rest:.2f} ms.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
