"""The paper's segmenter: a 4-level U-Net (channels 3-16-32-64-128-64-32-16-1), and its phase-1 wrapper.

Attribute names follow OpenGait's ``U_Net`` (``Conv1..Conv4``, ``Up4``, ``Up_conv4``, ..., ``Conv_1x1``) so
state-dict keys are OpenGait's; the ``Segmentation`` wrapper puts the network under ``Backbone`` as
OpenGait's phase-1 model does.
"""

from __future__ import annotations

import contextlib
import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import Batch, GaitModel, check_seqL, init_opengait_, output_dict
from ._registry import register_model

__all__ = ["UNet", "Segmentation", "ConvBlock", "UpConv", "check_chunk_mib", "check_flag", "subpixel_weight"]


def check_flag(value: bool, name: str) -> bool:
    """``value``; ValueError naming ``name`` unless it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def check_chunk_mib(value: float, name: str = "inference_chunk_mib") -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (0 turns slicing off), got {value!r}")
    return float(value)


class ConvBlock(nn.Module):
    """[Conv 3x3 (bias) -> BN -> ReLU] x 2, at attribute ``conv``. ``[N, c_in, H, W] -> [N, c_out, H, W]``."""

    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(ch_in, ch_out, 3, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch_out, ch_out, 3, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class UpConv(nn.Module):
    """Nearest x2 upsample -> Conv 3x3 (bias) -> BN -> ReLU, at attribute ``up``: ``[N, c, H, W] -> [N, c', 2H, 2W]``.
    """

    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(ch_in, ch_out, 3, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor, subpixel: Optional[Tensor] = None) -> Tensor:
        """``subpixel``: this block's ``subpixel_weight`` (inference), or None for the plain path."""
        if subpixel is None:
            return self.up(x)
        _, conv, bn, relu = self.up
        # nearest x2 then a 3x3 conv is, per output pixel parity, a 2x2 conv of the input: one stride-2 transposed
        # conv with the taps summed, 4/9 of the multiply-adds and no upsampled copy (float re-association only)
        y = F.conv_transpose2d(x, subpixel, conv.bias, stride=2, padding=1)  # [N, c', 2H, 2W]
        return relu(bn(y))


_SUBPIXEL_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def subpixel_weight(weight: Tensor) -> Tensor:
    """3x3 conv weight ``[c_out, c_in, 3, 3]`` -> the ``[c_in, c_out, 4, 4]`` weight of the stride-2, padding-1
    transposed conv equal to nearest x2 upsampling followed by that conv. Output row ``2m`` reads input rows
    ``m-1`` (tap 0) and ``m`` (taps 1 + 2), row ``2m+1`` reads ``m`` (taps 0 + 1) and ``m+1`` (tap 2); the transposed
    conv's kernel index ``k`` for input row ``i`` and output row ``o`` is ``o - 2i + 1``. Same for columns."""
    a = weight.new_tensor(_SUBPIXEL_TAPS)  # [4, 3]: transposed-conv tap <- sum of 3x3 taps
    k = torch.einsum("ya,oiab,xb->ioyx", a, weight, a)  # [c_in, c_out, 4, 4]
    if weight.is_contiguous(memory_format=torch.channels_last):
        k = k.contiguous(memory_format=torch.channels_last)
    return k


class UNet(nn.Module):
    """U-Net segmenter returning one logit per pixel (apply ``sigmoid`` for probabilities).

    Args:
        in_channels: input channels (3 for RGB).
        channels: encoder widths, one per level (the paper: 16, 32, 64, 128); the decoder mirrors them.
        freeze_encoder: freeze the encoder (``Conv1..ConvL``): ``requires_grad=False`` and run it under
            ``no_grad``, as the paper's joint training does. Its BatchNorm layers stay in train mode (OpenGait's
            behaviour): batch statistics are used and running statistics keep updating unless ``eval()``.
            Default False (OpenGait's ``freeze_half`` defaults to True, so its phase-1 encoder never trains).
        inference_chunk_mib: on CPU, when no autograd graph is recorded and no BatchNorm is in training mode, run
            the batch in balanced slices whose widest activation stays near this many MiB, and never under
            ``MIN_SLICE`` frames (0 turns slicing off). Large batches run 1.3-1.8x faster: a whole batch's
            activations are fresh ``mmap`` pages that fault in on every call. The outputs are the whole batch's,
            bit for bit, on the CPU tested (``tests/models/test_unet_inference.py``): oneDNN picks its
            kernels by batch size, and below 16 frames its 1x1 convolution can round differently (as any smaller
            batch would).
        inference_subpixel: in ``torch.inference_mode`` with no BatchNorm in training mode, run each decoder
            upsampling (nearest x2, then a 3x3 conv) as the one stride-2 transposed conv it equals
            (``subpixel_weight``): 1.1-1.2x faster inference, logits within float re-association of the plain path
            (about 4e-7). Training, ``no_grad`` passes (a frozen copy inside a training step) and ``False`` run
            the plain path, bit for bit as before.

    Shapes: ``[N, in_channels, H, W] -> [N, 1, H, W]``, ``H`` and ``W`` multiples of ``2**(len(channels)-1)``.
    With the defaults it has 537,425 parameters (242,945 in the decoder).
    """

    MIN_SLICE = 16  # frames; see inference_chunk_mib

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (16, 32, 64, 128), freeze_encoder: bool = False,
                 inference_chunk_mib: float = 8.0, inference_subpixel: bool = True):
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"channels needs at least two levels, got {tuple(channels)}")
        self.in_channels = in_channels
        self.channels = tuple(int(c) for c in channels)
        self.levels = len(self.channels)
        self.Maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        widths = (in_channels,) + self.channels
        for i in range(1, self.levels + 1):
            setattr(self, f"Conv{i}", ConvBlock(widths[i - 1], widths[i]))
        for i in range(self.levels, 1, -1):
            setattr(self, f"Up{i}", UpConv(widths[i], widths[i - 1]))
            setattr(self, f"Up_conv{i}", ConvBlock(2 * widths[i - 1], widths[i - 1]))
        self.Conv_1x1 = nn.Conv2d(self.channels[0], 1, kernel_size=1)
        self.inference_chunk_mib = check_chunk_mib(inference_chunk_mib)
        self.inference_subpixel = check_flag(inference_subpixel, "inference_subpixel")
        init_opengait_(self)
        self.encoder_frozen = False
        self.set_encoder_frozen(freeze_encoder)

    def encoder_modules(self) -> list:
        """The encoder blocks ``[Conv1, ..., ConvL]``."""
        return [getattr(self, f"Conv{i}") for i in range(1, self.levels + 1)]

    def set_encoder_frozen(self, frozen: bool) -> "UNet":
        """Freeze (or unfreeze) the encoder: sets ``requires_grad`` and whether it runs under ``no_grad``."""
        self.encoder_frozen = bool(frozen)
        for m in self.encoder_modules():
            m.requires_grad_(not frozen)
        return self

    @property
    def min_size(self) -> int:
        """Input height and width must be multiples of this (one factor 2 per pooling)."""
        return 2 ** (self.levels - 1)

    def check_input(self, x: Tensor, name: str = "x") -> None:
        """ValueError naming ``name`` unless ``x`` is ``[N, in_channels, H, W]`` with valid ``H, W``."""
        if x.dim() != 4:
            raise ValueError(f"{name} must be [N, {self.in_channels}, H, W]; got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{name} must have {self.in_channels} channels; got {x.shape[1]} (shape {tuple(x.shape)})")
        h, w = x.shape[-2:]
        m = self.min_size
        if h < m or w < m or h % m or w % m:
            raise ValueError(f"{name} frames must be at least {m}x{m} and multiples of {m} for this U-Net; got {h}x{w}")

    def _bn_training(self) -> bool:
        return any(m.training for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))

    def chunk_frames(self, x: Tensor) -> int:
        """Frames per slice for ``x`` ``[N, C, H, W]`` in inference (``inference_chunk_mib``), 0 for one pass: the
        widest activation is a decoder ``cat`` of ``2 * channels[i]`` maps at level ``i``."""
        if not self.inference_chunk_mib or x.device.type != "cpu" or torch.is_grad_enabled():
            return 0
        if self._bn_training():
            return 0  # batch statistics: a slice would normalise differently
        h, w = x.shape[-2:]
        widest = max(2 * c * (h >> i) * (w >> i) for i, c in enumerate(self.channels)) * x.element_size()
        frames = max(self.MIN_SLICE, int(self.inference_chunk_mib * 2**20) // max(widest, 1))
        return frames if x.shape[0] >= 2 * frames else 0

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C, H, W]`` image batch -> ``[N, 1, H, W]`` logits."""
        self.check_input(x)
        up_weights = None
        if self.inference_subpixel and torch.is_inference_mode_enabled() and not self._bn_training():
            up_weights = {i: subpixel_weight(getattr(self, f"Up{i}").up[1].weight) for i in range(2, self.levels + 1)}
        frames = self.chunk_frames(x)
        if frames:
            # balanced slices of frames..2*frames-1 frames, so no short remainder takes another oneDNN kernel
            return torch.cat([self._forward(part, up_weights) for part in x.tensor_split(x.shape[0] // frames)])
        return self._forward(x, up_weights)

    def _forward(self, x: Tensor, up_weights: Optional[Dict[int, Tensor]] = None) -> Tensor:
        if self.Conv1.conv[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # follow the weights' layout (callers pass NCHW)
        ctx = torch.no_grad() if self.encoder_frozen else contextlib.nullcontext()
        skips = []
        with ctx:
            for i, block in enumerate(self.encoder_modules()):
                x = block(x if i == 0 else self.Maxpool(x))  # [N, c_i, H/2^i, W/2^i]
                skips.append(x)
        d = skips.pop()
        for i in range(self.levels, 1, -1):
            d = getattr(self, f"Up{i}")(d, None if up_weights is None else up_weights[i])  # [N, c_{i-1}, 2h, 2w]
            d = getattr(self, f"Up_conv{i}")(torch.cat([skips.pop(), d], dim=1))
        return self.Conv_1x1(d)  # [N, 1, H, W]


class Segmentation(GaitModel):
    """Phase-1 segmentation model: ``UNet`` under ``Backbone`` with the batch/output contract.

    Reads ``batch["rgbs"]`` ``[n, s, 3, H, W]`` and (when present) ``batch["sils"]`` ``[n, s, H, W]``.
    Returns ``training_feat["bce"] = {"probs", "targets"}`` (when sils are given) and
    ``inference_feat = {"probs": [N, 1, H, W], "targets": [N, 1, H, W] or None}`` with ``N = n*s``.

    Args:
        in_channels: see ``UNet``.
        channels: see ``UNet``.
        freeze_encoder: see ``UNet`` (default False: phase 1 trains the whole network).
        inference_chunk_mib, inference_subpixel: see ``UNet``.
    """

    input_keys = ("rgbs", "sils")

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (16, 32, 64, 128), freeze_encoder: bool = False,
                 inference_chunk_mib: float = 8.0, inference_subpixel: bool = True):
        super().__init__()
        self.Backbone = UNet(in_channels, channels, freeze_encoder, inference_chunk_mib, inference_subpixel)

    def forward(self, batch: Batch) -> Dict[str, Dict]:
        rgbs = self._get(batch, "rgbs", 5, "[n, s, 3, H, W]")
        n, s, c, h, w = rgbs.shape
        check_seqL(batch.get("seqL"), rgbs, "rgbs")
        sils: Optional[Tensor] = batch.get("sils")
        if sils is not None and tuple(sils.shape) != (n, s, h, w):
            raise ValueError(
                f"batch['sils'] must be [n, s, H, W] = {(n, s, h, w)} to match rgbs; got {tuple(sils.shape)}"
            )
        probs = torch.sigmoid(self.Backbone(rgbs.reshape(n * s, c, h, w)))  # [N, 1, H, W]
        targets = None if sils is None else sils.reshape(n * s, 1, h, w).to(probs.dtype)
        training = {} if targets is None else {"bce": {"probs": probs, "targets": targets}}
        visual = {"image/probs": probs, "image/pred": (probs > 0.5).to(probs.dtype)}
        if targets is not None:
            visual["image/sils"] = targets
        return output_dict(training, None, visual, probs=probs, targets=targets)


@register_model("UNet")
def unet(**kwargs) -> UNet:
    """The paper's U-Net segmenter (537,425 parameters); takes ``[N, 3, H, W]`` tensors, returns logits."""
    return UNet(**kwargs)


@register_model("Segmentation")
def segmentation(**kwargs) -> Segmentation:
    """Phase-1 segmentation model (U-Net under ``Backbone``, batch/output contract, BCE term)."""
    return Segmentation(**kwargs)
