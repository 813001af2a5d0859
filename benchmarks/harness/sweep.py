"""Sweeps: which points an op benchmark visits, and the loop over devices, CPU thread counts and points."""

from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Optional, Sequence

import torch

from benchmarks.harness.cases import Case, run_case
from benchmarks.harness.cli_args import parse_passes, select_impls, thread_counts
from benchmarks.harness.devices import num_threads, pick_devices
from benchmarks.harness.report import fmt_time
from benchmarks.harness.results import Results

__all__ = ["axis_sweep", "op_sweep", "run_sweep", "run_targets"]


def axis_sweep(centre: Dict[str, object], axes: Sequence[Dict[str, Sequence]]) -> List[Dict[str, object]]:
    """Points that vary one axis at a time through ``centre``, in order and without repeats.

    An axis is ``{parameter: values}``; several parameters in one axis vary jointly (their product), e.g. the prob
    dtype with the mask dtype. Every listed value gets a row, at a cost that adds over the axes instead of
    multiplying (a full factorial of the sweep's lists is ~60 points a dtype pair: hours on a CPU, and
    ``--N/--size/--k/--dtypes/--masks`` lists still give one).
    """
    points: List[Dict[str, object]] = []
    for axis in axes:
        names = list(axis)
        for values in itertools.product(*(axis[n] for n in names)):
            pt = dict(centre, **dict(zip(names, values)))
            if pt not in points:
                points.append(pt)
    return points if centre in points else [dict(centre)] + points


def op_sweep(with_k: bool = True) -> List[Dict[str, object]]:
    """The op sweep (``--full``): N in {1, 30, 240, 1024, 1920}, 64²/128²/256², k in {3, 5, 7, 9} and every
    prob dtype with every mask dtype, one axis at a time through N = 240, 128², k = 3, fp32 prob, uint8 mask."""
    f32, u8 = torch.float32, torch.uint8
    centre: Dict[str, object] = {"N": 240, "size": 128, "k": 3, "dtype": f32, "mask": u8}
    axes: List[Dict[str, Sequence]] = [
        {"N": [1, 30, 240, 1024, 1920]},
        {"size": [64, 128, 256]},
        {"k": [3, 5, 7, 9]},
        {"dtype": [f32, torch.float16, torch.bfloat16], "mask": [torch.bool, u8, f32]},
    ]
    if not with_k:
        del centre["k"]
        axes = [a for a in axes if "k" not in a]
    return axis_sweep(centre, axes)


def run_targets(op: str, args, points_for: Callable[[torch.device], Sequence[tuple]], make_case: Callable[..., Case],
                targets: Callable[[Results, List[dict]], None], *, results: Optional[Results] = None,
                budget_s: float = 20.0) -> Results:
    """The ``--target`` run: each device's own target points (``points_for(device)``) into one result set.

    ``--device auto`` means the CPU point plus the GPU points when CUDA is present. CPU points run at 2 threads
    (where the CPU targets are set). Files: ``{op}_target`` (or ``--stem``) unless ``results`` is given.
    """
    devices = pick_devices(args.device)
    res = results or Results(op, devices, command=args.command)
    for dev in devices:
        run_sweep(op, args, points_for(dev), make_case, targets, devices=[dev],
                  threads=[2] if dev.type == "cpu" else None, budget_s=budget_s, results=res, max_call_s=None)
    if results is None:
        paths = res.write(args.out, args.stem or f"{op}_target")
        print("wrote", ", ".join(str(p) for p in paths.values()))
    return res


def run_sweep(op: str, args, points: Sequence[tuple], make_case: Callable[..., Case],
              targets: Optional[Callable[[Results, List[dict]], None]] = None, *,
              devices: Optional[Sequence[torch.device]] = None, threads: Optional[Sequence[Optional[int]]] = None,
              budget_s: float = 3.0, results: Optional[Results] = None, stem: Optional[str] = None,
              max_call_s: Optional[float] = 3.0) -> Results:
    """The loop every op benchmark shares: devices x CPU thread counts x points, one :func:`run_case` each.

    ``make_case(*point, compile_baseline=bool)`` builds the case; ``targets(results, rows)`` may add target lines.
    Writes the result files unless ``results`` (a shared collector, as used by the suite) is given.
    """
    devices = list(devices) if devices is not None else pick_devices(args.device)
    threads = list(threads) if threads is not None else thread_counts(args)
    res = results or Results(op, devices, command=args.command)
    passes = parse_passes(args.passes)
    budget = args.budget if args.budget is not None else budget_s
    cap = max_call_s if args.max_call_s is None else (args.max_call_s if args.max_call_s > 0 else None)
    for dev in devices:
        for thr in (threads if dev.type == "cpu" else [None]):
            with num_threads(thr):
                copy = res.copy_gbps(dev, thr)
                for pt in points:
                    case = make_case(*pt, compile_baseline=not args.no_compile)
                    select_impls(case, args)
                    print(f"[{op}] {dev} threads={thr or torch.get_num_threads()} {case.params}", flush=True)
                    rows = run_case(case, dev, passes, threads=thr, budget_s=budget, min_runs=args.min_runs,
                                    memory=not args.no_memory, copy_gbps=copy if dev.type == "cuda" else None,
                                    max_call_s=cap)
                    res.add(rows)
                    if targets is not None:
                        targets(res, rows)
                    if results is None:  # rewrite after every point: a long sweep cut short keeps what it measured
                        res.write(args.out, stem or op)
                    for r in rows:
                        if r.get("speedup"):
                            print(f"    {r['pass']:8s} {r['impl']} {fmt_time(r['time_s']['median'])}: " + ", ".join(
                                f"{v['ratio_of_medians']:.1f}x vs {k}" for k, v in r["speedup"].items()), flush=True)
    if results is None:
        paths = res.write(args.out, stem or op)
        print("wrote", ", ".join(str(p) for p in paths.values()))
    return res
