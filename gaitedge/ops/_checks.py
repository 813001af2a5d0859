"""Argument checks for the fake (meta) kernels, mirroring csrc/checks.h so torch.compile reports the same errors."""

import torch

import numbers

MAX_KERNEL_SIZE = 101  # csrc/checks.h kMaxKernelSize
MAX_OUT_SIDE = 32768  # csrc/checks.h kMaxOutSide
MAX_OUTPUT_ELEMENTS = 1 << 32  # csrc/checks.h kMaxOutputElements: N * C * out_h * out_w of one align call
FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
MASK_DTYPES = (torch.bool, torch.uint8) + FLOAT_DTYPES


def check_int(v, name: str) -> None:
    """An integer argument: Python/NumPy integers, never bool (True is not a size)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")


def check_real(v, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r}")


def check_kernel_size(k: int) -> None:
    check_int(k, "kernel_size")
    if not (1 <= k <= MAX_KERNEL_SIZE and k % 2 == 1):
        raise ValueError(f"kernel_size must be an odd integer in [1, {MAX_KERNEL_SIZE}], got {k}")


def check_threshold(t: float) -> None:
    check_real(t, "threshold")
    if t != t:
        raise ValueError("threshold must not be NaN")


def check_frames(t: torch.Tensor, name: str) -> None:
    if t.dim() != 4 or t.shape[1] != 1:
        raise ValueError(f"{name} must have shape [N, 1, H, W], got {list(t.shape)}")


def check_output_elements(n: int, c: int, out_h: int, out_w: int) -> None:
    """An align call's output [N, C, H, W] may hold at most ``MAX_OUTPUT_ELEMENTS`` elements (frame-isolated ops:
    fewer frames per call give the same results)."""
    if n * c * out_h * out_w > MAX_OUTPUT_ELEMENTS:
        raise ValueError(f"the output [N, C, H, W] = [{n}, {c}, {out_h}, {out_w}] would hold more than "
                         f"{MAX_OUTPUT_ELEMENTS} elements; align fewer frames per call (the results are the same)")


def check_mask_dtype(t: torch.Tensor, name: str) -> None:
    if t.dtype not in MASK_DTYPES:
        raise TypeError(f"{name} must be bool, uint8 or floating point (float32, float64, float16, bfloat16), "
                        f"got {t.dtype}")


def check_float_dtype(t: torch.Tensor, name: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {t.dtype}")


def check_same(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str, shape: bool = True) -> None:
    if shape and a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got {list(a.shape)} and {list(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"{a_name} and {b_name} must be on the same device, got {a.device} and {b.device}")


def check_synthesis_args(x: torch.Tensor, x_name: str, sil: torch.Tensor, k: int, threshold: float) -> None:
    check_frames(x, x_name)
    check_frames(sil, "sil")
    check_float_dtype(x, x_name)
    check_mask_dtype(sil, "sil")
    check_same(x, x_name, sil, "sil")
    check_kernel_size(k)
    check_threshold(threshold)
