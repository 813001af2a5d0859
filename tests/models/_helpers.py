"""Tiny deterministic inputs for the model tests."""

import torch


def sil_batch(n=2, s=4, h=64, w=44, labels=True):
    sils = (torch.rand(n, s, h, w) > 0.5).float()
    batch = {"aligned_sils": sils, "seqL": None}
    if labels:
        batch["labels"] = torch.arange(n)
    return batch


def person_sils(n, s, h=128, w=128):
    """Rectangles of varying width (a crude person) in ``[n, s, h, w]``."""
    sils = torch.zeros(n, s, h, w)
    for i in range(n):
        for j in range(s):
            half = 8 + (i + j) % 6
            sils[i, j, h // 8 : h - h // 8, w // 2 - half : w // 2 + half] = 1.0
    return sils
