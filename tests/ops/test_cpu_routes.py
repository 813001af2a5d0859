"""The CPU kernels' instruction routes beyond the x86-64 baseline follow PyTorch's CPU capability
(csrc/cpu/capability.h), and every route gives the baseline's bits: the fp32 row loops here (AVX2 and AVX-512,
csrc/cpu/float_rows.h and edge_rows.h), the 16-bit conversions with the ops (test_gait_align.py)."""

import json
import os
import platform
import subprocess
import sys

import torch

from gaitedge import _extension
from tests.utils import float_bits, random_silhouettes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(script, args, capability):
    """Runs ``script args`` in a fresh process (ATen reads its capability once per process) with
    ATEN_CPU_CAPABILITY set to ``capability``, or unset for None (ATen picks from the CPU)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    return subprocess.run([sys.executable, str(script), *map(str, args)], check=True, env=env, cwd=ROOT,
                          timeout=300, capture_output=True, text=True)


def test_cpu_vector_routes_follow_aten_cpu_capability(tmp_path):
    # ATEN_CPU_CAPABILITY=default turns every route off; avx2 allows the F16C and AVX2 routes, and unset they run
    # where ATen picks AVX2 or AVX512 and the CPU has the instructions (AVX512 adds the AVX-512 route where the CPU
    # has AVX-512 F, BW and VL). A build without SIMD, or a non-x86 CPU, never takes them.
    script = tmp_path / "routes.py"
    script.write_text(
        "import sys, json, torch\n"
        "from gaitedge import _extension\n"
        "print(json.dumps([torch.backends.cpu.get_cpu_capability(), _extension.cpu_vector_routes()]))\n")
    seen = {c: json.loads(_run(script, [], c).stdout.strip().splitlines()[-1]) for c in (None, "avx2", "default")}
    assert seen["default"] == ["DEFAULT", []]
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    flags = _cpu_flags()
    for capability in (None, "avx2"):
        aten, routes = seen[capability]
        if _extension.build_info().get("no_simd") or not x86 or aten not in ("AVX2", "AVX512"):
            assert routes == []
            continue
        want = [r for r in ("f16c", "avx2") if r in flags and (r != "f16c" or "avx" in flags)]
        if aten == "AVX512" and {"avx512f", "avx512bw", "avx512vl"} <= flags:
            want.append("avx512")
        assert routes == want


def _cpu_flags() -> set:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


_FP32_SCRIPT = """
import sys, torch, gaitedge.ops as ops
from gaitedge import _extension
res = []
for sil, p, r, go, gs in torch.load(sys.argv[1]):
    p.requires_grad_(True)
    for s in (sil.to(torch.uint8), sil.bool(), sil * 0.9 + 0.05):
        for mode in ("opengait", "exact"):
            for k in (3, 5):
                out = ops.gait_edge_align(p, s, r, k, (32, 22), mode=mode)
                res += [out.detach(), torch.autograd.grad(out, p, go)[0]]
            out = ops.gait_align(p, s, r, (32, 22), mode=mode)
            res += [out.detach(), torch.autograd.grad(out, p, go)[0]]
        out = ops.gait_synthesis(p, s, 5)
        res += [out.detach(), torch.autograd.grad(out, p, gs)[0]]
torch.save((_extension.cpu_vector_routes(), res), sys.argv[2])
"""


def test_fp32_row_routes_are_bitwise_the_baseline(tmp_path):
    # The fp32 row loops run 16 lanes wide (AVX-512), 8 (AVX2) or 4 (SSE2), each lane with the same multiply and
    # add in the same order, so every route must give the baseline's bits. Widths that are no multiple of 4, 8 or 16,
    # rows wider than one 64-bit word, spans starting anywhere in a word (the masked tails), and inf/NaN in prob and
    # in the upstream gradient (the dense fallbacks) included; NaN only as NaN, since its payload is unspecified.
    # The inputs are made here, once: ATen's own kernels follow the capability too.
    cases = []
    for i, (n, h, w) in enumerate([(12, 128, 128), (9, 67, 93), (8, 40, 150), (6, 33, 21)]):
        sil = random_silhouettes(n, h, w, seed=20 + i)  # [n, 1, h, w] 0/1 float
        gen = torch.Generator().manual_seed(30 + i)
        p = (0.8 * sil + 0.2 * torch.rand(sil.shape, generator=gen)).clamp(0, 1)
        p[1, 0, h // 2, w // 3] = float("inf")
        p[2, 0, h // 2 + 1, 3] = float("nan")
        p[3, 0, 0, 0] = -0.0
        go = torch.randn(n, 1, 32, 22, generator=gen) * 3e4
        go[4, 0, 3, 3] = float("inf")
        cases.append((sil, p, torch.linspace(0.3, 1.0, n), go, torch.randn(p.shape, generator=gen)))
    torch.save(cases, tmp_path / "inputs.pt")
    script = tmp_path / "run.py"
    script.write_text(_FP32_SCRIPT)
    runs = {}
    for capability in (None, "avx2", "default"):
        _run(script, [tmp_path / "inputs.pt", tmp_path / f"r{capability}.pt"], capability)
        runs[capability] = torch.load(tmp_path / f"r{capability}.pt")
    assert list(runs["default"][0]) == []
    base = runs["default"][1]
    for capability in (None, "avx2"):
        routes, res = runs[capability]
        assert len(res) == len(base)
        for k, (a, b) in enumerate(zip(res, base)):
            assert torch.equal(a.isnan(), b.isnan()), (capability, routes, k)
            assert torch.equal(float_bits(a.nan_to_num(0.0)), float_bits(b.nan_to_num(0.0))), (capability, routes, k)
