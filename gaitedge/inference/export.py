"""The RGB-only inference model (segmenter, frozen-mask Gait Synthesis, GaitAlign, GaitGL) as a ``torch.export``
program, and an AOTInductor package of it where a C++ compiler is available.

Both take raw crops and return embeddings, so nothing of gaitedge's model code is needed to run them; the custom
ops (``torch.ops.gaitedge.*``) must be registered in the loading process (``import gaitedge.ops``, which loads the
compiled kernels only).

Input: ``rgbs`` uint8 ``[n, s, 3, H, W]`` (person crops, 0-255) and ``ratios`` float32 ``[n, s]``; ``H, W`` are
fixed at export time. Dynamic: ``n`` in ``[1, MAX_BATCH]`` and ``s`` in ``[MIN_EXPORT_FRAMES, MAX_FRAMES]``.
Output: float32 ``[n, c, p]``, equal to ``model.embed`` of the same sequences.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sysconfig
from pathlib import Path

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

__all__ = ["RGBEmbedder", "export_program", "aoti_available", "MIN_EXPORT_FRAMES", "MAX_FRAMES", "MAX_BATCH",
           "PROGRAM_NAME", "PACKAGE_NAME", "META_NAME"]

# GaitGL's temporal pooling gives a 1-frame map for 3-5 input frames, a shape the export specialises on; from 6
# frames on one program covers every length. Shorter sequences run in eager mode (`gaitedge embed`).
MIN_EXPORT_FRAMES = 6
MAX_FRAMES = 4096
MAX_BATCH = 1024
PROGRAM_NAME = "model.pt2"
PACKAGE_NAME = "model_aoti.pt2"
META_NAME = "export.json"


class RGBEmbedder(nn.Module):
    """``(rgbs uint8 [n, s, 3, H, W], ratios [n, s]) -> embeddings [n, c, p]`` with a trained RGB GaitEdge."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, rgbs: Tensor, ratios: Tensor) -> Tensor:
        x = self.model.normalize_rgb(rgbs)  # float [n, s, 3, H, W], ImageNet-normalised
        out = self.model({"rgbs": x, "ratios": ratios.float()})
        return out["inference_feat"]["embeddings"]  # [n, c, p]


def aoti_available() -> str | None:
    """None when AOTInductor can compile here, else why not (it needs a C++ compiler and Python's headers)."""
    if not (shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")):
        return "no C++ compiler (c++, g++ or clang++) on PATH"
    include = sysconfig.get_paths().get("include")
    if not include or not Path(include, "Python.h").is_file():
        return "Python's C headers (Python.h) are not installed"
    return None


def export_program(model: nn.Module, out_dir: str | os.PathLike, frame_size: tuple[int, int],
                   aoti: bool = True, example_frames: int = 8) -> dict:
    """Export ``model`` (a trained RGB GaitEdge / GaitGL-E2E, on CPU) into ``out_dir``.

    Writes ``model.pt2`` (``torch.export.save``), ``model_aoti.pt2`` when ``aoti`` and the platform allows it, and
    ``export.json`` (input shapes, dynamic ranges, the custom ops in the graph). Returns that metadata.
    """
    h, w = (int(v) for v in frame_size)
    m = int(model.Backbone.min_size)
    if h < m or w < m or h % m or w % m:
        raise ValueError(f"frame_size must be multiples of the segmenter's {m}, got {h}x{w}")
    if example_frames < MIN_EXPORT_FRAMES:
        raise ValueError(f"example_frames must be >= {MIN_EXPORT_FRAMES}, got {example_frames}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = RGBEmbedder(model).eval()
    gen = torch.Generator().manual_seed(0)
    rgbs = torch.randint(0, 256, (2, example_frames, 3, h, w), dtype=torch.uint8, generator=gen)
    ratios = 0.3 + 0.5 * torch.rand(2, example_frames, generator=gen)
    n = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    s = torch.export.Dim("frames", min=MIN_EXPORT_FRAMES, max=MAX_FRAMES)
    with torch.no_grad():
        ep = torch.export.export(wrapper, (rgbs, ratios), dynamic_shapes={"rgbs": {0: n, 1: s}, "ratios": {0: n, 1: s}})
    torch.export.save(ep, out_dir / PROGRAM_NAME)
    custom = sorted({str(node.target) for node in ep.graph.nodes
                     if node.op == "call_function" and str(node.target).startswith("gaitedge.")})
    with torch.no_grad():
        emb = wrapper(rgbs, ratios)
    meta = {"program": PROGRAM_NAME, "inputs": {"rgbs": ["n", "s", 3, h, w], "rgbs_dtype": "uint8",
                                                 "ratios": ["n", "s"], "ratios_dtype": "float32"},
            "output": ["n", *emb.shape[1:]], "dynamic": {"n": [1, MAX_BATCH], "s": [MIN_EXPORT_FRAMES, MAX_FRAMES]},
            "custom_ops": custom, "torch": torch.__version__, "aoti_package": None, "aoti_skipped": None}
    reason = None if aoti else "not asked for"
    if aoti and reason is None:
        reason = aoti_available()
    if reason is None:
        from torch._inductor import aoti_compile_and_package

        aoti_compile_and_package(ep, package_path=str(out_dir / PACKAGE_NAME))
        meta["aoti_package"] = PACKAGE_NAME
    else:
        meta["aoti_skipped"] = reason
        logger.info("AOTInductor package not written: %s", reason)
    (out_dir / META_NAME).write_text(json.dumps(meta, indent=1))
    return meta
