"""The CPU kernels' instruction routes beyond the x86-64 baseline follow PyTorch's CPU capability
(csrc/cpu/capability.h). That the routes give the baseline's bits is tested with the ops (test_gait_align.py)."""

import json
import os
import platform
import subprocess
import sys

from gaitedge import _extension


def test_cpu_vector_routes_follow_aten_cpu_capability(tmp_path):
    # ATEN_CPU_CAPABILITY=default turns the F16C and AVX2 routes off; unset, they run where ATen picks AVX2 or
    # AVX512 and the CPU has the instructions. A build without SIMD, or a non-x86 CPU, never takes them.
    script = tmp_path / "routes.py"
    script.write_text(
        "import sys, json, torch\n"
        "from gaitedge import _extension\n"
        "print(json.dumps([torch.backends.cpu.get_cpu_capability(), _extension.cpu_vector_routes()]))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    seen = {}
    for capability in (None, "default"):
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("ATEN_CPU_CAPABILITY", None)
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        run = subprocess.run([sys.executable, str(script)], check=True, env=env, cwd=root, timeout=120,
                             capture_output=True, text=True)
        seen[capability] = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["default"] == ["DEFAULT", []]
    aten, routes = seen[None]
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    if _extension.build_info().get("no_simd") or not x86 or aten not in ("AVX2", "AVX512"):
        assert routes == []
    else:
        flags = _cpu_flags()
        assert routes == [r for r in ("f16c", "avx2") if r in flags and (r != "f16c" or "avx" in flags)]


def _cpu_flags() -> set:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()
