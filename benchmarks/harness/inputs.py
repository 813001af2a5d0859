"""What the op benchmarks feed: person-like silhouettes, probability maps derived from them, dtypes by name."""

from __future__ import annotations

import torch

__all__ = ["DTYPES", "dtype_name", "silhouettes", "probabilities"]

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def silhouettes(n: int, h: int, w: int, dtype: torch.dtype, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Person-like binary silhouettes ``[n, 1, h, w]``: a torso ellipse plus two leg bars, random size and position,
    so edge bands, boxes and median columns vary per frame as in real data."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1)  # [1, h, 1]
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w)  # [1, 1, w]
    cx = w / 2 + (torch.rand(n, 1, 1, generator=g) - 0.5) * w / 4  # [n, 1, 1]
    top = h * (0.05 + 0.1 * torch.rand(n, 1, 1, generator=g))
    bottom = h * (0.85 + 0.14 * torch.rand(n, 1, 1, generator=g))
    half_w = w * (0.08 + 0.1 * torch.rand(n, 1, 1, generator=g))
    mid = top + 0.55 * (bottom - top)
    torso = ((xx - cx) / half_w) ** 2 + ((yy - (top + mid) / 2) / ((mid - top) / 2)) ** 2 <= 1  # [n, h, w]
    stride = half_w * (0.2 + 0.8 * torch.rand(n, 1, 1, generator=g))
    legs = ((xx - (cx - stride)).abs() < half_w * 0.35) | ((xx - (cx + stride)).abs() < half_w * 0.35)
    legs = legs & (yy >= mid - 2) & (yy < bottom)
    m = (torso | legs).unsqueeze(1)  # [n, 1, h, w] bool
    return m.to(device=device, dtype=dtype)


def probabilities(sil: torch.Tensor, dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    """A segmentation-like probability map ``[n, 1, h, w]``: the silhouette blurred by noise, in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(sil.shape, generator=g).to(sil.device)
    return (0.8 * sil.float() + 0.2 * noise).clamp(0, 1).to(dtype)
