"""GaitGL (Lin et al., ICCV 2021): global-local 3-D convolutions, local temporal aggregation, GeM parts.

Two layouts, as in OpenGait: ``channels`` of length 3 gives the CASIA-B network (one GLConv per stage,
8 local strips); length 4 gives the OUMVLP/GREW network (two 3-D stem convs, pairs of GLConvs, 2 strips).
Module names equal OpenGait's (``conv3d``, ``LTA``, ``GLConvA0``, ``MaxPool0``, ``GLConvA1``, ``GLConvB2``,
``HPP``, ``Head0``, ``Bn``, ``Head1`` / ``BNNecks``), so OpenGait checkpoints load directly.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from ._base import Batch, GaitModel, check_seqL, init_opengait_, output_dict
from ._registry import register_model
from .layers import BasicConv3d, GeMHPP, GLConv, SeparateBNNecks, SeparateFCs, apply_per_sequence

__all__ = ["GaitGL"]


def _repeat_short(x: Tensor) -> Tensor:
    """LTA needs >= 3 frames: repeat a 1-frame clip x3 and a 2-frame clip x2. ``x``: ``[n, 1, s, h, w]``."""
    s = x.shape[2]
    if s < 3:
        x = x.repeat(1, 1, 3 if s == 1 else 2, 1, 1)
    return x


class GaitGL(GaitModel):
    """GaitGL recogniser on size-normalised silhouettes.

    Args:
        num_classes: classes of the softmax head (74 for CASIA-B's training ids).
        channels: stage widths; 3 values = CASIA-B layout, 4 values = OUMVLP/GREW layout.
        parts: horizontal GeM bins (the embedding has this many parts).
        gem_p: initial GeM exponent.
        bnneck: use ``SeparateBNNecks`` (``BNNecks``) as the head instead of ``Bn`` + ``Head1``
            (OpenGait's GREW-BNNeck configuration); the training embedding is then the pre-BN feature.

    Input ``batch["aligned_sils"]``: ``[n, s, H, W]`` (``[1, sum(seqL), H, W]`` with ``seqL``), values in [0, 1];
    ``H`` a multiple of ``parts`` and of 16 (CASIA-B layout) or 4. Output embeddings ``[n, c, parts]``
    (``[n, 128, 64]`` for CASIA-B), logits ``[n, num_classes, parts]``.
    The default ``GaitGL()`` has 3,096,673 parameters.
    """

    input_keys = ("aligned_sils",)

    def __init__(
        self,
        num_classes: int = 74,
        channels: Sequence[int] = (32, 64, 128),
        *,
        parts: int = 64,
        gem_p: float = 6.5,
        bnneck: bool = False,
    ) -> None:
        super().__init__()
        c = tuple(int(v) for v in channels)
        if len(c) not in (3, 4):
            raise ValueError(f"channels must have 3 (CASIA-B) or 4 (OUMVLP/GREW) entries, got {c}")
        self.channels, self.num_classes, self.parts, self.bnneck = c, num_classes, parts, bnneck
        act = lambda: nn.LeakyReLU(inplace=True)  # noqa: E731
        if len(c) == 3:
            self.halving = 3
            self.conv3d = nn.Sequential(BasicConv3d(1, c[0], 3, 1, 1), act())
        else:
            self.halving = 1
            self.conv3d = nn.Sequential(BasicConv3d(1, c[0], 3, 1, 1), act(), BasicConv3d(c[0], c[0], 3, 1, 1), act())
        # local temporal aggregation: every 3 frames -> 1
        self.LTA = nn.Sequential(BasicConv3d(c[0], c[0], (3, 1, 1), (3, 1, 1), 0), act())
        hv = self.halving
        if len(c) == 3:
            self.GLConvA0 = GLConv(c[0], c[1], hv)
            self.MaxPool0 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
            self.GLConvA1 = GLConv(c[1], c[2], hv)
            self.GLConvB2 = GLConv(c[2], c[2], hv, fm_sign=True)
        else:
            self.GLConvA0 = nn.Sequential(GLConv(c[0], c[1], hv), GLConv(c[1], c[1], hv))
            self.MaxPool0 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
            self.GLConvA1 = nn.Sequential(GLConv(c[1], c[2], hv), GLConv(c[2], c[2], hv))
            self.GLConvB2 = nn.Sequential(GLConv(c[2], c[3], hv), GLConv(c[3], c[3], hv, fm_sign=True))
        self.HPP = GeMHPP(bin_num=(parts,), p=gem_p)
        self.Head0 = SeparateFCs(parts, c[-1], c[-1])
        if bnneck:
            self.BNNecks = SeparateBNNecks(parts, c[-1], num_classes)
        else:
            self.Bn = nn.BatchNorm1d(c[-1])
            self.Head1 = SeparateFCs(parts, c[-1], num_classes)
        init_opengait_(self)

    # -- pieces -------------------------------------------------------------------------------------------------
    def check_frame_size(self, h: int, w: int, name: str = "aligned_sils") -> None:
        """ValueError naming ``name`` unless ``h x w`` frames fit the strip/part layout."""
        step = 2 * 2**self.halving  # MaxPool0 halves, then 2**halving strips
        if h < step or h % step or h % self.parts or w < 2:
            raise ValueError(
                f"{name} frames must have a height that is a multiple of {step} and of parts={self.parts} "
                f"(e.g. 64x44) and width >= 2; got {h}x{w}"
            )

    def backbone(self, x: Tensor) -> Tensor:
        """3-D conv stack: ``[n, 1, s, H, W] -> [n, c, s', H, W/2]`` (``s' = (s - 3)//3 + 1`` after LTA)."""
        x = self.conv3d(x)  # [n, c0, s, H, W]
        x = self.LTA(x)  # [n, c0, s', H, W]
        x = self.GLConvA0(x)  # [n, c1, s', H, W]
        x = self.MaxPool0(x)  # [n, c1, s', H/2, W/2]
        x = self.GLConvA1(x)
        return self.GLConvB2(x)  # [n, c, s', H, W/2] (fm_sign doubles the height)

    def encode(self, sils: Tensor, lengths: Optional[List[int]]) -> Tensor:
        """Silhouettes ``[n, s, H, W]`` -> temporally max-pooled maps ``[n', c, H, W/2]``, per sequence."""

        def one(chunk: Tensor) -> Tensor:
            y = self.backbone(_repeat_short(chunk.unsqueeze(1)))  # [b, c, s', h, w]
            return y.max(dim=2)[0]  # [b, c, h, w]

        # 3-D convs mix neighbouring frames, so with seqL every sequence runs on its own
        return apply_per_sequence(one, sils, lengths, dim=1)

    def head(self, feat: Tensor):
        """``[n, c, h, w]`` -> (training embedding, inference embedding, logits), each ``[n, *, parts]``."""
        gait = self.Head0(self.HPP(feat))  # [n, c, p]
        if self.bnneck:
            bnft, logits = self.BNNecks(gait)
            return gait, bnft, logits
        bnft = self.Bn(gait)  # [n, c, p]
        return bnft, bnft, self.Head1(bnft)

    def recognise(self, sils: Tensor, seqL: Optional[Tensor], labels: Optional[Tensor]) -> Dict[str, Dict]:
        """Run the recogniser on ``[n, s, H, W]`` silhouettes and build the output dict."""
        n, s, h, w = sils.shape
        lengths = check_seqL(seqL, sils, "aligned_sils")
        embed, bnft, logits = self.head(self.encode(sils, lengths))
        training = {
            "triplet": {"embeddings": embed, "labels": labels},
            "softmax": {"logits": logits, "labels": labels},
        }
        return output_dict(training, bnft, {"image/sils": sils.reshape(n * s, 1, h, w)})

    # -- public API ---------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Dict[str, Dict]:
        sils = self._get(batch, "aligned_sils", 4, "[n, s, H, W]")
        self.check_frame_size(*sils.shape[-2:])
        return self.recognise(sils, batch.get("seqL"), self._labels(batch))

    @torch.no_grad()
    def embed(self, aligned_sils: Tensor, seqL: Optional[Tensor] = None) -> Tensor:
        """Inference embeddings ``[n, c, parts]`` for silhouettes ``[n, s, H, W]`` or one sequence ``[s, H, W]``.

        Runs in eval mode (restoring the previous mode) under ``no_grad``.
        """
        return self._embed_silhouettes(aligned_sils, seqL)


@register_model("GaitGL")
def gaitgl(**kwargs) -> GaitGL:
    """GaitGL, CASIA-B layout: channels (32, 64, 128), 74 classes, 3,096,673 parameters."""
    return GaitGL(**kwargs)


@register_model("GaitGL-OUMVLP")
def gaitgl_oumvlp(**kwargs) -> GaitGL:
    """GaitGL, OUMVLP layout: channels (32, 64, 128, 256), 5,153 classes."""
    kwargs.setdefault("channels", (32, 64, 128, 256))
    kwargs.setdefault("num_classes", 5153)
    return GaitGL(**kwargs)


@register_model("GaitGL-GREW")
def gaitgl_grew(**kwargs) -> GaitGL:
    """GaitGL, GREW layout: channels (32, 64, 128, 256), 20,000 classes."""
    kwargs.setdefault("channels", (32, 64, 128, 256))
    kwargs.setdefault("num_classes", 20000)
    return GaitGL(**kwargs)
