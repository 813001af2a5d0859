"""Loads the compiled extension gaitedge._C and turns load failures into an actionable message."""

import importlib

import torch

_REBUILD = (
    "Rebuild it against the torch you have installed, from the gaitedge source folder:\n"
    "    pip install --no-build-isolation -e .\n"
    "(`make build` does the same inside the project's venv)."
)


def build_info() -> dict:
    """What gaitedge._C was compiled against (written by setup.py), or {} when unknown."""
    try:
        return dict(importlib.import_module("gaitedge._build_info").BUILD_INFO)
    except ImportError:
        return {}


def load() -> None:
    """Imports gaitedge._C, which registers the torch.ops.gaitedge kernels; raises ImportError saying how to fix it."""
    info = build_info()
    built_for = info.get("torch_version")
    try:
        importlib.import_module("gaitedge._C")
    except ImportError as e:  # missing module, or an undefined symbol from a torch ABI change
        if built_for and built_for != torch.__version__:
            why = f"gaitedge._C was built against torch {built_for} but torch {torch.__version__} is installed."
        elif not info:
            why = "gaitedge._C (the compiled C++/CUDA kernels) is not built."
        else:
            why = f"gaitedge._C failed to load: {e}"
        raise ImportError(f"{why}\n{_REBUILD}") from e
    if built_for and built_for != torch.__version__:
        raise ImportError(
            f"gaitedge._C was built against torch {built_for} but torch {torch.__version__} is installed; "
            f"its kernels may crash.\n{_REBUILD}"
        )


def has_cuda_kernels() -> bool:
    """True when gaitedge._C was compiled with its CUDA kernels."""
    return bool(build_info().get("with_cuda"))


def cpu_vector_routes() -> tuple:
    """The CPU kernels' instruction routes beyond the x86-64 baseline in this process, such as
    ``("f16c", "avx2", "avx512")``. PyTorch's CPU capability decides them: ``ATEN_CPU_CAPABILITY=default`` gives
    ``()``, as does a build without SIMD (``GAITEDGE_NO_SIMD=1``) or a CPU other than x86-64."""
    load()
    return tuple(importlib.import_module("gaitedge._C").cpu_vector_routes())
