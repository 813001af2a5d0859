"""Training losses keyed by the ``training_feat`` names of the model output contract.

Every loss returns ``(loss, info)``: ``loss`` is a scalar tensor and ``info`` a dict of detached scalars for logging.
:class:`LossAggregator` sums ``weight * loss`` over the configured terms and prefixes each term's info with its name
(``triplet/loss``, ``bce/miou``, ...), which is what the trainer logs.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from gaitedge.distributed import gather_with_grad, get_world_size

__all__ = ["TripletLoss", "CrossEntropyLoss", "BCELoss", "LossAggregator", "build_loss"]


def _at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    # losses are computed in fp32 even under autocast; fp64 stays fp64 (gradcheck)
    return t if t.dtype == torch.float64 else t.float()


def _part_distances(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between all pairs, per part.

    Args:
        x (Tensor[p, n, c]): embeddings, part-major.

    Returns:
        Tensor[p, n, n]: ``sqrt(relu(|a|^2 + |b|^2 - 2 a.b))``.
    """
    sq = (x * x).sum(-1)  # [p, n]
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * torch.matmul(x, x.transpose(1, 2))  # [p, n, n]
    # relu before sqrt: rounding can make d2 slightly negative; the tiny clamp keeps sqrt's gradient finite at 0
    return torch.sqrt(F.relu(d2).clamp_min(1e-12))


class TripletLoss(nn.Module):
    """Batch-all triplet loss per horizontal part (OpenGait's formulation).

    Every anchor ``i`` is paired with every positive ``j`` (same label, including ``i`` itself at distance 0) and
    every negative ``k``; a term is ``relu(d_ij - d_ik + margin)``. Per part the loss is the sum of the terms divided
    by the number of non-zero terms (0 if none), then averaged over parts.

    Args:
        margin: triplet margin.
        gather: under ``torch.distributed``, all-gather embeddings and labels from every rank (only the local slice
            keeps its gradient) and multiply the loss by the world size to cancel DDP's gradient averaging.
        chunk_elems: bounds the ``[p, a, n, n]`` term tensor by processing anchors in chunks.
    """

    def __init__(self, margin: float = 0.2, gather: bool = True, chunk_elems: int = 1 << 24) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = float(margin)
        self.gather = gather
        self.chunk_elems = int(chunk_elems)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Args:
            embeddings (Tensor[n, c, p]): per-part embeddings.
            labels (LongTensor[n]): class indices.

        Returns:
            (Tensor[], dict): the loss and ``{"loss", "hard_loss", "loss_num", "mean_dist"}`` (means over parts).
        """
        if embeddings.dim() != 3:
            raise ValueError(f"triplet: embeddings must be [n, c, p], got shape {tuple(embeddings.shape)}")
        if labels.dim() != 1 or labels.shape[0] != embeddings.shape[0]:
            raise ValueError(f"triplet: labels must be [n] with n={embeddings.shape[0]}, got {tuple(labels.shape)}")
        if embeddings.shape[0] == 0:
            raise ValueError("triplet: empty batch (n = 0)")
        world = 1
        if self.gather:
            world = get_world_size()
            if world > 1:
                embeddings, labels = gather_with_grad(embeddings, labels)
        x = _at_least_fp32(embeddings).permute(2, 0, 1).contiguous()  # [p, n, c]
        p, n, _ = x.shape
        dist = _part_distances(x)  # [p, n, n]
        same = labels.unsqueeze(0) == labels.unsqueeze(1)  # [n, n]
        pos, neg = same, ~same
        total = x.new_zeros(p)
        count = x.new_zeros(p)
        hard = x.new_zeros(p)
        chunk = max(1, self.chunk_elems // max(1, p * n * n))
        for a0 in range(0, n, chunk):
            a1 = min(n, a0 + chunk)
            d = dist[:, a0:a1]  # [p, a, n]
            terms = F.relu(d.unsqueeze(3) - d.unsqueeze(2) + self.margin)  # [p, a, n_pos, n_neg]
            valid = (pos[a0:a1].unsqueeze(2) & neg[a0:a1].unsqueeze(1)).to(terms.dtype)  # [a, n, n]
            terms = terms * valid
            total = total + terms.sum((1, 2, 3))
            count = count + (terms.detach() != 0).sum((1, 2, 3)).to(x.dtype)
            hard = torch.maximum(hard, terms.detach().amax((1, 2, 3)))
        per_part = total / (count + 1e-9)  # [p]; 0/(0+eps) = 0 when every term is satisfied
        loss = per_part.mean() * world
        info = {
            "loss": per_part.detach().mean(),
            "hard_loss": hard.mean(),
            "loss_num": count.mean(),
            "mean_dist": dist.detach().mean(),
        }
        return loss, info


class CrossEntropyLoss(nn.Module):
    """Cross-entropy over every part: ``CE(scale * logits[:, :, j], labels)`` averaged over samples and parts.

    Args:
        scale: multiplies the logits (OpenGait default 16; the GaitEdge configs use 1).
        label_smooth: enable label smoothing with ``eps``.
        eps: label-smoothing amount.
    """

    def __init__(self, scale: float = 1.0, label_smooth: bool = False, eps: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= eps < 1.0:
            raise ValueError(f"eps must be in [0, 1), got {eps}")
        self.scale = float(scale)
        self.smoothing = float(eps) if label_smooth else 0.0

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Args:
            logits (Tensor[n, num_classes, p]): per-part class scores.
            labels (LongTensor[n]): class indices in ``[0, num_classes)``.

        Returns:
            (Tensor[], dict): the loss and ``{"loss", "accuracy"}``.
        """
        if logits.dim() != 3:
            raise ValueError(f"softmax: logits must be [n, num_classes, p], got shape {tuple(logits.shape)}")
        n, k, p = logits.shape
        if labels.dim() != 1 or labels.shape[0] != n:
            raise ValueError(f"softmax: labels must be [n] with n={n}, got {tuple(labels.shape)}")
        if n == 0:
            raise ValueError("softmax: empty batch (n = 0)")
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"softmax: labels must lie in [0, {k}), got range [{labels.min()}, {labels.max()}]")
        target = labels.unsqueeze(1).expand(n, p)  # [n, p]
        loss = F.cross_entropy(_at_least_fp32(logits) * self.scale, target, label_smoothing=self.smoothing)
        acc = (logits.detach().argmax(1) == target).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": acc}


class BCELoss(nn.Module):
    """Binary cross-entropy on probabilities (after the sigmoid), as OpenGait's segmentation loss.

    ``-(y log(x + eps) + (1 - y) log(1 - x + eps))`` averaged over every pixel, computed in fp32.
    The logged ``miou`` is the IoU of ``x > 0.5`` vs ``y > 0.5`` per frame, averaged over frames; a frame whose
    prediction and target are both empty counts as IoU 1 (OpenGait scores it 0).

    Args:
        eps: added inside the logs.
    """

    def __init__(self, eps: float = 1e-9) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, probs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Args:
            probs (Tensor[N, 1, H, W]): probabilities in [0, 1].
            targets (Tensor[N, 1, H, W]): ground truth in {0, 1}.

        Returns:
            (Tensor[], dict): the loss and ``{"loss", "hard_loss", "miou"}``.
        """
        if probs.shape != targets.shape:
            raise ValueError(f"bce: probs {tuple(probs.shape)} and targets {tuple(targets.shape)} differ in shape")
        if probs.dim() < 2 or probs.shape[0] == 0:
            raise ValueError(f"bce: expected a non-empty [N, 1, H, W] batch, got {tuple(probs.shape)}")
        x = _at_least_fp32(probs)
        y = targets.to(x.dtype)
        pix = -(y * torch.log(x + self.eps) + (1.0 - y) * torch.log(1.0 - x + self.eps))  # [N, 1, H, W]
        loss = pix.mean()
        with torch.no_grad():
            pred = (x > 0.5).flatten(1)  # [N, HW]
            gt = (y > 0.5).flatten(1)
            inter = (pred & gt).sum(1).float()
            union = (pred | gt).sum(1).float()
            iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        return loss, {"loss": loss.detach(), "hard_loss": pix.detach().max(), "miou": iou.mean()}


_LOSSES = {"triplet": TripletLoss, "softmax": CrossEntropyLoss, "bce": BCELoss}


def build_loss(kind: str, **kwargs) -> nn.Module:
    """Build a loss by its kind (``"triplet"``, ``"softmax"``, ``"bce"``) from keyword arguments."""
    if kind not in _LOSSES:
        raise ValueError(f"unknown loss type {kind!r}; expected one of {sorted(_LOSSES)}")
    try:
        return _LOSSES[kind](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for loss {kind!r}: {e}") from None


class LossAggregator(nn.Module):
    """Weighted sum of losses, one per ``training_feat`` key.

    Args:
        losses: ``{name: (loss_module, weight)}``; ``name`` must match a key of the model's ``training_feat``.

    ``forward(training_feat)`` returns ``(total, info)`` where ``info`` holds ``"<name>/<field>"`` for every field a
    loss logs, ``"<name>/weighted"`` and ``"total"``. A key in ``training_feat`` without a configured loss, or a
    configured loss missing from ``training_feat``, is an error: a silently dropped loss trains the wrong model.
    """

    def __init__(self, losses: Mapping[str, tuple[nn.Module, float]]) -> None:
        super().__init__()
        if not losses:
            raise ValueError("LossAggregator needs at least one loss")
        self.terms = nn.ModuleDict({k: v[0] for k, v in losses.items()})
        self.weights = {k: float(v[1]) for k, v in losses.items()}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Mapping]) -> "LossAggregator":
        """Build from ``{name: {"type": kind (defaults to name), "weight": w, **kwargs}}``."""
        built = {}
        for name, spec in cfg.items():
            spec = dict(spec or {})
            kind = spec.pop("type", name)
            weight = spec.pop("weight", 1.0)
            built[name] = (build_loss(kind, **spec), weight)
        return cls(built)

    def forward(self, training_feat: Mapping[str, Mapping]) -> tuple[torch.Tensor, dict]:
        missing = set(self.weights) - set(training_feat)
        extra = set(training_feat) - set(self.weights)
        if missing or extra:
            raise KeyError(
                f"loss config and model training_feat disagree: configured but not produced {sorted(missing)}, "
                f"produced but not configured {sorted(extra)}"
            )
        total = None
        info: dict[str, float] = {}
        for name, loss_fn in self.terms.items():
            value, term_info = loss_fn(**training_feat[name])
            weighted = self.weights[name] * value
            total = weighted if total is None else total + weighted
            for k, v in term_info.items():
                info[f"{name}/{k}"] = float(v)
            info[f"{name}/weighted"] = float(weighted.detach())
        info["total"] = float(total.detach())
        if not math.isfinite(info["total"]):
            info["nonfinite"] = 1.0
        return total, info
