"""Builds gaitedge._C: C++ CPU kernels always, CUDA kernels when a CUDA toolkit and a CUDA build of torch are present.

Build against the torch you run with:  pip install --no-build-isolation -e .

Environment switches
  GAITEDGE_FORCE_CPU=1   CPU-only build even where CUDA is available (alias: USE_CUDA=0)
  FORCE_CUDA=1           build the CUDA kernels even without a visible GPU (needs nvcc and a CUDA build of torch)
  TORCH_CUDA_ARCH_LIST   architectures to compile for, e.g. "8.0;9.0+PTX" (set it when no GPU is visible)
  GAITEDGE_NO_SIMD=1     CPU kernels without their SSE2/F16C/AVX2 fast paths: the portable code non-x86 CPUs run
  DEBUG=1                -O0 -g
  MAX_JOBS               parallel compile jobs (ninja)
"""

import glob
import os
import pprint

from setuptools import find_packages, setup

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def want_cuda() -> bool:
    if env_flag("GAITEDGE_FORCE_CPU") or os.environ.get("USE_CUDA", "").strip() == "0":
        return False
    forced = env_flag("FORCE_CUDA")
    if forced and (CUDA_HOME is None or torch.version.cuda is None):
        raise RuntimeError(
            "FORCE_CUDA=1 needs nvcc (CUDA_HOME) and a CUDA build of torch; found CUDA_HOME="
            f"{CUDA_HOME!r}, torch {torch.__version__} (torch.version.cuda={torch.version.cuda!r})"
        )
    if forced:
        return True
    if CUDA_HOME is None or torch.version.cuda is None:
        return False
    return torch.cuda.is_available() or bool(os.environ.get("TORCH_CUDA_ARCH_LIST"))


def write_build_info(with_cuda: bool) -> None:
    info = {
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "with_cuda": with_cuda,
        "cuda_arch_list": os.environ.get("TORCH_CUDA_ARCH_LIST"),
        "no_simd": env_flag("GAITEDGE_NO_SIMD"),
    }
    with open(os.path.join(ROOT, "gaitedge", "_build_info.py"), "w") as f:
        f.write("# Written by setup.py at build time: what gaitedge._C was compiled against.\n")
        f.write(f"BUILD_INFO = {pprint.pformat(info)}\n")


def extensions():
    with_cuda = want_cuda()
    write_build_info(with_cuda)
    debug = env_flag("DEBUG")
    sources = sorted(glob.glob("csrc/*.cpp") + glob.glob("csrc/cpu/*.cpp"))
    cxx = ["-O0", "-g"] if debug else ["-O3"]
    cxx += ["-DGAITEDGE_PYTHON_MODULE", "-std=c++20", "-ffp-contract=off"]
    # at::parallel_for is inlined into our code: without OpenMP here it silently runs on one thread.
    cxx += ["-fopenmp"]
    if env_flag("GAITEDGE_NO_SIMD"):
        cxx += ["-DGAITEDGE_NO_SIMD"]
    args = {"cxx": cxx}
    ext = CppExtension
    if with_cuda:
        ext = CUDAExtension
        sources += sorted(glob.glob("csrc/cuda/*.cu"))
        args["cxx"].append("-DWITH_CUDA")
        args["nvcc"] = (["-O0", "-g", "-G"] if debug else ["-O3", "-lineinfo"]) + ["-DWITH_CUDA", "-std=c++20"]
    return [ext("gaitedge._C", sources, extra_compile_args=args, extra_link_args=["-fopenmp"])]


setup(
    packages=find_packages(include=["gaitedge", "gaitedge.*"]),
    package_data={"gaitedge": ["configs/*.yaml", "configs/experiments/*.yaml"]},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExtension.with_options(no_python_abi_suffix=False)},
)
