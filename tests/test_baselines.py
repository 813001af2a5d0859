"""The OpenGait baselines of benchmarks/baselines.py agree with gaitedge's reference ops.

They need kornia and torchvision, which are not gaitedge dependencies: these tests run in the benchmark venv
(benchmarks/README.md) and skip elsewhere. The benchmark harness checks the same before it times anything; these
tests catch a broken baseline without a benchmark run.
"""

import pytest
import torch

pytest.importorskip("gaitedge.ops", reason="gaitedge._C is not built")
pytest.importorskip("kornia", reason="the OpenGait baselines need kornia (benchmark venv only)")
pytest.importorskip("torchvision", reason="the OpenGait baselines need torchvision (benchmark venv only)")

from benchmarks import baselines  # noqa: E402
from benchmarks.harness.inputs import probabilities, silhouettes  # noqa: E402
from gaitedge.ops import _reference  # noqa: E402

TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_opengait_gait_align_matches_the_reference_in_every_dtype(dtype):
    sil = silhouettes(6, 128, 128, torch.uint8, torch.device("cpu"))  # [6, 1, 128, 128]
    x = probabilities(sil, dtype)
    ratio = torch.rand(6, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.3
    ref = _reference.gait_align(x, sil, ratio)
    out = baselines.opengait_gait_align(x, sil, ratio)
    assert out.dtype == dtype
    # fp32 boxes in every dtype: rounding them to fp16 moved samples by up to 1/16 px (errors of ~2e-2)
    assert (out.float() - ref.float()).abs().max().item() <= TOL[dtype]


@pytest.mark.parametrize("k", [3, 7])
def test_opengait_edge_paths_match_the_reference(k):
    sil = silhouettes(4, 64, 64, torch.uint8, torch.device("cpu"))
    prob = probabilities(sil, torch.float32)
    ratio = torch.full((4,), 0.45)
    torch.testing.assert_close(baselines.opengait_gait_synthesis(prob, sil, k),
                               _reference.gait_synthesis(prob, sil, k), atol=2e-5, rtol=0)
    torch.testing.assert_close(baselines.opengait_gait_edge_align(prob, sil, ratio, k),
                               _reference.gait_edge_align(prob, sil, ratio, k), atol=2e-5, rtol=0)
