"""Hostile files and options through the real command line: refused pickles (every trick in ``_pickles``),
checkpoints with a bad field, non-finite and out-of-range frames, ``index.json`` field types, and overrides placed
after flags.

Every case runs ``gaitedge train`` or ``gaitedge eval`` (``gaitedge.cli.main``) in a driver process under a 4 GiB
address-space limit with a time limit per case; a few also run as ``python -m gaitedge`` in a process of their
own. Each hostile case must exit with status 2 and one error line naming the file (and field) with no traceback,
and leave every input file as it was. ``test_counts`` prints the tally: tried, clean errors, tracebacks, hangs,
crashes, lost data.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import pickle
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitedge.cli import main
from gaitedge.data.formats import native
from tests.hostile._checkpoints import CASES as CHECKPOINT_CASES
from tests.hostile._pickles import hostile_pickles

MEMORY_MIB = 4096
SECONDS_PER_CASE = 60
CONFIG = "synth_phase1_rec"
SMALL = ["trainer.total_iter=1", "trainer.save_every=0", "data.train.P=2", "data.train.frames=4",
         "data.test.frames_limit=4", "scheduler.milestones=[1]"]
IDS = ["001", "002", "003", "004", "005"]
SEQS = [(i, t, "090") for i in IDS for t in ("nm-01", "nm-02")]
PARTITION = {"TRAIN_SET": IDS[:3], "TEST_SET": IDS[3:]}


def _train(root, out, *extra, fmt="native"):
    return ["train", "--config", CONFIG, "--out", str(out), "--threads", "1", f"data.root={root}",
            f"data.format={fmt}", *SMALL, *extra]


def _case(cls, name, argv, expect, watch, ok=False):
    return {"cls": cls, "name": name, "argv": [str(a) for a in argv], "expect": [str(w) for w in expect],
            "watch": [str(w) for w in watch], "ok": ok}


def _opengait_root(root: Path, blob: bytes) -> Path:
    for key in SEQS:
        folder = root.joinpath(*key)
        folder.mkdir(parents=True)
        (folder / "090-aligned-sils.pkl").write_bytes(blob)
    (root / "partition.json").write_text(json.dumps(PARTITION))
    return root


def _frames(value=None):
    sils = np.zeros((4, 64, 44), np.float32)
    sils[:, 10:50, 15:30] = 255.0
    if value is not None:
        sils[2, 0, 0] = value
    return sils


def _native_root(root: Path, sils: np.ndarray) -> Path:
    for key in SEQS:
        folder = root.joinpath(*key)
        folder.mkdir(parents=True)
        np.save(folder / "aligned_sils.npy", sils)
    native.write_index(root, [(k, len(sils)) for k in SEQS], partition=PARTITION, modalities=["aligned_sils"])
    return root


def _index_edits(good: dict) -> dict[str, str]:
    def edited(fn):
        idx = json.loads(json.dumps(good))
        fn(idx)
        return json.dumps(idx)

    def frames(value):
        return lambda idx: idx["sequences"][0].update(frames=value)

    marker = edited(frames("@@"))
    return {
        "frames_list": edited(frames([4])), "frames_null": edited(frames(None)),
        "frames_1e400": marker.replace('"@@"', "1e400"), "frames_negative": edited(frames(-1)),
        "frames_true": edited(frames(True)), "frames_string": edited(frames("4")),
        "frames_NaN": marker.replace('"@@"', "NaN"), "frames_5000_digits": marker.replace('"@@"', "9" * 5000),
        "frames_huge_int": edited(frames(10**30)),
        "partition_value_string": edited(lambda idx: idx["partition"].update(TRAIN_SET="001")),
        "partition_value_int": edited(lambda idx: idx["partition"].update(TEST_SET=5)),
        "partition_list": edited(lambda idx: idx.update(partition=[1, 2])),
        "partition_ids_objects": edited(lambda idx: idx["partition"].update(TRAIN_SET=[{"id": 1}])),
        "modalities_string": edited(lambda idx: idx.update(modalities="aligned_sils")),
        "sequences_object": edited(lambda idx: idx.update(sequences={"001": 4})),
        "sequence_id_int": edited(lambda idx: idx["sequences"][0].update(id=1)),
        "deep_nesting": edited(lambda idx: idx.update(meta="@@")).replace('"@@"', "[" * 100_000 + "]" * 100_000),
        "not_json": "{\"format\": ",
    }


def _build_cases(base: Path) -> list[dict]:
    good_native = _native_root(base / "good-native", _frames().astype(np.uint8))
    good_run = base / "good-run"
    assert main(_train(good_native, good_run)) == 0
    good_ckpt = good_run / "checkpoints" / "GaitGL-00001.pt"
    state = torch.load(good_ckpt, weights_only=True)
    runs = base / "runs"
    cases = []
    # class 3: refused pickles
    for name, blob in hostile_pickles().items():
        root = _opengait_root(base / "pkl" / name, blob)
        cases.append(_case("pickle", name, _train(root, runs / f"pkl-{name}", f"data.partition={root}/partition.json",
                                                  fmt="opengait"), [root, ".pkl"], [root]))
    # class 4: a checkpoint field, on --resume; NaN weights also on eval
    for name, edit, words in CHECKPOINT_CASES:
        run = runs / f"ckpt-{name}"
        bad = copy.deepcopy(state)
        edit(bad)
        ckpt = run / "checkpoints" / "GaitGL-00001.pt"
        ckpt.parent.mkdir(parents=True)
        torch.save(bad, ckpt)
        cases.append(_case("checkpoint", name, _train(good_native, run, "trainer.total_iter=2", "--resume"),
                           [ckpt, words], [ckpt]))
        if name == "model_nan_weight":
            cases.append(_case("checkpoint", "eval_nan_weight", ["eval", "--config", CONFIG, "--checkpoint", ckpt,
                                                                  "--threads", "1", f"data.root={good_native}", *SMALL],
                               [ckpt, "NaN"], [ckpt]))
    # class 5: non-finite or out-of-range frames, in .npy and .pkl data
    for name, value, kind in (("nan", math.nan, "NaN"), ("inf", math.inf, "infinite"),
                              ("minus_inf", -math.inf, "infinite"), ("huge", 1e30, "out-of-range"),
                              ("negative", -7.0, "out-of-range")):
        root = _native_root(base / "val-npy" / name, _frames(value))
        cases.append(_case("values", f"npy_{name}", _train(root, runs / f"val-npy-{name}"),
                           [root, "aligned_sils.npy", "frame 2", kind], [root]))
        if name == "nan":  # raised in a DataLoader worker, whose traceback torch adds to the message
            cases.append(_case("values", "npy_nan_in_worker", _train(root, runs / "val-npy-worker",
                                                                     "trainer.num_workers=1"),
                               [root, "aligned_sils.npy", "frame 2", kind], [root]))
        blob = pickle.dumps(_frames(value), protocol=4)
        root = _opengait_root(base / "val-pkl" / name, blob)
        cases.append(_case("values", f"pkl_{name}", _train(root, runs / f"val-pkl-{name}",
                                                           f"data.partition={root}/partition.json", fmt="opengait"),
                           [root, ".pkl", "frame 2", kind], [root]))
    # class 6: index.json field types
    good_index = json.loads((good_native / "index.json").read_text())
    words = {"frames": "sequences[0].frames", "partition": "partition", "modalities": "'modalities'",
             "sequences": "'sequences'", "sequence": "sequences[0]", "deep": "nested too deeply", "not": "corrupt"}
    for name, text in _index_edits(good_index).items():
        root = base / "index" / name
        shutil.copytree(good_native, root)
        (root / "index.json").write_text(text)
        word = words[name.split("_")[0]]
        if name in ("frames_NaN", "frames_5000_digits"):
            word = "corrupt index"
        cases.append(_case("index", name, _train(root, runs / f"index-{name}"), [root / "index.json", word], [root]))
    # class 7: overrides after a flag are applied (the data.root given last is the one that is reported)
    cases.append(_case("options", "train_override_after_resume",
                       ["train", "--config", CONFIG, "data.root=/elsewhere", "--out", runs / "opt-1", "--resume",
                        "data.root=/no/such/dir"],
                       ["dataset folder not found: /no/such/dir"], []))
    cases.append(_case("options", "eval_override_after_checkpoint",
                       ["eval", "--config", CONFIG, "data.root=/elsewhere", "--checkpoint", good_ckpt,
                        "data.root=/no/such/dir"],
                       ["dataset folder not found: /no/such/dir"], [good_ckpt]))
    cases.append(_case("options", "train_overrides_around_flags",
                       ["train", "--config", CONFIG, f"data.root={good_native}", *SMALL[:3], "--out", runs / "opt-3",
                        "--resume", *SMALL[3:], "--threads", "1"], [], [good_native], ok=True))
    cases.append(_case("options", "eval_overrides_around_flags",
                       ["eval", "--config", CONFIG, f"data.root={good_native}", "--checkpoint", good_ckpt,
                        *SMALL, "--threads", "1"], [], [good_ckpt, good_native], ok=True))
    return cases


def _digest(paths) -> dict[str, str]:
    out = {}
    for p in map(Path, paths):
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            out[str(q)] = hashlib.sha256(q.read_bytes()).hexdigest() if q.exists() else "missing"
    return out


def _run_driver(cases: list[dict], base: Path) -> dict[str, dict]:
    env = dict(os.environ, GAITEDGE_LOG_LEVEL="ERROR", OMP_NUM_THREADS="1")
    results: dict[str, dict] = {}
    todo = list(cases)
    driver = Path(__file__).with_name("_driver.py")
    while todo:
        spec = base / f"cases-{len(results)}.json"
        out = base / f"results-{len(results)}.jsonl"
        spec.write_text(json.dumps([{"name": c["name"], "argv": c["argv"]} for c in todo]))
        proc = subprocess.run([sys.executable, str(driver), str(spec), str(out), str(MEMORY_MIB),
                               str(SECONDS_PER_CASE)], env=env, capture_output=True, text=True,
                              timeout=SECONDS_PER_CASE * len(todo) + 60)
        started = None
        for line in out.read_text().splitlines() if out.exists() else []:
            row = json.loads(line)
            if "start" in row:
                started = row["start"]
            else:
                results[row["name"]] = row
                started = None
        if proc.returncode != 0:  # the process died inside a case: record it, go on with the rest
            crashed = started or todo[0]["name"]
            results[crashed] = {"name": crashed, "rc": proc.returncode, "outcome": "crash",
                                "stderr": proc.stderr[-2000:]}
        todo = [c for c in todo if c["name"] not in results]
    return results


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    cases = _build_cases(base)
    before = {c["name"]: _digest(c["watch"]) for c in cases}
    results = _run_driver(cases, base)
    for c in cases:
        c["result"] = results[c["name"]]
        c["lost"] = _digest(c["watch"]) != before[c["name"]]
    return cases


def _problem(case: dict) -> str | None:
    r = case["result"]
    if r["outcome"] != "exit":
        return f"{r['outcome']}: {r['stderr'][-600:]}"
    if case["lost"]:
        return "an input file changed or disappeared"
    if "Traceback" in r["stderr"]:
        return f"traceback in stderr: {r['stderr'][-600:]}"
    if case["ok"]:
        return None if r["rc"] == 0 else f"exit {r['rc']}: {r['stderr'][-600:]}"
    command = case["argv"][0]
    errors = [ln for ln in r["stderr"].splitlines() if ln.startswith(f"gaitedge {command}: error:")]
    if r["rc"] != 2 or len(errors) != 1:
        return f"exit {r['rc']} with {len(errors)} error line(s): {r['stderr'][-600:]}"
    missing = [w for w in case["expect"] if w not in errors[0]]
    return f"error line lacks {missing}: {errors[0]}" if missing else None


@pytest.mark.parametrize("cls", ["pickle", "checkpoint", "values", "index", "options"])
def test_every_case_is_one_clean_line(cls, outcome):
    problems = {c["name"]: _problem(c) for c in outcome if c["cls"] == cls}
    assert problems, cls
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, json.dumps(bad, indent=1)


def test_counts(outcome, capsys):
    hostile = [c for c in outcome if not c["ok"]]
    counts = {
        "tried": len(outcome),
        "hostile": len(hostile),
        "clean errors": sum(_problem(c) is None for c in hostile),
        "tracebacks": sum(c["result"]["outcome"] == "traceback" or "Traceback" in c["result"]["stderr"]
                          for c in outcome),
        "hangs": sum(c["result"]["outcome"] == "hang" for c in outcome),
        "crashes": sum(c["result"]["outcome"] == "crash" for c in outcome),
        "lost data": sum(c["lost"] for c in outcome),
        "accepted as intended": sum(c["ok"] and _problem(c) is None for c in outcome),
    }
    with capsys.disabled():
        print("\nhostile CLI suite:", json.dumps(counts))
    assert counts["clean errors"] == counts["hostile"] and counts["tracebacks"] == counts["hangs"] == 0
    assert counts["crashes"] == counts["lost data"] == 0 and counts["tried"] >= 80


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_MIB << 20, MEMORY_MIB << 20))


@pytest.mark.parametrize("name", ["build_object_state_on_array", "memo_index_2e31", "rng_torch_float",
                                  "frames_1e400", "npy_nan"])
def test_python_m_gaitedge(name, outcome):
    """A few cases again as ``python -m gaitedge``, each in its own process: the entry point itself."""
    case = next(c for c in outcome if c["name"] == name)
    env = dict(os.environ, GAITEDGE_LOG_LEVEL="ERROR", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "gaitedge", *case["argv"]], capture_output=True, text=True,
                          timeout=120, env=env, preexec_fn=_limit_memory)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"gaitedge {case['argv'][0]}: error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert all(w in lines[0] for w in case["expect"]), lines[0]
