"""GaitEdge (Liang et al., ECCV 2022): U-Net segmenter -> Gait Synthesis -> GaitAlign -> GaitGL, trained end to end.

``edge=False`` gives GaitGL-E2E, the paper's float-mask baseline: the whole probability map is aligned (box from
``round(P)``) and fed to GaitGL. Module names are OpenGait's (GaitGL's layers at top level, the U-Net under
``Backbone``), so ``GaitEdge-*.pt`` checkpoints load directly and ours load back into OpenGait.

Where GaitEdge's binary mask ``M`` comes from (``mask_source``); the interior ``erode(M)``, the edge band
``dilate(M) xor erode(M)`` and GaitAlign's box all come from it:

- ``"frozen"`` (default; paper §4.1): ``M = (P0 > 0.5)`` from a frozen copy of the phase-1 segmenter, held under
  ``Frozen.Backbone`` (no gradient, always in eval mode). Only the edge band of the trainable segmenter's ``P``
  reaches GaitGL, and the mask does not drift as phase 2 fine-tunes the decoder. Inference needs RGB frames and
  box ratios only. Initialise ``Frozen`` from the phase-1 ``Segmentation`` checkpoint (an init entry with
  ``prefix: "Frozen."``, or :func:`gaitedge.models.load_opengait_checkpoint`, which fills both copies from a
  U-Net-only file).
- ``"silhouette"`` (OpenGait's released code): the ground-truth ``batch["sils"]``, in training and at test time.
- ``"trainable"`` (an ablation): ``M = (P > 0.5)`` from the very segmenter phase 2 trains, detached, so the
  mask, and with it the interior and the box, follows the decoder's drift.

GaitGL-E2E always takes its box from ``round(P)``, whatever ``mask_source`` says (as OpenGait).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as gnn
from ._base import Batch, check_seqL
from ._registry import register_model
from .gaitgl import GaitGL
from .unet import UNet, check_chunk_mib, check_flag

__all__ = ["GaitEdge", "FrozenSegmenter", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MASK_SOURCES = ("frozen", "silhouette", "trainable")
_ALIGN_MODES = ("opengait", "exact")
_BACKENDS = ("fused", "reference")


class FrozenSegmenter(nn.Module):
    """A U-Net (under ``Backbone``, like a ``Segmentation`` checkpoint) that never changes: its parameters take no
    gradient and it stays in eval mode (BatchNorm uses the running statistics) whatever ``train()`` is called with.

    ``[N, 3, H, W]`` -> probabilities ``[N, 1, H, W]``, computed under ``no_grad``.
    """

    def __init__(self, channels: Sequence[int], inference_chunk_mib: float = 8.0, inference_subpixel: bool = True
                 ) -> None:
        super().__init__()
        self.Backbone = UNet(3, channels, freeze_encoder=False, inference_chunk_mib=inference_chunk_mib,
                             inference_subpixel=inference_subpixel)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenSegmenter":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.Backbone(x))


class GaitEdge(GaitGL):
    """GaitEdge / GaitGL-E2E on 128x128 RGB person crops.

    Args:
        num_classes: GaitGL softmax classes (74 for CASIA-B).
        channels: GaitGL stage widths (see ``GaitGL``).
        edge: True for GaitEdge (synthesis: trainable edge band + binary interior); False for GaitGL-E2E.
        align: True for GaitAlign; False resizes the whole 128x128 map to ``out_size`` (aspect ratio not kept).
        kernel_size: structuring element of the edge band (3 in the paper; Table 4 tries 5, 7, 9).
        align_mode: ``"opengait"`` (OpenGait's box arithmetic, bit for bit) or ``"exact"`` (the lead's corrected
            box; see gaitedge.nn.GaitAlign).
        mask_source: ``"frozen"``, ``"silhouette"`` or ``"trainable"`` (module docstring); used by GaitEdge
            only (``edge=True``).
        ops_backend: ``"fused"`` (compiled kernels, ``gaitedge._C``) or ``"reference"`` (pure PyTorch, no compiled
            extension needed), passed to the ``gaitedge.nn`` layers.
        freeze_encoder: freeze the U-Net encoder (the paper's joint training does).
        seg_channels: U-Net encoder widths.
        seg_inference_chunk_mib, seg_inference_subpixel: both U-Nets' ``inference_chunk_mib`` and
            ``inference_subpixel`` (see ``UNet``).
        out_size: aligned silhouette size ``(H, W)`` fed to GaitGL.
        parts, gem_p, bnneck: see ``GaitGL``.

    Batch: ``rgbs`` ``[n, s, 3, H, W]`` (ImageNet-normalised), ``ratios`` ``[n, s]`` (w/h of the person's box in
    the original frame), ``sils`` ``[n, s, H, W]`` (needed for ``mask_source="silhouette"``; when present the
    output also holds the ``bce`` term), optional ``labels`` and ``seqL``, and optional ``frozen_masks``
    ``[n, s, H, W]`` bool: the frozen segmenter's masks already computed for these frames (an evaluation that
    segmented the test set once shares them; see :mod:`gaitedge.evaluation.segmenter_predictions`).
    """

    input_keys = ("rgbs", "ratios")

    def __init__(
        self,
        num_classes: int = 74,
        channels: Sequence[int] = (32, 64, 128),
        *,
        edge: bool = True,
        align: bool = True,
        kernel_size: int = 3,
        align_mode: str = "opengait",
        mask_source: str = "frozen",
        ops_backend: str = "fused",
        freeze_encoder: bool = True,
        seg_channels: Sequence[int] = (16, 32, 64, 128),
        out_size: Tuple[int, int] = (64, 44),
        parts: int = 64,
        gem_p: float = 6.5,
        bnneck: bool = False,
        seg_inference_chunk_mib: float = 8.0,
        seg_inference_subpixel: bool = True,
    ) -> None:
        for name, value, allowed in (
            ("mask_source", mask_source, _MASK_SOURCES),
            ("align_mode", align_mode, _ALIGN_MODES),
            ("ops_backend", ops_backend, _BACKENDS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size!r}")
        super().__init__(num_classes, channels, parts=parts, gem_p=gem_p, bnneck=bnneck)
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.check_frame_size(*self.out_size, name="out_size")
        self.edge, self.align, self.kernel_size = bool(edge), bool(align), kernel_size
        self.align_mode, self.mask_source, self.ops_backend = align_mode, mask_source, ops_backend
        self.Backbone = UNet(3, seg_channels, freeze_encoder=freeze_encoder,
                             inference_chunk_mib=check_chunk_mib(seg_inference_chunk_mib, "seg_inference_chunk_mib"),
                             inference_subpixel=check_flag(seg_inference_subpixel, "seg_inference_subpixel"))
        if self.edge and mask_source == "frozen":
            self.Frozen = FrozenSegmenter(seg_channels, seg_inference_chunk_mib, seg_inference_subpixel)

        H, W = self.out_size
        self.gait_synthesis = gnn.GaitSynthesis(kernel_size=kernel_size, backend=ops_backend)
        self.gait_align = gnn.GaitAlign(H=H, W=W, mode=align_mode, backend=ops_backend)
        self.edge_align = gnn.GaitEdgeAlign(kernel_size=kernel_size, H=H, W=W, mode=align_mode, backend=ops_backend)

    @property
    def needs_sils(self) -> bool:
        """Whether ``forward`` needs ground-truth ``sils`` (only silhouette-mode GaitEdge does)."""
        return self.edge and self.mask_source == "silhouette"

    # -- pieces -------------------------------------------------------------------------------------------------
    def _inputs(self, batch: Batch):
        rgbs = self._get(batch, "rgbs", 5, "[n, s, 3, H, W]")
        n, s, c, h, w = rgbs.shape
        if c != 3:
            raise ValueError(f"batch['rgbs'] must have 3 channels (RGB) on axis 2; got shape {tuple(rgbs.shape)}")
        m = self.Backbone.min_size
        if h < m or w < m or h % m or w % m:
            raise ValueError(f"batch['rgbs'] frames must be at least {m}x{m} and multiples of {m}; got {h}x{w}")
        ratios = self._get(batch, "ratios", 2, "[n, s]") if batch.get("ratios") is not None or self.align else None
        if ratios is not None and tuple(ratios.shape) != (n, s):
            raise ValueError(f"batch['ratios'] must be [n, s] = {(n, s)} to match rgbs; got {tuple(ratios.shape)}")
        frozen = batch.get("frozen_masks")
        if frozen is not None and (not isinstance(frozen, Tensor) or frozen.dtype != torch.bool
                                   or tuple(frozen.shape) != (n, s, h, w)):
            got = f"{frozen.dtype} {tuple(frozen.shape)}" if isinstance(frozen, Tensor) else type(frozen).__name__
            raise ValueError(f"batch['frozen_masks'] must be a bool tensor [n, s, H, W] = {(n, s, h, w)}; got {got}")
        sils = batch.get("sils")
        if sils is None and self.needs_sils:
            raise ValueError("GaitEdge(mask_source='silhouette') needs batch['sils'] [n, s, H, W]")
        if sils is not None and tuple(sils.shape) != (n, s, h, w):
            raise ValueError(
                f"batch['sils'] must be [n, s, H, W] = {(n, s, h, w)} to match rgbs; got {tuple(sils.shape)}"
            )
        return rgbs, ratios, sils, frozen

    def _resize(self, x: Tensor) -> Tensor:
        # align=False: plain resize of the whole crop, like OpenGait's torchvision Resize (bilinear, antialiased)
        return F.interpolate(x, size=self.out_size, mode="bilinear", align_corners=False, antialias=True)

    def edge_mask(self, rgbs: Tensor, probs: Tensor, sils: Optional[Tensor],
                  frozen_masks: Optional[Tensor] = None) -> Tensor:
        """GaitEdge's binary mask ``M`` ``[N, 1, H, W]`` for RGB frames ``[N, 3, H, W]``, their probabilities ``P``
        ``[N, 1, H, W]`` and the ground truth ``[N, 1, H, W]`` (``mask_source``, module docstring). Bool where the
        mask comes from a segmenter: the ops treat a bool mask exactly as a 0/1 float one (same boxes, interior
        value 1) but read a byte per pixel and take integer box sums. ``frozen_masks`` ``[N, 1, H, W]`` bool, when
        given in frozen mode, is taken as ``Frozen(rgbs) > 0.5`` already computed (the frozen U-Net is not run)."""
        if self.mask_source == "silhouette":
            return sils.to(probs.dtype)
        if self.mask_source == "frozen":
            if frozen_masks is not None:
                return frozen_masks
            return self.Frozen(rgbs) > 0.5
        return probs.detach() > 0.5

    def silhouettes(self, probs: Tensor, ratios: Optional[Tensor], mask: Optional[Tensor] = None) -> Tensor:
        """Probabilities ``[N, 1, H, W]`` (+ ratios ``[N]``, GaitEdge's binary ``mask`` ``[N, 1, H, W]``, default
        ``P > 0.5``) -> GaitGL input ``[N, 1, out_H, out_W]``: synthesis (edge mode) and GaitAlign (or resize)."""
        if self.edge:
            if mask is None:
                mask = probs.detach() > 0.5
            if self.align:
                return self.edge_align(probs, mask, ratios)  # fused synthesis + align
            return self._resize(self.gait_synthesis(probs, mask))
        if self.align:
            return self.gait_align(probs, probs.detach() > 0.5, ratios)
        return self._resize(probs)

    # -- public API ---------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Dict[str, Dict]:
        rgbs, ratios, sils, frozen = self._inputs(batch)
        n, s, c, h, w = rgbs.shape
        check_seqL(batch.get("seqL"), rgbs, "rgbs")
        frames = rgbs.reshape(n * s, c, h, w)  # [N, 3, H, W]
        probs = torch.sigmoid(self.Backbone(frames))  # [N, 1, H, W]
        targets = None if sils is None else sils.reshape(n * s, 1, h, w)
        frozen = None if frozen is None else frozen.reshape(n * s, 1, h, w)
        mask = self.edge_mask(frames, probs, targets, frozen) if self.edge else None
        roi = self.silhouettes(probs, None if ratios is None else ratios.reshape(n * s), mask)  # [N, 1, 64, 44]
        out = self.recognise(roi.reshape(n, s, *self.out_size), batch.get("seqL"), self._labels(batch))
        if targets is not None:
            out["training_feat"]["bce"] = {"probs": probs, "targets": targets.to(probs.dtype)}
        out["visual_summary"]["image/roi"] = roi
        out["visual_summary"]["image/probs"] = probs
        return out

    @staticmethod
    def normalize_rgb(rgbs: Tensor) -> Tensor:
        """uint8 RGB ``[..., 3, H, W]`` in 0-255 -> float ImageNet-normalised."""
        mean = torch.tensor(IMAGENET_MEAN, device=rgbs.device).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=rgbs.device).view(3, 1, 1)
        return (rgbs.float() / 255.0 - mean) / std

    @torch.no_grad()
    def embed(
        self, rgbs: Tensor, ratios: Tensor, sils: Optional[Tensor] = None, seqL: Optional[Tensor] = None
    ) -> Tensor:
        """Gait embeddings ``[n, 128, 64]`` from RGB person crops.

        Args:
            rgbs: ``[n, s, 3, H, W]`` or one sequence ``[s, 3, H, W]``: crops of the tight person box stretched
                to ``H x W`` (128x128). ``uint8`` (0-255) is ImageNet-normalised here; float input is taken as
                already normalised.
            ratios: ``[n, s]`` or ``[s]``: width/height of the person's box in the original frame.
            sils: ground-truth silhouettes, only for ``mask_source="silhouette"``.
            seqL: per-sequence lengths when sequences are concatenated (``rgbs`` ``[1, sum(seqL), 3, H, W]``).

        Runs in eval mode (restoring the previous mode) under ``no_grad``.
        """
        if not isinstance(rgbs, Tensor) or not isinstance(ratios, Tensor):
            raise TypeError("rgbs and ratios must be tensors")
        if rgbs.dim() == 4:
            rgbs, ratios = rgbs.unsqueeze(0), ratios.reshape(1, -1)
            sils = None if sils is None else sils.unsqueeze(0)
        if rgbs.dtype == torch.uint8:
            rgbs = self.normalize_rgb(rgbs)
        ratios = ratios.float()
        self._check_finite(rgbs, "rgbs")
        self._check_finite(ratios, "ratios")
        if ratios.numel() and bool((ratios <= 0).any()):
            raise ValueError("ratios must be positive (width/height of the person's box)")
        was_training = self.training
        self.eval()
        try:
            out = self({"rgbs": rgbs, "ratios": ratios, "sils": None if sils is None else sils.float(), "seqL": seqL})
            return out["inference_feat"]["embeddings"]
        finally:
            self.train(was_training)


@register_model("GaitEdge")
def gaitedge(**kwargs) -> GaitEdge:
    """GaitEdge (edge=True): U-Net (537,425) + GaitGL (3,096,673) = 3,634,098 parameters, plus the frozen U-Net copy
    (537,425, never trained) that ``mask_source="frozen"``, the default, reads its masks from."""
    return GaitEdge(**kwargs)


@register_model("GaitGL-E2E")
def gaitgl_e2e(**kwargs) -> GaitEdge:
    """GaitGL-E2E: GaitEdge without synthesis (the soft map is aligned and fed to GaitGL)."""
    kwargs.setdefault("edge", False)
    return GaitEdge(**kwargs)
