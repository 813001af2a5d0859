"""Reports: text/Markdown tables (CASIA-B per-view table, Table-2-style cross-domain matrix), JSON, PNG figures.

PNG image grids are written by :func:`gaitedge.data.png.write_png` (OpenCV, the ``data`` extra), so they need no
plotting package; line plots of per-view accuracy use matplotlib when it is installed and are skipped (with a note)
otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from gaitedge.data.png import write_png

__all__ = ["format_casia_b", "casia_b_markdown", "matrix_markdown", "study_markdown", "machine_text", "write_png",
           "image_grid", "plot_per_view"]

CONDITIONS = ("NM", "BG", "CL", "mean")


def _f(v, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def format_casia_b(res: Mapping) -> str:
    """OpenGait-style console block: per-view rank-1 per condition, then the summary line."""
    lines = ["===Rank-1 (Exclude identical-view cases)==="]
    for cond, vals in res["per_view"].items():
        lines.append(f"{cond}@R1: [" + " ".join(_f(v) for v in vals) + "]")
    lines.append("\t".join(f"{c}@R1: {_f(v)}%" for c, v in res["summary"].items()))
    return "\n".join(lines)


def casia_b_markdown(res: Mapping, title: str | None = None) -> str:
    """The paper's Table-3 layout: one row per condition, one column per probe view, then the mean."""
    views = res["views"]
    head = "| Probe | " + " | ".join(f"{v}°" if v.replace('.', '').isdigit() else v for v in views) + " | Mean |"
    out = [f"**{title}**\n" if title else "", head, "|" + "---|" * (len(views) + 2)]
    for cond, vals in res["per_view"].items():
        out.append(f"| {cond} | " + " | ".join(_f(v, 1) for v in vals) + f" | {_f(res['summary'][cond], 1)} |")
    return "\n".join(x for x in out if x != "")


def matrix_markdown(matrix: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                    domains: Sequence[str], conditions: Sequence[str] = CONDITIONS,
                    ci: Mapping | None = None) -> str:
    """Table-2 layout: rows = (training domain, model); columns = ``conditions`` for every test domain.

    Args:
        matrix: ``{model: {train_domain: {test_domain: {condition: rank-1 %}}}}``.
        domains: domain order for rows and column groups.
        ci: optional intervals in the same nesting (``[lo, hi]``), printed under each value.
    """
    models = list(matrix)
    head = "| Train | Model | " + " | ".join(f"{d} {c}" for d in domains for c in conditions) + " |"
    out = [head, "|---|---|" + "---|" * (len(domains) * len(conditions))]
    for tr in domains:
        for m in models:
            cells = []
            for te in domains:
                r = matrix[m].get(tr, {}).get(te, {})
                for c in conditions:
                    txt = _f(r.get(c), 1 if ci else 2)
                    if ci and txt != "-":
                        lo, hi = ci[m][tr][te][c]
                        txt += f"<br>[{_f(lo, 1)}, {_f(hi, 1)}]"
                    cells.append(f"*{txt}*" if te != tr and txt != "-" else txt)
            out.append(f"| {tr} | {m} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Rank-1 (%), identical views excluded; *italic* = cross-domain (trained on one domain, tested on the "
               "other).")
    return "\n".join(out)


def _verdict(ci: Sequence[float]) -> str:
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return "-"
    return "> 0" if lo > 0 else ("< 0" if hi < 0 else "includes 0")


def machine_text(env: Mapping) -> str:
    """Where a study ran, as its reports name it: threads, then the CPU and ATen's CPU capability when recorded (a
    float training run repeats bit for bit only on the same instruction set), then torch and the commit."""
    parts = [f"{env['threads']} CPU threads"]
    if env.get("cpu"):
        parts.append(env["cpu"])
    if env.get("aten_cpu_capability"):
        parts.append(f"ATen CPU capability {env['aten_cpu_capability']}")
    parts += [f"torch {env['torch']}", f"commit {env.get('commit') or 'unknown'}"]
    return ", ".join(parts)


def study_markdown(res: Mapping, domains: Sequence[str]) -> str:
    """The report of one seed of the cross-domain study (``gaitedge.study``): data, segmenters, colour baseline,
    the rank-1 matrix with 95 % intervals, and the paired differences with what each says about the claim."""
    env, d = res["environment"], res["data"]
    conds = [c for c in ("NM", "BG", "CL", "RC", "mean")
             if any(c in cell for m in res["matrix"].values() for row in m.values() for cell in row.values())]
    md = [f"# gaitedge {res['experiment']}: GaitEdge's cross-domain claim on SynthGait (`{res['preset']}`, "
          f"seed {res['seed']})", "",
          f"Computed in this run in {res['seconds'] / 60:.1f} min on {env['device']} ({machine_text(env)})"
          + (", continuing an interrupted run (`--resume`)" if res.get("resumed") else "") + "."
          + (f" Rendering took {res['time_split']['synth']:.0f} s, training {res['time_split']['train']:.0f} s and "
             f"evaluation {res['time_split']['eval']:.0f} s ({res['time_split']['eval_share']:.0f} % of the run)."
             if res.get("time_split") else ""),
          f"SynthGait per domain: {d['subjects']} subjects ({res['test_subjects']} test), views {d['views']}, "
          f"{d['frames']} frames of {d['size']}x{d['size']}; every test sequence is evaluated on its first "
          f"{d['test_frames']} frames.", "",
          "Protocol: CASIA-B, gallery NM#01-04, probes NM#05-06, BG#01-02, CL#01-02 and RC#01-02 (the NM#05-06 walks "
          "re-rendered with identical motion and silhouettes but other clothes), identical views excluded; `mean` is "
          "over NM, BG and CL. Intervals are 95 % percentile bootstraps over test subjects "
          f"({res['bootstrap']['n_boot']} resamples). They cover which test subjects were drawn, not training "
          "variance (a run with another seed trains other models); `gaitedge reproduce` gives intervals over seeds "
          "and subjects together.", "",
          ]
    if res.get("targets"):
        md += ["## Requirements on the world", "",
               "Fixed before any model is compared: the paper's premise (a frozen segmenter that still works on the "
               "other domain) and a dataset on which clothing colour is worth something but not everything.", "",
               "| requirement | measured | goal | met |", "|---|---|---|---|"]
        md += [f"| {t['what']} | {_f(t['value'], 1)} | {t['goal']} | {'yes' if t['met'] else '**no**'} |"
               for t in res["targets"]]
        md.append("")
    md += ["## Segmenters (phase 1)", "",
           "| domain | test mIoU | mIoU on the other domain | other domain, own camera | all-foreground mIoU |",
           "|---|---|---|---|---|"]
    for dom in domains:
        s = res["segmenter"][dom]
        md.append(f"| {dom} | {_f(s['miou'], 1)} | {_f(s['miou_cross'], 1)} | {_f(s.get('miou_control'), 1)} | "
                  f"{_f(s['all_foreground'], 1)} |")
    if all("mask_miou_probes" in res["segmenter"][dom] for dom in domains):
        md += ["", "Frozen-mask quality on the probes the NM - RC gap compares (mIoU of the binary mask M of the "
               "segmenter trained on the row's domain): a frozen-mask GaitEdge reads recoloured clothes only through "
               "M, so an RC mask worse than the NM mask is part of its NM - RC gap.", "",
               "| segmenter | test domain | NM probes | RC probes |", "|---|---|---|---|"]
        for tr in domains:
            for te, v in res["segmenter"][tr]["mask_miou_probes"].items():
                md.append(f"| {tr} | {te} | {_f(v['NM'], 1)} | {_f(v['RC'], 1)} |")
    md += ["", "## Colour-only baseline", "",
           "Nearest neighbour on each sequence's mean colour (upper and lower body, 6 numbers), no training: what "
           "clothing colour alone is worth on this data.", "",
           "| domain | NM | BG | CL | RC |", "|---|---|---|---|---|"]
    for dom in domains:
        c = res["colour_baseline"][dom]
        md.append(f"| {dom} | " + " | ".join(_f(c.get(k), 1) for k in ("NM", "BG", "CL", "RC")) + " |")
    md += ["", "## Rank-1 (%), with 95 % intervals", "", matrix_markdown(res["matrix"], domains, conds, res["ci"]), ""]
    if res.get("geometric_control"):
        md += ["## Camera or appearance: the geometric control", "",
               "Each model is also tested on the other domain's people, walks, scenes and light filmed by its own "
               "training domain's camera. Mean rank-1 (%): in-domain, on that control, cross-domain. "
               "`appearance` = in-domain - control (different test people), `camera` = control - cross-domain (the "
               "same people and walks; 95 % interval over them).", "",
               "| trained on | model | in-domain | control | cross-domain | appearance | camera [95 %] |",
               "|---|---|---|---|---|---|---|"]
        for tr in domains:
            for m, rows in res["geometric_control"].items():
                g = rows[tr]
                md.append(f"| {tr} | {m} | {_f(g['in_domain'], 1)} | {_f(g['control'], 1)} | "
                          f"{_f(g['cross_domain'], 1)} | {_f(g['appearance_drop'], 1)} | {_f(g['camera_drop'], 1)} "
                          f"[{_f(g['camera_drop_ci'][0], 1)}, {_f(g['camera_drop_ci'][1], 1)}] |")
        md.append("")
    md += [
           "## Paired differences (percentage points)", "",
           "## Paired differences (percentage points)", "",
           "| difference | mean | 95 % interval | subjects | interval |", "|---|---|---|---|---|"]
    for name, r in res["differences"].items():
        md.append(f"| {name} | {_f(r['mean'], 1)} | [{_f(r['ci'][0], 1)}, {_f(r['ci'][1], 1)}] | {r['n']} | "
                  f"{_verdict(r['ci'])} |")
    md.append("")
    return "\n".join(md) + "\n"


def _to_rgb_u8(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float image ``[H, W]`` in [0, 1] or ``[3, H, W]`` / ``[H, W, 3]`` → uint8 RGB resized (nearest) to size."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[0] == 3:
        x = x.transpose(1, 2, 0)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    h, w = size
    ys = (np.arange(h) * x.shape[0] / h).astype(int)
    xs = (np.arange(w) * x.shape[1] / w).astype(int)
    x = x[ys][:, xs]
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_grid(rows: Sequence[Sequence[np.ndarray]], path: str | Path, cell: tuple[int, int] = (128, 88),
               pad: int = 2) -> Path:
    """Write a grid PNG (Fig. 7 style): ``rows[r][c]`` is a float image in [0, 1] (grey or RGB)."""
    if not rows or not rows[0]:
        raise ValueError("image_grid needs at least one row and one column")
    nr, nc = len(rows), max(len(r) for r in rows)
    h, w = cell
    canvas = np.full((nr * (h + pad) + pad, nc * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            canvas[y:y + h, x:x + w] = _to_rgb_u8(im, cell)
    return write_png(path, canvas)


def plot_per_view(results: Mapping[str, Mapping], path: str | Path, title: str = "") -> Path | None:
    """Per-probe-view rank-1 lines (one panel per condition) for several CASIA-B results; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    conds = [c for c in ("NM", "BG", "CL")]
    fig, axes = plt.subplots(1, len(conds), figsize=(4 * len(conds), 3.2), sharey=True)
    for ax, cond in zip(np.atleast_1d(axes), conds):
        for label, res in results.items():
            if cond in res["per_view"]:
                ax.plot(res["views"], res["per_view"][cond], marker="o", label=label)
        ax.set_title(cond)
        ax.set_xlabel("probe view")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("rank-1 (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
