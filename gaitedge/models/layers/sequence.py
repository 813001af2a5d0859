"""Frame-wise and per-sequence helpers: the ``seqL`` convention of the batch contract.

When sequences of different lengths share a batch they are concatenated along the frame axis (leading
shape ``[1, sum(seqL), ...]``); every temporal operation must then run per segment so no sequence sees
another one's frames.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import Tensor, nn

__all__ = ["SetBlock", "seq_lengths", "temporal_max", "apply_per_sequence"]


def seq_lengths(seqL: Optional[Tensor]) -> Optional[List[int]]:
    """``seqL`` (LongTensor ``[n]``, or OpenGait's ``[[...]]`` nesting) as a Python list, or None."""
    if seqL is None:
        return None
    if isinstance(seqL, (list, tuple)):
        seqL = torch.as_tensor(seqL[0] if len(seqL) == 1 and not isinstance(seqL[0], int) else seqL)
    return [int(v) for v in seqL.reshape(-1).tolist()]


def apply_per_sequence(fn: Callable[[Tensor], Tensor], x: Tensor, lengths: Optional[List[int]], dim: int) -> Tensor:
    """Run ``fn`` on each sequence and concatenate the results along the batch axis.

    Args:
        fn: maps one chunk ``[1, ..., s_i, ...]`` (or the whole batch) to ``[b, ...]``.
        x: ``[n, ..., s, ...]`` with frames on ``dim``; ``n == 1`` when ``lengths`` is given.
        lengths: per-sequence frame counts (sum equals ``x.shape[dim]``), or None for one call on ``x``.
        dim: the frame axis.

    Returns:
        ``fn(x)`` when ``lengths`` is None, else ``cat([fn(chunk_i)], dim=0)`` with one row per sequence.
    """
    if lengths is None:
        return fn(x)
    return torch.cat([fn(chunk) for chunk in x.split(lengths, dim=dim)], dim=0)


def temporal_max(x: Tensor, lengths: Optional[List[int]], dim: int = 2) -> Tensor:
    """Max over frames, per sequence: ``[n, c, s, ...] -> [n', c, ...]`` (``n' = len(lengths)`` if given).

    Uses ``Tensor.max`` (gradient to one arg-max frame, as OpenGait's ``torch.max``), not ``amax``.
    """
    return apply_per_sequence(lambda t: t.max(dim=dim)[0], x, lengths, dim)


class SetBlock(nn.Module):
    """Apply a 2-D block to every frame: ``[n, c, s, h, w] -> [n, c', s, h', w']``.

    The wrapped block lives at ``forward_block`` (OpenGait's ``SetBlockWrapper`` naming).
    """

    def __init__(self, forward_block: nn.Module) -> None:
        super().__init__()
        self.forward_block = forward_block

    def forward(self, x: Tensor) -> Tensor:
        n, c, s = x.shape[:3]
        frames = x.transpose(1, 2).reshape(n * s, c, *x.shape[3:])  # [n*s, c, h, w]
        y = self.forward_block(frames)  # [n*s, c', ...]
        return y.reshape(n, s, *y.shape[1:]).transpose(1, 2)  # [n, c', s, ...]
