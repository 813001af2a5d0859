"""Command line for a user's own RGB data: ``gaitedge embed | match | export`` and ``gaitedge pretreat --rgb``.

Each command parses its options into a dataclass here; the layers below take typed arguments (a
:class:`~gaitedge.inference.ModelSpec`, paths, ints), never the argparse namespace or a whole config dict. Errors
are ``ValueError`` / ``FileNotFoundError`` with one line naming the file, which ``gaitedge.cli`` prints.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from gaitedge._cli_types import positive_int
from gaitedge.limits import MAX_DECODED_BYTES

__all__ = ["add_parsers", "COMMANDS", "add_pretreat_rgb_args", "cmd_pretreat_rgb", "EmbedOptions", "MatchOptions",
           "ExportOptions", "PretreatRGBOptions"]

_LAYOUT_HELP = ("dataset (a pretreated dataset with rgbs and ratios, native or OpenGait pickles), frames (per "
                "sequence a frames/ folder or a video.<ext>, with masks/ and/or boxes.txt) or crops (CASIA-B*'s "
                "crop_im/ and crop_seg/); see docs/data.md")


@dataclass(frozen=True)
class ModelOptions:
    checkpoint: Path
    config: str | None = None
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmbedOptions:
    model: ModelOptions
    input: Path
    layout: str
    out: Path
    batch_size: int = 8
    device: str = "cpu"
    size: int = 128
    min_frames: int = 3
    threads: int | None = None
    force: bool = False
    types: tuple[str, ...] | None = None
    block_cache: bool = True


@dataclass(frozen=True)
class MatchOptions:
    gallery: Path
    probe: Path
    out: Path | None
    k: int = 5
    metric: str = "euc"


@dataclass(frozen=True)
class ExportOptions:
    model: ModelOptions
    out: Path
    frame_size: int
    aoti: bool = True
    force: bool = False


@dataclass(frozen=True)
class PretreatRGBOptions:
    input: Path
    output: Path
    layout: str
    size: int = 128
    workers: int | None = None
    fmt: str = "opengait"
    max_decoded_bytes: int = MAX_DECODED_BYTES



def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="trained GaitEdge (frozen masks) or GaitGL-E2E checkpoint")
    p.add_argument("--config", default=None, help="the model's training config (shipped name or YAML/JSON path; "
                                                   "default: the config.json `gaitedge train` writes in the "
                                                   "checkpoint's run folder)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. model.kwargs.parts=16")


def add_parsers(sub) -> None:
    """Add ``embed``, ``match`` and ``export`` to ``gaitedge``'s sub-command parsers."""
    p = sub.add_parser("embed", help="one gait embedding per RGB sequence (no silhouettes: frozen-segmenter masks)")
    _model_args(p)
    p.add_argument("--input", "-i", required=True, help="folder of RGB sequences")
    p.add_argument("--layout", choices=["dataset", "frames", "crops"], default="dataset", help=_LAYOUT_HELP)
    p.add_argument("--out", "-o", required=True, help="folder for embeddings.npy and index.json")
    p.add_argument("--batch-size", type=positive_int, default=8, help="sequences per forward pass (results do not "
                                                                   "depend on it)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--size", type=positive_int, default=128, help="crop side for the frames/crops layouts (the "
                                                               "model's training size: 64 for the demo's models)")
    p.add_argument("--min-frames", type=positive_int, default=3, help="refuse shorter sequences (default 3)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--force", action="store_true", help="overwrite embeddings already in --out")
    p.add_argument("--no-block-cache", action="store_true", help="on a CPU, do not reuse freed large blocks between "
                   "forward passes (the same embeddings, slower; see gaitedge.block_cache)")
    p.add_argument("--types", default=None, help="comma-separated sequence types to embed, e.g. nm-01,nm-02 for a "
                                                 "gallery (default: all)")

    p = sub.add_parser("match", help="rank-k gallery identities for each probe embedding, with distances")
    p.add_argument("--gallery", required=True, help="embedding folder (from `gaitedge embed`)")
    p.add_argument("--probe", required=True, help="embedding folder (from `gaitedge embed`)")
    p.add_argument("--out", "-o", default=None, help="write the ranking here: .csv or .json (default: CSV on stdout)")
    p.add_argument("-k", type=positive_int, default=5, help="gallery entries per probe (default 5)")
    p.add_argument("--metric", choices=["euc", "cos"], default="euc", help="the evaluation protocol's distance")

    p = sub.add_parser("export", help="torch.export program (+ AOTInductor package) of the RGB inference model")
    _model_args(p)
    p.add_argument("--out", "-o", required=True, help="folder for model.pt2, model_aoti.pt2 and export.json")
    p.add_argument("--size", type=positive_int, default=128, help="crop side the program takes (fixed; default 128)")
    p.add_argument("--no-aoti", action="store_true", help="write the torch.export program only")
    p.add_argument("--force", action="store_true", help="overwrite an export already in --out")


def add_pretreat_rgb_args(p: argparse.ArgumentParser) -> None:
    """``--rgb LAYOUT`` and ``--crop-size`` on ``gaitedge pretreat``."""
    p.add_argument("--rgb", choices=["frames", "crops"], default=None,
                   help="RGB input instead of silhouette PNGs: frames (per sequence a frames/ folder or a "
                        "video.<ext>, with masks/ and/or boxes.txt) or crops (CASIA-B*'s crop_im/ and crop_seg/); "
                        "writes rgbs, sils, ratios and aligned_sils (docs/data.md)")
    p.add_argument("--crop-size", type=positive_int, default=128, help="with --rgb: side of the person crops (128)")


# -- typed options from the namespace ---------------------------------------------------------------------------
def _model_options(a) -> ModelOptions:
    ckpt = Path(a.checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(f"--checkpoint {ckpt} does not exist")
    return ModelOptions(ckpt, a.config, tuple(a.overrides))


def _model_spec(opts: ModelOptions):
    from gaitedge.inference import ModelSpec
    from gaitedge.training.config import load_config

    config = opts.config
    if config is None:
        # a run folder holds config.json, its checkpoints/ folder the checkpoints
        found = [p for p in (opts.checkpoint.parent / "config.json", opts.checkpoint.parent.parent / "config.json")
                 if p.is_file()]
        if not found:
            raise ValueError(f"{opts.checkpoint}: no config.json beside it or in its run folder; pass the model's "
                             "training config with --config")
        config = str(found[0])
    model = load_config(config, opts.overrides)["model"]
    return ModelSpec(str(model.get("name")), dict(model.get("kwargs") or {}))


def _fresh_folder(path: Path, names: tuple[str, ...], force: bool) -> None:
    there = [n for n in names if (path / n).exists()]
    if there and not force:
        raise FileExistsError(f"{path} already holds {', '.join(there)} (--force overwrites)")


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_embed(a) -> int:
    opts = EmbedOptions(_model_options(a), Path(a.input), a.layout, Path(a.out), a.batch_size, a.device, a.size,
                        a.min_frames, a.threads, a.force,
                        None if a.types is None else tuple(t.strip() for t in a.types.split(",") if t.strip()),
                        not a.no_block_cache)
    import torch

    from gaitedge.inference import EmbeddingSet, embed_sequences, load_rgb_model, rgb_sequence_loaders
    from gaitedge.inference import write_embeddings

    if not opts.input.is_dir():
        raise FileNotFoundError(f"--input {opts.input} is not a folder")
    _fresh_folder(opts.out, ("embeddings.npy", "index.json"), opts.force)
    try:
        device = torch.device(opts.device)
    except RuntimeError:
        raise ValueError(f"--device {opts.device!r} is not a device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {opts.device}: CUDA is not available here")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    spec = _model_spec(opts.model)
    model = load_rgb_model(spec, opts.model.checkpoint, device)
    loaders = rgb_sequence_loaders(opts.input, opts.layout, opts.size, opts.types)
    if not loaders:
        raise ValueError(f"--input {opts.input}: no sequence found for --layout {opts.layout}"
                         + ("" if opts.types is None else f" and --types {','.join(opts.types)}"))
    res = embed_sequences(model, loaders, opts.batch_size, device, opts.min_frames, progress=True,
                          cpu_block_cache=opts.block_cache)
    records = [{"id": k[0], "type": k[1], "view": k[2], "frames": n} for k, n in zip(res.keys, res.frames)]
    write_embeddings(opts.out, EmbeddingSet(res.embeddings, records,
                                            {"name": spec.name, "checkpoint": str(opts.model.checkpoint)},
                                            res.failed))
    print(f"embedded {len(records)} sequences into {opts.out} ({res.embeddings.shape[1:]} each); "
          f"{len(res.failed)} failed")
    for name, reason in list(res.failed.items())[:20]:
        print(f"  failed {reason}", file=sys.stderr)
    return 1 if res.failed else 0


def cmd_match(a) -> int:
    opts = MatchOptions(Path(a.gallery), Path(a.probe), None if a.out is None else Path(a.out), a.k, a.metric)
    if opts.out is not None and opts.out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--out {opts.out}: must end in .csv or .json")
    from gaitedge.inference import match_embeddings, read_embeddings

    res = match_embeddings(read_embeddings(opts.gallery), read_embeddings(opts.probe), opts.k, opts.metric)
    if opts.out is not None and opts.out.suffix.lower() == ".json":
        text = json.dumps({"metric": opts.metric, "k": opts.k, "accuracy": res.accuracy, "labelled": res.labelled,
                           "probes": [{"probe": p, "id": pid, "ranked": [{"gallery": g, "id": gid, "distance": d}
                                                                         for g, gid, d in r]}
                                      for p, pid, r in zip(res.probes, res.probe_ids, res.ranked)]}, indent=1)
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["probe", "probe_id", "rank", "gallery", "gallery_id", "distance"])
        for p, pid, r in zip(res.probes, res.probe_ids, res.ranked):
            for rank, (g, gid, d) in enumerate(r, start=1):
                w.writerow([p, pid, rank, g, gid, f"{d:.6g}"])
        text = buf.getvalue()
    if opts.out is None:
        print(text, end="")
    else:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(text)
    where = sys.stderr if opts.out is None else sys.stdout
    if res.accuracy is not None:
        accs = ", ".join(f"rank-{k} {v:.1f} %" for k, v in res.accuracy.items())
        print(f"{accs} over the {res.labelled} probes whose identity the gallery holds", file=where)
    else:
        print(f"matched {len(res.probes)} probes (no probe identity occurs in the gallery: no accuracy)", file=where)
    return 0


def cmd_export(a) -> int:
    opts = ExportOptions(_model_options(a), Path(a.out), a.size, not a.no_aoti, a.force)
    from gaitedge.inference import load_rgb_model
    from gaitedge.inference.export import META_NAME, PACKAGE_NAME, PROGRAM_NAME, export_program

    _fresh_folder(opts.out, (PROGRAM_NAME, PACKAGE_NAME, META_NAME), opts.force)
    # NCHW weights: an AOTInductor package of the channels-last model gave other embeddings than eager mode
    # (torch 2.13, CPU), while the torch.export program matched
    model = load_rgb_model(_model_spec(opts.model), opts.model.checkpoint, "cpu", channels_last=False)
    meta = export_program(model, opts.out, (opts.frame_size, opts.frame_size), aoti=opts.aoti)
    extra = (f", {meta['aoti_package']}" if meta["aoti_package"]
             else f" (no AOTInductor package: {meta['aoti_skipped']})")
    print(f"exported {opts.out / PROGRAM_NAME}{extra}; inputs rgbs uint8 [n, s, 3, {opts.frame_size}, "
          f"{opts.frame_size}] and ratios [n, s], n <= {meta['dynamic']['n'][1]}, "
          f"{meta['dynamic']['s'][0]} <= s <= {meta['dynamic']['s'][1]}")
    return 0


def cmd_pretreat_rgb(a) -> int:
    """``gaitedge pretreat --rgb LAYOUT``: exit status 1 when a sequence was skipped."""
    opts = PretreatRGBOptions(Path(a.input), Path(a.output), a.rgb, a.crop_size, a.workers, a.format,
                              int(a.max_decoded_mib * 2**20))
    from gaitedge.data.pretreat_rgb import pretreat_rgb_folders

    if not opts.input.is_dir():
        raise FileNotFoundError(f"--input {opts.input} is not a folder")
    if opts.workers is not None and opts.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {opts.workers}")
    if not opts.max_decoded_bytes > 0:
        raise ValueError(f"--max-decoded-mib must be positive, got {a.max_decoded_mib}")
    info = pretreat_rgb_folders(opts.input, opts.output, opts.layout, opts.size, opts.workers, opts.fmt,
                                progress=True, max_decoded_bytes=opts.max_decoded_bytes)
    print(f"pretreated {info['sequences']} RGB sequences into {opts.output}: {info['frames']} frames written, "
          f"{len(info['dropped'])} dropped, {len(info['failed'])} sequence(s) skipped")
    for name, reason in list(info["failed"].items())[:20]:
        print(f"  skipped {name}: {reason}", file=sys.stderr)
    return 1 if info["failed"] else 0


def cmd_synth_files(a, extra: dict) -> int:
    """``gaitedge synth --format frames|crops``: SynthGait as a user's RGB files."""
    import inspect

    from gaitedge.data import SynthGait
    from gaitedge.data.synth.files import write_rgb_files

    if a.video and a.format != "frames":
        raise ValueError("--video needs --format frames")
    known = set(inspect.signature(SynthGait).parameters) - {"domain", "subjects", "seed"}
    bad = sorted(set(extra) - known)
    if bad:
        raise ValueError(f"--extra: {bad} do not apply to --format {a.format}; allowed: {sorted(known)}")
    out = Path(a.out)
    if out.exists() and any(out.iterdir()) and not a.force:
        raise FileExistsError(f"--out {out} is not empty (--force writes into it)")
    if "views" in extra:
        extra["views"] = tuple(extra["views"])
    synth = SynthGait(a.domain, subjects=a.subjects, seed=a.seed, **extra)
    info = write_rgb_files(out, synth, a.format, a.video)
    print(f"wrote SynthGait ({a.domain}, {a.subjects} subjects) as {a.format}"
          f"{' (' + a.video + ' video)' if a.video else ''}: {info['sequences']} sequences, {info['frames']} frames "
          f"in {out}")
    return 0


COMMANDS = {"embed": cmd_embed, "match": cmd_match, "export": cmd_export}
