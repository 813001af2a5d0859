"""gaitedge.nn's reference backend runs without the compiled extension; a fused layer loads it when it is built.

Each check runs in a fresh interpreter, since this one may already have loaded ``gaitedge._C``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gaitedge

_ROOT = str(Path(gaitedge.__file__).resolve().parents[1])

# Makes `import gaitedge._C` raise ImportError, as on an install where the extension was never built.
_BLOCK_EXTENSION = 'import sys\nsys.modules["gaitedge._C"] = None\n'

_LAYERS = """
import json
import sys

import torch

import gaitedge.nn as gnn


def loaded():
    return sorted(m for m in ("gaitedge._C", "gaitedge.ops") if sys.modules.get(m) is not None)


sil = torch.zeros(2, 1, 32, 24)
sil[:, :, 6:28, 8:16] = 1
prob = torch.rand(2, 1, 32, 24, generator=torch.Generator().manual_seed(0)).requires_grad_()
ratio = torch.tensor([0.4, 0.5])
layers = {
    "GaitSynthesis": (gnn.GaitSynthesis, {}, (prob, sil)),
    "GaitAlign": (gnn.GaitAlign, {"H": 16, "W": 11}, (prob, sil, ratio)),
    "GaitEdgeAlign": (gnn.GaitEdgeAlign, {"H": 16, "W": 11}, (prob, sil, ratio)),
}
report = {"shapes": {}, "finite": {}, "fused_errors": {}}
for name, (cls, kwargs, args) in layers.items():
    out = cls(backend="reference", **kwargs)(*args)
    (grad,) = torch.autograd.grad(out.sum(), prob)
    report["shapes"][name] = list(out.shape)
    report["finite"][name] = bool(torch.isfinite(out).all() and torch.isfinite(grad).all() and grad.abs().sum() > 0)
report["loaded_after_reference"] = loaded()
for name, (cls, kwargs, _) in layers.items():
    try:
        cls(backend="fused", **kwargs)
    except ImportError as e:
        report["fused_errors"][name] = str(e)
report["loaded_after_fused"] = loaded()
print(json.dumps(report))
"""

_SHAPES = {"GaitSynthesis": [2, 1, 32, 24], "GaitAlign": [2, 1, 16, 11], "GaitEdgeAlign": [2, 1, 16, 11]}


def _run(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_reference_layers_run_without_the_extension_and_fused_ones_name_it():
    report = _run(_BLOCK_EXTENSION + _LAYERS)
    assert report["shapes"] == _SHAPES
    assert all(report["finite"].values()), report["finite"]
    assert report["loaded_after_reference"] == []
    assert set(report["fused_errors"]) == set(_SHAPES)
    for name, message in report["fused_errors"].items():
        assert "gaitedge._C" in message, (name, message)
    assert report["loaded_after_fused"] == []


def test_the_extension_loads_only_when_a_fused_layer_is_built():
    pytest.importorskip("gaitedge._C", reason="gaitedge._C is not built")
    report = _run(_LAYERS)
    assert report["shapes"] == _SHAPES
    assert report["loaded_after_reference"] == []
    assert report["fused_errors"] == {}
    assert report["loaded_after_fused"] == ["gaitedge._C", "gaitedge.ops"]


def test_ops_reference_is_the_extension_free_module():
    pytest.importorskip("gaitedge._C", reason="gaitedge._C is not built")
    from gaitedge import _ops_reference
    from gaitedge.ops import _reference

    assert _reference.__all__ == _ops_reference.__all__
    assert all(getattr(_reference, name) is getattr(_ops_reference, name) for name in _ops_reference.__all__)


_BLOCK_CACHE = """
import json
import torch
from gaitedge.block_cache import block_cache, block_cache_stats, release_block_cache

with block_cache() as on:
    x = torch.ones(1 << 20).sum()
print(json.dumps({"on": on, "stats": block_cache_stats(), "released": release_block_cache(), "sum": float(x)}))
"""


def test_the_block_cache_is_off_without_the_extension_and_work_goes_on():
    report = _run(_BLOCK_EXTENSION + _BLOCK_CACHE)
    assert report == {"on": False, "stats": {"enabled": False}, "released": 0, "sum": float(1 << 20)}
