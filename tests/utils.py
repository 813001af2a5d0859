"""Shared test helpers: devices, dtypes, silhouette factories."""

import pytest
import torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
MASK_DTYPES = [torch.bool, torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64]
FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def random_silhouettes(n: int, h: int, w: int, seed: int = 0, p_noise: float = 0.02) -> torch.Tensor:
    """Blob-like float {0,1} silhouettes [n, 1, h, w]: a random ellipse-ish body plus speckle, drawn on CPU."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.arange(h).view(1, h, 1).float()
    xx = torch.arange(w).view(1, 1, w).float()
    cy = torch.rand(n, 1, 1, generator=g) * h
    cx = torch.rand(n, 1, 1, generator=g) * w
    ry = 1 + torch.rand(n, 1, 1, generator=g) * h / 2
    rx = 1 + torch.rand(n, 1, 1, generator=g) * w / 3
    body = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0  # [n, h, w]
    speckle = torch.rand(n, h, w, generator=g) < p_noise
    return (body ^ speckle).float().unsqueeze(1)


def edge_case_silhouettes(h: int = 16, w: int = 12) -> torch.Tensor:
    """Empty, full, single pixel, touching each border, one-pixel-wide lines: float {0,1} [8, 1, h, w]."""
    s = torch.zeros(8, 1, h, w)
    s[1] = 1  # full frame
    s[2, 0, h // 2, w // 2] = 1  # single pixel
    s[3, 0, :, : w // 3] = 1  # touches left, top, bottom
    s[4, 0, 2 : h - 2, w - 3 :] = 1  # touches right
    s[5, 0, : h // 2, 2 : w - 2] = 1  # touches top
    s[6, 0, h // 2 :, 3:5] = 1  # touches bottom, thin
    s[7, 0, :, w // 2] = 1  # one-pixel-wide vertical line
    s[7, 0, h // 3, :] = 1
    return s


def as_mask_dtype(sil01: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A {0,1} float silhouette in the given mask dtype (uint8 as 0/1)."""
    return sil01.to(dtype)


def float_bits(t: torch.Tensor) -> torch.Tensor:
    """The bit patterns of a float tensor (int of the same width), so that equality also compares the sign of zero
    and NaN payloads."""
    return t.contiguous().view({torch.float64: torch.int64, torch.float32: torch.int32}.get(t.dtype, torch.int16))
