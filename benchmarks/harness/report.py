"""A result file as a reader sees it: Markdown tables and a PNG plot, both rendered from the result JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["fmt_time", "fmt_bytes", "render_markdown", "render_plot"]


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_bytes(b: Optional[float]) -> str:
    if b is None:
        return "–"
    return f"{b / 2 ** 20:.1f} MiB"


_KEY_COLS = ("N", "C", "H", "W", "k", "dtype", "mask_dtype", "batch")


def render_markdown(data: dict) -> str:
    """Markdown report of a result file: metadata, targets, then one table per op/device/threads/pass."""
    meta = data["meta"]
    lines = [f"# Benchmark `{data['bench']}`", "",
             f"- command: `{data['command']}`",
             f"- created: {data['created']}; commit `{meta.get('git_commit')}`",
             f"- CPU: {meta.get('cpu_model')} ({meta.get('cpu_count')} logical cores); load average at start "
             f"{meta.get('loadavg_start')}, end {meta.get('loadavg_end')}",
             f"- torch {meta.get('torch')} (CUDA {meta.get('torch_cuda')}); kornia {meta.get('kornia')}; "
             f"torchvision {meta.get('torchvision')}",
             f"- devices: {', '.join(d['device'] + ' = ' + d['name'] for d in meta.get('devices', []))}"]
    for key, cb in data.get("copy_bandwidth", {}).items():
        lines.append(f"- measured copy bandwidth {key}: {cb['gbps']:.1f} GB/s (read + write)")
    for key, pk in data.get("conv_peak", {}).items():
        n, c, s = pk["shape"]
        lines.append(f"- measured 3x3 convolution peak {key}: {pk['gflops']:.0f} GFLOP/s ({n} frames, {c} to {c} "
                     f"channels, {s}², channels-last fp32)")
    if data.get("targets"):
        lines += ["", "## Targets", "", "| target | goal | measured | met | device |", "|---|---|---|---|---|"]
        for t in data["targets"]:
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['name']} | {t['goal']} | {t['measured']} | {met} | {t['device']} |")
    groups: Dict[tuple, List[dict]] = {}
    for r in data["rows"]:
        groups.setdefault((r["op"], r["device"], r.get("threads"), r["pass"]), []).append(r)
    for (op, dev, thr, pass_), rows in groups.items():
        keys = _KEY_COLS + ("P", "K", "frames", "amp")
        cols = [c for c in keys if any(c in r for r in rows)]
        rated = any("rate" in r for r in rows)
        lines += ["", f"## {op} · {pass_} · {dev}" + (f" · {thr} thread(s)" if thr else ""), ""]
        perf = ["rate"] if rated else ["GB/s", "Mpx/s", "copy %"]
        flops = any("gflops_per_s" in r for r in rows)
        perf += ["GFLOP/s"] if flops else []
        head = cols + ["impl", "median", "IQR"] + perf + ["speed-up of fused", "peak extra"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in rows:
            t = r["time_s"]
            sp = r.get("speedup")
            sp_txt = ", ".join(f"{v['ratio_of_medians']:.1f}× vs {k}" for k, v in sp.items()) if sp else ""
            if rated:
                perf_vals = [f"{r['rate']:.2f} {r.get('rate_unit', '')}"]
            else:
                frac = f"{100 * r['copy_fraction']:.0f}%" if r.get("copy_fraction") else "–"
                perf_vals = [f"{r['gbps']:.2f}", f"{r['mpix_s']:.0f}", frac]
            if flops:
                perf_vals.append(f"{r['gflops_per_s']:.0f}" if "gflops_per_s" in r else "–")
            mem = fmt_bytes(r["memory"]["peak_bytes"]) if r.get("memory") else "–"
            vals = [str(r.get(c, "")) for c in cols] + [r["impl"], fmt_time(t["median"]), fmt_time(t["iqr"])] + \
                perf_vals + [sp_txt, mem]
            lines.append("| " + " | ".join(vals) + " |")
        notes = [f"- {', '.join(f'{c}={r[c]}' for c in cols if c in r)}: `{name}`: {why}"
                 for r in rows for name, why in (r.get("skipped") or {}).items()]
        if notes:
            lines += ["", "Baselines missing from this table, and why:", ""] + list(dict.fromkeys(notes))
    return "\n".join(lines) + "\n"


def render_plot(data: dict, path: Path) -> Optional[Path]:
    """Bar chart of effective GB/s per case and implementation (fwd+bwd when present); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in data["rows"] if r.get("gbps", 0) > 0]  # op rows; training-step rows have no byte count
    if not rows:
        return _render_rate_plot(data, path, plt)
    pass_ = "fwd+bwd" if any(r["pass"] == "fwd+bwd" for r in rows) else rows[0]["pass"]
    rows = [r for r in rows if r["pass"] == pass_]
    def label(r: dict) -> str:
        where = r["device"] + (f"/{r['threads']}t" if r.get("threads") else "")
        return f"{r['op']} {where} " + " ".join(f"{c}={r[c]}" for c in ("N", "H", "k", "dtype", "mask_dtype") if c in r)

    labels: List[str] = []
    impls: List[str] = []
    val: Dict[tuple, float] = {}
    for r in rows:
        lab = label(r)
        if lab not in labels:
            labels.append(lab)
        if r["impl"] not in impls:
            impls.append(r["impl"])
        val[(lab, r["impl"])] = r["gbps"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(labels) * len(impls)), 4.5))
    width = 0.8 / len(impls)
    for j, impl in enumerate(impls):
        xs = [i + j * width for i in range(len(labels))]
        ax.bar(xs, [val.get((lab, impl), 0.0) for lab in labels], width, label=impl)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("effective GB/s (compulsory bytes / median time)")
    ax.set_yscale("log")
    ax.set_title(f"{data['bench']} · {pass_}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _render_rate_plot(data: dict, path: Path, plt) -> Optional[Path]:
    """Training-step results: one panel per measurement (train_step, inference), rate per implementation."""
    rows = [r for r in data["rows"] if r.get("rate")]
    ops = list(dict.fromkeys(r["op"] for r in rows))
    if not ops:
        return None
    fig, axes = plt.subplots(1, len(ops), figsize=(4.5 * len(ops), 4.0), squeeze=False)
    for ax, op in zip(axes[0], ops):
        sel = [r for r in rows if r["op"] == op]
        labels = [f"{r['impl']}\n{r['device']}" + (f"/{r['threads']}t" if r.get("threads") else "") for r in sel]
        ax.bar(range(len(sel)), [r["rate"] for r in sel], color=["C0" if r["impl"] == "fused" else "C7" for r in sel])
        ax.set_xticks(range(len(sel)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(sel[0]["rate_unit"])
        ax.set_title(op)
    fig.suptitle(data["bench"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
