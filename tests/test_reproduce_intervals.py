"""``gaitedge reproduce``'s intervals over seeds and subjects, from small synthetic per-seed results (no training)."""

import json
import math

import numpy as np
import pytest

from gaitedge.evaluation.report import study_markdown
from gaitedge.reproduce import combine_seeds, combined_markdown, per_subject_from_evals, seed_subject_intervals
from gaitedge.study import DOMAINS, per_subject_table, summarise_study

MODELS = ("GaitGL", "GaitGL-E2E", "GaitEdge")
CONDS = ("NM", "BG", "CL", "RC")


def _full(seed, n=12, shift=0.0):
    """A study's protocol results for every (model, train, test) cell: per-subject rank-1 % and their means.
    ``shift`` moves GaitEdge's scores, standing in for what one training run does to one model."""
    rng = np.random.default_rng(seed)
    full = {}
    for m in MODELS:
        for tr in DOMAINS:
            for te in DOMAINS:
                base = (70.0 if tr == te else 35.0) + (shift if m == "GaitEdge" else 0.0)
                ids = [f"{i + 1:03d}" for i in range(n)]
                per = {c: {s: float(np.clip(rng.normal(base, 12.0), 0, 100)) for s in ids} for c in CONDS}
                if m == "GaitGL":  # silhouettes only: a recoloured probe scores as its NM twin
                    per["RC"] = dict(per["NM"])
                per["mean"] = {s: float(np.mean([per[c][s] for c in ("NM", "BG", "CL")])) for s in ids}
                summary = {c: float(np.mean(list(v.values()))) for c, v in per.items()}
                full.setdefault(m, {}).setdefault(tr, {})[te] = {"summary": summary, "per_subject": per}
    return full


def _results(seed, shift=0.0, per_subject=True):
    """One seed's ``results.json`` dict, built the way ``run_study`` builds it, round-tripped through JSON."""
    full = _full(seed, shift=shift)
    res = summarise_study(full, MODELS)
    res.update(segmenter={d: {"miou": 90.0 + seed, "miou_cross": 60.0, "all_foreground": 43.0, "miou_control": 70.0,
                              "mask_miou_probes": {t: {"NM": 80.0, "RC": 75.0} for t in DOMAINS}} for d in DOMAINS},
               targets=[{"what": "segmenter indoor: other-domain mIoU", "value": 60.0 + seed, "goal": ">= 85",
                         "met": False}],
               colour_baseline={d: {c: 20.0 for c in CONDS} for d in DOMAINS}, seed=seed, test_subjects=12,
               seconds=10.0, experiment="reproduce", preset="tiny", resumed=False,
               data={"subjects": 20, "test_subjects": 12, "views": ["000", "090"], "frames": 8, "size": 32,
                     "test_frames": 8},
               environment={"device": "cpu", "threads": 1, "torch": "x", "commit": None})
    if per_subject:
        res["per_subject"] = per_subject_table(full, MODELS)
    return json.loads(json.dumps(res))


def test_combine_seeds_adds_intervals_over_seeds_and_subjects():
    per_seed = {s: _results(s, shift=10.0 * s) for s in (0, 1, 2)}
    res = combine_seeds(per_seed)
    # nothing existing renamed or lost
    for key in ("seeds", "summary", "matrix_mean_sd", "differences_mean_sd", "segmenter", "colour_baseline",
                "per_seed"):
        assert key in res
    assert res["bootstrap"]["unit"].startswith("training seed")
    assert set(res["differences_ci"]) == set(per_seed[0]["differences"])
    for key, r in res["differences_ci"].items():
        assert r["n_seeds"] == 3 and r["what"] == per_seed[0]["differences"][key]["what"]
        assert r["ci"][0] <= r["mean"] <= r["ci"][1]
        # equal subject counts: the mean over seeds and subjects is the mean of the seeds' own estimates
        assert r["mean"] == pytest.approx(np.mean([per_seed[s]["differences"][key]["mean"] for s in (0, 1, 2)]))
    key = "GaitEdge - GaitGL-E2E, cross-domain, mean"
    assert res["differences_ci"][key]["n"] == 3 * 2 * 12  # two cross-domain cells pooled, in each of 3 seeds
    # GaitEdge moves by 10 points per seed: the interval over seeds is wider than any one seed's subject interval
    width = res["differences_ci"][key]["ci"][1] - res["differences_ci"][key]["ci"][0]
    assert width > max(per_seed[s]["differences"][key]["ci"][1] - per_seed[s]["differences"][key]["ci"][0]
                       for s in (0, 1, 2))
    for m in MODELS:
        ci = res["summary_ci"][m]
        for q in ("in_domain", "cross_domain", "nm_rc_in_domain", "nm_rc_cross_domain"):
            assert ci[q]["n_seeds"] == 3
            assert ci[q]["mean"] == pytest.approx(res["summary"][m][q][0], abs=0.01)  # the summary's mean over seeds
        assert ci["nm_rc_cross_domain"] == {k: v for k, v in res["differences_ci"][f"{m}, NM - RC, cross-domain"].items()
                                            if k != "what"}
    assert res["summary_ci"]["GaitGL"]["nm_rc_in_domain"]["ci"] == [0.0, 0.0]
    json.dumps(res, allow_nan=True)  # plain JSON types

    md = combined_markdown(res, "gaitedge reproduce --out x --seeds 0,1,2")
    assert "## Summary: 95 % intervals over seeds and test subjects" in md
    assert "includes training variance" in md and "With 3 seeds the seed level is coarse" in md
    r = res["differences_ci"][key]
    assert f"| {key} | " in md and f"{r['mean']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]" in md
    s = res["summary_ci"]["GaitEdge"]["cross_domain"]
    assert f"| GaitEdge | " in md and f"{s['mean']:.1f} [{s['ci'][0]:.1f}, {s['ci'][1]:.1f}]" in md


def test_one_seed_gives_back_the_study_intervals():
    # with one seed there is no seed level: the pooled differences are exactly the study's own bootstrap
    one = _results(4)
    res = combine_seeds({4: one})
    for key, r in one["differences"].items():
        assert res["differences_ci"][key]["ci"] == r["ci"]
        assert res["differences_ci"][key]["mean"] == r["mean"] and res["differences_ci"][key]["n"] == r["n"]


def test_seeds_without_per_subject_scores_keep_the_old_report():
    per_seed = {0: _results(0), 1: _results(1, per_subject=False)}
    assert seed_subject_intervals(per_seed, [0, 1]) is None
    res = combine_seeds(per_seed)
    assert "differences_ci" not in res and "summary_ci" not in res
    md = combined_markdown(res, "gaitedge reproduce --out x --seeds 0,1")
    assert "No interval over seeds and subjects" in md and "seeds + subjects" not in md
    summary = res["summary"]["GaitEdge"]
    assert f"| GaitEdge | {summary['in_domain'][0]:.1f} ± {summary['in_domain'][1]:.1f} | " in md


def test_per_subject_scores_from_a_seeds_evals(tmp_path):
    full = _full(7)
    (tmp_path / "evals").mkdir()
    for m in MODELS:
        for tr in DOMAINS:
            for te in DOMAINS:
                (tmp_path / "evals" / f"rec-{m}-{tr}-{te}.json").write_text(json.dumps(full[m][tr][te]))
    assert per_subject_from_evals(tmp_path, MODELS) == per_subject_table(full, MODELS)
    # the intervals then match those from results.json's own per_subject
    res = _results(7, per_subject=False)
    res_from_evals = combine_seeds({7: dict(res, per_subject=per_subject_from_evals(tmp_path, MODELS))})
    assert res_from_evals["differences_ci"] == combine_seeds({7: _results(7)})["differences_ci"]
    # a missing or corrupt file: no table (a warning names the file), never a crash
    (tmp_path / "evals" / "rec-GaitEdge-indoor-outdoor.json").write_text("{not json")
    assert per_subject_from_evals(tmp_path, MODELS) is None
    (tmp_path / "evals" / "rec-GaitEdge-indoor-outdoor.json").unlink()
    assert per_subject_from_evals(tmp_path, MODELS) is None
    assert per_subject_from_evals(tmp_path / "nowhere", MODELS) is None


def test_single_seed_report_says_its_intervals_omit_training_variance():
    res = _results(0)
    res["matrix"] = {m: res["matrix"][m] for m in MODELS}
    md = study_markdown(res, DOMAINS)
    assert "not training variance" in md
    assert not math.isnan(res["differences"]["GaitEdge - GaitGL-E2E, cross-domain, mean"]["mean"])


def test_run_reproduce_resumed_from_seeds_without_per_subject(tmp_path):
    # seeds finished before results.json held per-subject scores: the combined run reads them from seed-N/evals/
    from gaitedge.reproduce import run_reproduce

    for s in (0, 1):
        seed_dir = tmp_path / f"seed-{s}"
        (seed_dir / "evals").mkdir(parents=True)
        (seed_dir / "results.json").write_text(json.dumps(_results(s, per_subject=False)))
        full = _full(s)
        for m in MODELS:
            for tr in DOMAINS:
                for te in DOMAINS:
                    (seed_dir / "evals" / f"rec-{m}-{tr}-{te}.json").write_text(json.dumps(full[m][tr][te]))
    res = run_reproduce(tmp_path, preset="cpu", seeds=(0, 1), resume=True)
    assert res["differences_ci"] == combine_seeds({s: _results(s) for s in (0, 1)})["differences_ci"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary_ci"] == res["summary_ci"]
    assert "seeds + subjects 95 %" in (tmp_path / "report.md").read_text()


def test_combine_seeds_takes_the_numeric_segmenter_fields_and_reports_targets():
    per_seed = {s: _results(s) for s in (0, 1)}
    res = combine_seeds(per_seed)
    assert set(res["segmenter"]["indoor"]) == {"miou", "miou_cross", "all_foreground", "miou_control"}
    assert res["segmenter"]["indoor"]["miou"] == [90.5, 0.71]
    md = combined_markdown(res, "cmd")
    assert "| segmenter indoor: other-domain mIoU | >= 85 | 60.0 (**not met**) | 61.0 (**not met**) |" in md
