"""Command line: ``gaitedge synth | pretreat | train | eval | embed | match | export | demo | bench`` (also
``python -m gaitedge``); the RGB commands live in :mod:`gaitedge.cli_rgb`.

``train`` and ``eval`` take ``--config NAME_OR_PATH`` plus any number of ``key=value`` overrides with dotted keys
(``trainer.total_iter=100 data.root=/data/synth``), before or after any flag. Errors in configs, paths, overrides,
data files and checkpoints end with a one-line message naming the file and exit status 2, never a traceback
(``GAITEDGE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path

from gaitedge import cli_rgb, limits
from gaitedge._cli_types import bounded_int, bounded_mib, positive_int
from gaitedge._system import usable_cores

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# The default stops growing with the machine here, so that every machine with at least this many cores trains with
# the same thread count, which changes training results (docs/training.md, Reproducibility).
MAX_DEFAULT_THREADS = 8


def default_threads() -> int:
    """The CPU thread count when ``--threads`` is not given: the cores this process may run on, split evenly
    between the processes torchrun started on this machine, at most ``MAX_DEFAULT_THREADS``, at least 1.

    It never looks at the load: the same command on the same machine runs with the same count however busy it is.
    """
    cores = usable_cores()
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
    return max(1, min(MAX_DEFAULT_THREADS, cores // local))




def _img_size(text: str) -> int:
    """argparse type for ``pretreat -r``: the written aligned_sils are [n, 64, 64], so 64 is the one valid side."""
    if text.strip() != "64":
        raise argparse.ArgumentTypeError(f"must be 64 (aligned_sils are stored [n, 64, 64] and cut to 64x44 when "
                                         f"loaded), got {text!r}")
    return 64



def _add_threads_arg(p: argparse.ArgumentParser, default_note: str = "") -> None:
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="torch CPU threads, recorded in what the command writes (default: the usable cores, split "
                        f"between torchrun's local processes, at most {MAX_DEFAULT_THREADS}{default_note}; never "
                        "the load). Results depend on it; on a busy machine --threads 1 can be much faster")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="shipped config name (see `gaitedge train --list`) or YAML path")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted-key overrides, e.g. trainer.total_iter=10")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaitedge", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("synth", help="generate a SynthGait dataset (no download)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--domain", choices=["indoor", "outdoor"], default="indoor")
    p.add_argument("--subjects", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["native", "opengait", "frames", "crops"], default="native",
                   help="native / opengait: a training dataset; frames / crops: RGB files as a user's own data "
                        "would be (the inputs of `gaitedge pretreat --rgb`, docs/data.md)")
    p.add_argument("--video", choices=["mp4", "mkv"], default=None,
                   help="with --format frames: one video per sequence (mp4: lossy MPEG-4, mkv: lossless FFV1)")
    p.add_argument("--views", type=lambda t: [int(v) for v in t.split(",")], default=None,
                   help="comma-separated view angles, e.g. 0,90,180 (default: the 11 CASIA-B views)")
    p.add_argument("--frames", type=int, default=None, help="frames per sequence (default 30)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    p.add_argument("--extra", nargs="*", action="extend", default=[], metavar="key=value",
                   help="further generator keyword arguments (e.g. frames=20 views=[0,90,180])")

    p = sub.add_parser("pretreat", help="size-normalise folders of CASIA-B silhouette PNGs",
                       description="Size-normalise CASIA-B silhouette PNG folders <id>/<type>/<view>/*.png. By "
                                   "default the frames equal OpenGait's datasets/pretreatment.py output.")
    p.add_argument("--input", "-i", required=True)
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--workers", "-n", type=bounded_int(1, limits.MAX_WORKERS), default=None,
                   help="worker processes, one sequence at a time each, one thread each (default: the usable CPU "
                        "cores)")
    p.add_argument("--img-size", "-r", type=_img_size, default=64,
                   help="output side: 64, the height the aligned_sils format holds (the loader cuts the 64 columns "
                        "to 44); accepted for OpenGait's command line")
    p.add_argument("--format", choices=["opengait", "native"], default="opengait")
    p.add_argument("--resize", choices=["opengait", "antialias"], default="opengait",
                   help="opengait: OpenCV's cubic resize, frames identical to OpenGait's pretreatment.py "
                        "(default); antialias: antialiased bilinear, keeps frames whose median column is 0")
    p.add_argument("--max-decoded-mib", type=bounded_mib, default=limits.MAX_DECODED_BYTES / 2**20,
                   help="skip a PNG whose header says it decodes to more than this many MiB (width x height x "
                        "channels x bytes per sample), before decoding it; the default holds a 4096x4096 RGBA frame")
    p.add_argument("--max-file-mib", type=bounded_mib, default=limits.MAX_FILE_BYTES / 2**20,
                   help="skip a PNG file larger than this many MiB without reading it (default %(default)g)")
    p.add_argument("--max-resample-elements", type=bounded_int(1, 2**40), default=limits.MAX_RESAMPLE_ELEMENTS,
                   help="skip a frame whose resize would build an array of more elements than this, such as a "
                        "1x5000-pixel frame (default %(default)d)")
    cli_rgb.add_pretreat_rgb_args(p)

    p = sub.add_parser("train", help="train from a config")
    p.add_argument("--out", required=False, help="run folder (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder's checkpoints")
    p.add_argument("--list", action="store_true", help="list the shipped configs and exit")
    p.add_argument("--config", help="shipped config name or YAML path")
    _add_threads_arg(p, default_note=", unless the config sets trainer.threads")
    p.add_argument("overrides", nargs="*", metavar="key=value")

    p = sub.add_parser("eval", help="evaluate a checkpoint with a config's test protocol")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="checkpoint file (ours or OpenGait's)")
    p.add_argument("--out", help="write the results JSON here")
    _add_threads_arg(p, default_note=", unless the config sets trainer.threads")

    cli_rgb.add_parsers(sub)

    p = sub.add_parser("demo", help="the paper's cross-domain experiment on SynthGait, from nothing: both domains, "
                                     "phases 1-2, the rank-1 matrix with 95%% intervals")
    p.add_argument("--out", required=True, help="output folder (report.md, results.json, runs/, evals/)")
    p.add_argument("--size", default="default",
                   help="preset of gaitedge/configs/experiments/demo.yaml: default (the documented demo, <= 15 min "
                        "on 2 CPU cores) or tiny (CI smoke run, numbers meaningless)")
    p.add_argument("--seed", type=int, default=0, help="seeds the data, every training run and the sampling")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder, retraining everything")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out, reusing finished "
                                                         "training runs and evaluations")
    _add_threads_arg(p)
    p.add_argument("--device", default="cpu", help="cpu (the documented demo) or cuda")

    p = sub.add_parser("reproduce", help="the paper-shaped version of the demo: more subjects, 128x128 frames, the "
                                          "paper's U-Net, two-step baselines and the edge-size ablation, several seeds")
    p.add_argument("--out", required=True, help="output folder: one sub-folder per seed, plus the combined "
                                                "results.json and report.md")
    p.add_argument("--preset", default="cpu", help="preset of gaitedge/configs/experiments/reproduce.yaml")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--resume", action="store_true", help="continue a killed run: finished seeds, training runs and "
                                                         "evaluations are reused")
    _add_threads_arg(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("transfer-map", help="where GaitEdge's cross-domain advantage appears: the demo's study at "
                                             "several levels of phase-1 appearance diversity, from a segmenter that "
                                             "fails on the other domain to one that transfers")
    p.add_argument("--out", required=True, help="output folder: one sub-folder per level, plus the map's "
                                                "results.json, report.md and transfer_map.png")
    p.add_argument("--levels", default="1:plain:ids=1,1:plain:ids=2,1:plain,1,4,all",
                   help="comma-separated scenes per domain; 'all' draws a new scene for every sequence; ':plain' "
                        "trains the segmenter without its colour changes, ':ids=N' on its first N training "
                        "subjects only (default 1:plain:ids=1,1:plain:ids=2,1:plain,1,4,all)")
    p.add_argument("--seed", type=int, default=0, help="seeds the data, every training run and the sampling")
    p.add_argument("--resume", action="store_true", help="continue a killed map: finished levels, training runs "
                                                         "and evaluations are reused")
    _add_threads_arg(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("bench", help="benchmarks (ops and model steps)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _cmd_synth(a) -> int:
    from gaitedge.training.config import parse_override

    from gaitedge.data import generate_synthgait

    extra = {}
    for text in a.extra:
        keys, value = parse_override(text)
        extra[".".join(keys)] = value
    if a.subjects < 2:
        raise CLIError(f"--subjects must be >= 2, got {a.subjects}")
    if a.views is not None:
        extra["views"] = a.views
    if a.frames is not None:
        extra["frames"] = a.frames
    if a.format in ("frames", "crops") or a.video:
        return cli_rgb.cmd_synth_files(a, extra)
    known = set(inspect.signature(generate_synthgait).parameters) - {"out_dir", "domain", "subjects", "seed", "fmt"}
    bad = sorted(set(extra) - known)
    if bad:
        raise CLIError(f"--extra: unknown generator arguments {bad}; allowed: {sorted(known)}")
    try:
        info = generate_synthgait(a.out, domain=a.domain, subjects=a.subjects, seed=a.seed, fmt=a.format,
                                  overwrite=a.force, **extra)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote SynthGait ({a.domain}, {a.subjects} subjects, {info['sequences']} sequences, {info['frames']} "
          f"frames) to {info['root']} in {info['seconds']:.1f}s")
    return 0


def _cmd_pretreat(a) -> int:
    # One BLAS/OpenMP thread per process: pretreatment runs a process per core. Effective only before numpy is
    # first imported (a plain CLI run has not imported it), and the worker processes inherit it; a user's own
    # setting wins, and a caller that already has numpy loaded keeps its environment.
    if "numpy" not in sys.modules:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
    if a.rgb:
        return cli_rgb.cmd_pretreat_rgb(a)
    from concurrent.futures.process import BrokenProcessPool

    from gaitedge.data import pretreat_silhouette_folders

    if not Path(a.input).is_dir():
        raise CLIError(f"--input {a.input} is not a folder")
    try:
        info = pretreat_silhouette_folders(
            a.input, a.output, size=a.img_size, workers=a.workers, fmt=a.format, progress=True, resize=a.resize,
            max_decoded_bytes=max(1, int(a.max_decoded_mib * 2**20)),
            max_file_bytes=max(1, int(a.max_file_mib * 2**20)), max_resample_elements=a.max_resample_elements)
    except OSError as e:  # the output folder cannot be written (full disk, permissions, a file in the way)
        if isinstance(e, FileNotFoundError):
            raise
        raise CLIError(f"{e.filename or a.output}: {e.strerror or e}") from None
    except BrokenProcessPool:  # a worker was killed (the system out of memory, a signal) or crashed
        raise CLIError(f"a worker process ended abruptly; the sequences finished before it are in {a.output}. "
                       "Rerun with -n 1 to see which file it was reading") from None
    skipped = info["skipped"]
    print(f"pretreated {info['sequences']} sequences into {a.output}: {info['read']} frames read, {info['frames']} "
          f"written, {info['dropped']} dropped as empty, {len(skipped)} file{'' if len(skipped) == 1 else 's'} "
          "skipped (unreadable or over a limit)")
    if info["empty"]:
        print(f"  {len(info['empty'])} sequence(s) had no usable frame, e.g. {info['empty'][:3]}")
    # each skipped file has had its own "skipped PATH: reason" line on stderr, logged as it was met
    return 1 if skipped else 0


def _cmd_train(a) -> int:
    from gaitedge.training.config import list_configs, load_config

    if a.list:
        print("\n".join(list_configs()))
        return 0
    if not a.config:
        raise CLIError("train needs --config NAME_OR_PATH (see `gaitedge train --list`)")
    cfg = load_config(a.config, a.overrides)
    from gaitedge.experiment import train_from_config

    out = Path(a.out) if a.out else Path("runs") / str(cfg.get("name", Path(str(a.config)).stem))
    _resolve_threads(cfg, a.threads)
    result = train_from_config(cfg, out, resume=a.resume, force=a.force)
    if _leave_process_group():
        print(json.dumps({"checkpoint": result["checkpoint"], "eval": _summary(result.get("eval")),
                          "threads": result.get("threads")}, default=str))
    return 0


def _resolve_threads(cfg: dict, threads: int | None) -> None:
    """``--threads``, else the config's ``trainer.threads``, else :func:`default_threads`, into the config."""
    trainer = cfg.setdefault("trainer", {})
    if threads is not None:
        trainer["threads"] = threads
    elif not trainer.get("threads"):
        trainer["threads"] = default_threads()


def _leave_process_group() -> bool:
    """Leaves the process group (if any); True on the process that reports: rank 0, or the only one.

    Under torchrun every rank runs the command; the others stay silent so that the output holds one result.
    """
    from gaitedge import distributed as du

    main_rank = du.is_main_process()
    du.cleanup_distributed()
    return main_rank


def _summary(res):
    if isinstance(res, dict) and "summary" in res:
        return res["summary"]
    return res


def _cmd_eval(a) -> int:
    from gaitedge.training.config import load_config
    from gaitedge.experiment import evaluate_from_config

    cfg = load_config(a.config, a.overrides)
    if not Path(a.checkpoint).is_file():
        raise CLIError(f"--checkpoint {a.checkpoint} does not exist")
    _resolve_threads(cfg, a.threads)
    res = evaluate_from_config(cfg, a.checkpoint)
    if not _leave_process_group():
        return 0
    text = json.dumps(res, indent=2, default=str)
    if a.out:
        Path(a.out).write_text(text)
    from gaitedge.evaluation.report import format_casia_b

    print(format_casia_b(res) if "summary" in res else text)
    return 0


def _cmd_demo(a) -> int:
    from gaitedge.study import run_study

    res = run_study(a.out, "demo", a.size, seed=a.seed, force=a.force, resume=a.resume,
                    threads=a.threads or default_threads(), device=a.device)
    print(Path(a.out, "report.md").read_text() if res else "", end="")
    return 0


def _cmd_reproduce(a) -> int:
    from gaitedge.reproduce import run_reproduce

    try:
        seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"--seeds must be comma-separated integers, got {a.seeds!r}") from None
    if not seeds:
        raise CLIError("--seeds names no seed")
    run_reproduce(a.out, a.preset, seeds, resume=a.resume, threads=a.threads or default_threads(), device=a.device)
    print(Path(a.out, "report.md").read_text(), end="")
    return 0


def _cmd_transfer_map(a) -> int:
    from gaitedge.transfer_map import parse_levels, run_transfer_map

    try:
        levels = parse_levels(a.levels)
    except ValueError as e:
        raise CLIError(f"--{e}") from None
    run_transfer_map(a.out, levels, seed=a.seed, resume=a.resume, threads=a.threads or default_threads(),
                     device=a.device)
    print(Path(a.out, "report.md").read_text(), end="")
    return 0


def _cmd_bench(a) -> int:
    try:
        import importlib

        bench = importlib.import_module("gaitedge.bench")
    except ImportError as e:
        raise CLIError(f"`gaitedge bench` needs gaitedge.bench, which is not available in this install ({e}); "
                       "run `python -m benchmarks.suite` from the root of a source checkout instead") from None
    return int(bench.main(a.args) or 0)


_COMMANDS = {"synth": _cmd_synth, "pretreat": _cmd_pretreat, "train": _cmd_train, "eval": _cmd_eval,
             "demo": _cmd_demo, "reproduce": _cmd_reproduce, "transfer-map": _cmd_transfer_map, "bench": _cmd_bench,
             **cli_rgb.COMMANDS}


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions shown as one line. The training ones are looked up only if their module was loaded (one that was
    never imported cannot have raised), so commands that need no torch, like pretreat, never import it."""
    errors = [CLIError, FileNotFoundError, FileExistsError, ValueError]
    for module, name in (("gaitedge.training.config", "ConfigError"), ("gaitedge.training.trainer", "RunDirError"),
                         ("gaitedge.data.errors", "DataError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _one_line(e: BaseException) -> str:
    """The error's message; for one raised in a DataLoader worker, whose message torch extends with the worker's
    traceback, the worker's own message (the traceback's last line, without the exception's type)."""
    text = str(e).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        head, sep, rest = last.partition(": ")
        text = rest if sep and " " not in head else last
    return text


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record is emitted, not as it was at the first ``main()`` call: a
    caller that runs several commands may redirect stderr in between (a test's capture, a notebook's cell)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler assigns it; the property always reads sys.stderr
        pass


def _configure_logging() -> None:
    """Library modules log through ``logging``; the CLI shows their INFO lines on stderr (GAITEDGE_LOG_LEVEL
    changes the level)."""
    level = os.environ.get("GAITEDGE_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger("gaitedge")
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # the benchmark suite parses its own options; argparse.REMAINDER would reject leading ones like --full
        a = argparse.Namespace(command="bench", args=argv[1:])
    elif argv[:1] in (["train"], ["eval"]):
        # overrides may follow any flag (`--config X a=1 --resume b=2`): plain parse_args stops collecting the
        # positionals at the first flag, and the intermixed parse is not available on a parser with subcommands
        a = _subparser(parser, argv[0]).parse_intermixed_args(argv[1:])
        a.command = argv[0]
    else:
        a = parser.parse_args(argv)
    if not a.command:
        parser.print_help()
        return 2
    _configure_logging()
    try:
        return _COMMANDS[a.command](a)
    except _user_errors() as e:
        if os.environ.get("GAITEDGE_DEBUG"):
            raise
        print(f"gaitedge {a.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except ImportError as e:
        if os.environ.get("GAITEDGE_DEBUG"):
            raise
        print(f"gaitedge {a.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gaitedge {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
