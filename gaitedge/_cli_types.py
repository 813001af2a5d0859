"""argparse value types shared by the command modules (``gaitedge.cli`` and ``gaitedge.cli_rgb``)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def bounded_int(lo: int, hi: int):
    """argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text!r}")
        return v

    return parse


def bounded_mib(text: str) -> float:
    """argparse type: a finite size in MiB, more than 0 and at most 1 TiB."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 < v <= 2**20:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be a number of MiB above 0 and at most {2**20}, got {text!r}")
    return v
