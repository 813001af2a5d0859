"""`gaitedge export`: the torch.export program and the AOTInductor package, loaded in a fresh process without the
model classes, give the eager model's embeddings for other batch sizes and sequence lengths than exported with."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitedge.cli import main
from gaitedge.inference.export import MIN_EXPORT_FRAMES, aoti_available

from ._fixtures import tiny_model, write_run

ROOT = Path(__file__).resolve().parents[2]


def test_export_parity_in_a_fresh_process(tmp_path):
    model = tiny_model(seed=3)
    ckpt = write_run(tmp_path / "run", model)
    out = tmp_path / "export"
    reason = aoti_available()
    args = ["export", "--checkpoint", str(ckpt), "-o", str(out), "--size", "64"] + (["--no-aoti"] if reason else [])
    assert main(args) == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["custom_ops"] and all(op.startswith("gaitedge.") for op in meta["custom_ops"])
    assert meta["dynamic"]["s"][0] == MIN_EXPORT_FRAMES
    assert (meta["aoti_package"] is not None) == (reason is None)
    gen = torch.Generator().manual_seed(1)
    cases = {"one": (1, 7), "three": (3, 12)}  # (batch, frames), neither the exported example's (2, 8)
    inputs, expected = {}, {}
    for name, (n, s) in cases.items():
        rgbs = torch.randint(0, 256, (n, s, 3, 64, 64), dtype=torch.uint8, generator=gen)
        rgbs[..., 16:56, 24:40] //= 4  # a darker person-sized block, so the masks are not all one class
        ratios = 0.3 + 0.5 * torch.rand(n, s, generator=gen)
        inputs[f"{name}_rgbs"], inputs[f"{name}_ratios"] = rgbs.numpy(), ratios.numpy()
        expected[name] = model.embed(rgbs, ratios).numpy()
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("_load_exported.py")), str(out),
                           str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "outputs.npz")
    for name in cases:
        np.testing.assert_allclose(got[f"{name}_program"], expected[name], rtol=1e-5, atol=1e-5)
        if reason is None:
            np.testing.assert_allclose(got[f"{name}_aoti"], expected[name], rtol=1e-4, atol=1e-4)
    if reason is not None:
        pytest.skip(f"AOTInductor package not tested: {reason}")


def test_export_refuses_a_silhouette_model_and_an_existing_folder(tmp_path, capsys):
    ckpt = write_run(tmp_path / "run", tiny_model(mask_source="silhouette"),
                     {"name": "GaitEdge", "kwargs": {"channels": [8, 16, 32], "parts": 16, "num_classes": 4,
                                                     "seg_channels": [8, 16, 32], "mask_source": "silhouette"}})
    assert main(["export", "--checkpoint", str(ckpt), "-o", str(tmp_path / "x"), "--no-aoti"]) == 2
    assert "mask_source" in capsys.readouterr().err
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "model.pt2").write_bytes(b"keep me")
    good = write_run(tmp_path / "run2")
    assert main(["export", "--checkpoint", str(good), "-o", str(tmp_path / "y"), "--no-aoti"]) == 2
    assert (tmp_path / "y" / "model.pt2").read_bytes() == b"keep me"
