"""Run in a fresh process: load an exported program (and the AOTInductor package) with no gaitedge model code, embed
the saved inputs, save the outputs. Only the custom ops are registered (gaitedge.ops loads the compiled kernels)."""

import sys
from pathlib import Path

import numpy as np
import torch

import gaitedge.ops  # noqa: F401  registers torch.ops.gaitedge.* (kernels and fake kernels), nothing else

folder, inputs = Path(sys.argv[1]), np.load(sys.argv[2])
results = {}
program = torch.export.load(folder / "model.pt2").module()
if (folder / "model_aoti.pt2").is_file():
    package = torch._inductor.aoti_load_package(str(folder / "model_aoti.pt2"))
for name in sorted({k.rsplit("_", 1)[0] for k in inputs.files}):
    rgbs, ratios = torch.from_numpy(inputs[f"{name}_rgbs"]), torch.from_numpy(inputs[f"{name}_ratios"])
    with torch.no_grad():
        results[f"{name}_program"] = program(rgbs, ratios).numpy()
        if (folder / "model_aoti.pt2").is_file():
            results[f"{name}_aoti"] = package(rgbs, ratios).numpy()
loaded = sorted(m for m in sys.modules if m.startswith("gaitedge.") and m.split(".")[1] in ("models", "nn"))
if loaded:
    raise SystemExit(f"model code was imported: {loaded}")
np.savez(sys.argv[3], **results)
