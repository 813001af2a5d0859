"""Draws docs/img/gaitalign_modes.png: GaitAlign's "opengait" and "exact" modes on the same frames.

Rows: SynthGait silhouettes (tight crop stretched to 128 x 128, as in CASIA-B*) and a mask touching the left border.
Columns: the 128 x 128 input, then each mode at r = 0.35, 0.6 and 1.0 (64 x 44 outputs).
Run: python docs/figures/gaitalign_modes.py
"""

from pathlib import Path

import numpy as np
import torch

import gaitedge.ops as ops
from gaitedge.data.png import write_png
from gaitedge.data.synth.generator import SynthGait

RATIOS = (0.35, 0.6, 1.0)
GAP = 4


def frames() -> torch.Tensor:
    gen = SynthGait(domain="indoor", subjects=2, seed=3)
    seq = gen.sequence(0, "nm-01", "090")
    sils = torch.from_numpy(np.asarray(seq["sils"][[3, 12]])).float()  # [2, 128, 128]
    sils = (sils > (127 if sils.max() > 1 else 0.5)).float()
    left = torch.zeros(128, 128)
    left[10:120, 0:22] = 1  # a person cut by the left border
    return torch.cat([sils, left[None]]).unsqueeze(1)  # [3, 1, 128, 128]


def tile(img: torch.Tensor, h: int) -> np.ndarray:
    """[hh, ww] in [0, 1] -> uint8 [h, ww'] padded at the bottom to height h."""
    out = np.zeros((h, img.shape[1]), np.uint8)
    out[: img.shape[0]] = (img.clamp(0, 1) * 255).round().byte().numpy()
    return out


def main() -> None:
    sil = frames()
    rows = []
    for n in range(sil.shape[0]):
        cells = [tile(sil[n, 0], 128)]
        for mode in ("opengait", "exact"):
            for r in RATIOS:
                out = ops.gait_align(sil[n : n + 1], sil[n : n + 1], torch.tensor([r]), mode=mode)
                cells.append(tile(torch.nn.functional.interpolate(out, scale_factor=2, mode="nearest")[0, 0], 128))
            cells.append(np.full((128, GAP * 2), 128, np.uint8))  # separator between the modes
        cells.pop()
        row = np.concatenate([c if i == 0 else np.concatenate([np.full((128, GAP), 60, np.uint8), c], 1)
                              for i, c in enumerate(cells)], 1)
        rows.append(row)
        rows.append(np.full((GAP, row.shape[1]), 60, np.uint8))
    image = np.concatenate(rows[:-1], 0)
    path = Path(__file__).resolve().parents[1] / "img" / "gaitalign_modes.png"
    write_png(path, image)
    print(f"wrote {path} {image.shape}")


if __name__ == "__main__":
    main()
