import math

import pytest
import torch

from gaitedge.evaluation.evaluator import RecognitionEvaluator, SegmentationEvaluator
from gaitedge.evaluation.metrics import mean_average_precision, part_distance, rank_k_accuracy
from gaitedge.evaluation.protocols import casia_b_protocol, ttg_protocol


def _tiny_gallery():
    """Two subjects, two views; 1-D embeddings worked out by hand (see test_casia_b_known_answer)."""
    rows = [  # (id, type, view, value)
        ("A", "nm-01", "000", 0.0), ("B", "nm-01", "000", 10.0), ("A", "nm-01", "090", 6.0), ("B", "nm-01", "090", 4.0),
        # NM probes equal their gallery entries: right on the same view, wrong on the other view
        ("A", "nm-05", "000", 0.0), ("B", "nm-05", "000", 10.0), ("A", "nm-05", "090", 6.0), ("B", "nm-05", "090", 4.0),
        # BG probes: right across views
        ("A", "bg-01", "000", 5.9), ("B", "bg-01", "000", 3.9), ("A", "bg-01", "090", 0.1), ("B", "bg-01", "090", 9.9),
        # CL probes: one of two right per view
        ("A", "cl-01", "000", 0.0), ("B", "cl-01", "000", 3.9), ("A", "cl-01", "090", 0.1), ("B", "cl-01", "090", 0.2),
    ]
    emb = torch.tensor([r[3] for r in rows]).view(-1, 1, 1)  # [n, c=1, p=1]
    return emb, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def test_casia_b_known_answer():
    emb, ids, types, views = _tiny_gallery()
    res = casia_b_protocol(emb, ids, types, views)
    assert res["views"] == ["000", "090"]
    # the diagonal (identical views) is 100% for NM but must be excluded
    assert res["table"]["NM"] == [[100.0, 0.0], [0.0, 100.0]]
    assert res["per_view"]["NM"] == [0.0, 0.0]
    assert res["per_view"]["BG"] == [100.0, 100.0]
    assert res["per_view"]["CL"] == [50.0, 50.0]
    assert res["summary"] == {"NM": 0.0, "BG": 100.0, "CL": 50.0, "mean": 50.0}


def test_casia_b_missing_condition_is_nan():
    emb, ids, types, views = _tiny_gallery()
    keep = [i for i, t in enumerate(types) if not t.startswith("cl")]
    res = casia_b_protocol(emb[keep], [ids[i] for i in keep], [types[i] for i in keep], [views[i] for i in keep])
    assert math.isnan(res["summary"]["CL"])
    assert res["summary"]["mean"] == 50.0  # mean over the conditions present


def test_casia_b_exception():
    emb, ids, types, views = _tiny_gallery()
    with pytest.raises(ValueError, match="no gallery"):
        casia_b_protocol(emb, ids, ["bg-01"] * len(ids), views)
    with pytest.raises(ValueError, match="views has"):
        casia_b_protocol(emb, ids, types, views[:-1])


def test_part_distance_averages_parts():
    x = torch.zeros(1, 1, 2)  # [n, c=1, p=2]
    y = torch.tensor([[3.0, 0.0], [1.8, 1.8]]).view(2, 1, 2)
    d = part_distance(x, y)
    assert d.dtype == torch.float32
    assert d.tolist()[0] == pytest.approx([1.5, 1.8])  # the concatenated distance would rank y[1] first
    assert part_distance(x.half(), y.half()).dtype == torch.float32
    dc = part_distance(torch.tensor([[[1.0]], [[0.0]]]).view(1, 2, 1), torch.tensor([1.0, 0.0, 0.0, 1.0]).view(2, 2, 1),
                       metric="cos")
    assert dc.tolist()[0] == pytest.approx([0.0, 1.0])


def test_rank_k_and_map():
    dist = torch.tensor([[0.1, 0.5, 0.3]])
    acc = rank_k_accuracy(dist, ["a"], ["b", "a", "a"], ks=(1, 2, 5))
    assert acc == {1: 0.0, 2: 100.0, 5: 100.0}
    assert mean_average_precision(dist, ["a"], ["b", "a", "a"]) == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    assert math.isnan(mean_average_precision(dist, ["z"], ["b", "a", "a"]))


def test_ttg_protocol():
    emb = torch.tensor([0.0, 10.0, 0.5, 9.0, 8.0]).view(-1, 1, 1)
    ids = ["a", "b", "a", "b", "a"]
    types = ["1", "1", "2", "2", "3"]
    res = ttg_protocol(emb, ids, types, ks=(1, 2))
    assert res["rank"] == {"1": pytest.approx(200 / 3), "2": 100.0}
    assert res["per_type"]["2"]["rank"]["1"] == 100.0
    assert res["per_type"]["3"]["rank"]["1"] == 0.0
    assert res["mAP"] == pytest.approx((100 + 100 + 50) / 3)


def test_recognition_evaluator_batches():
    emb, ids, types, views = _tiny_gallery()
    ev = RecognitionEvaluator("casia_b")
    for i in range(0, len(ids), 3):  # any batch size
        ev.process({"ids": ids[i:i + 3], "types": types[i:i + 3], "views": views[i:i + 3]},
                   {"inference_feat": {"embeddings": emb[i:i + 3]}})
    assert ev.evaluate()["summary"]["mean"] == 50.0
    ev.reset()
    with pytest.raises(ValueError, match="before any batch"):
        ev.evaluate()
    with pytest.raises(ValueError, match="NaN"):
        ev.process({"ids": ["A"], "types": ["nm-01"], "views": ["000"]},
                   {"inference_feat": {"embeddings": torch.full((1, 1, 1), float("nan"))}})


def test_segmentation_evaluator_streams():
    ev = SegmentationEvaluator()
    probs = torch.zeros(3, 1, 2, 2)
    probs[0, 0, 0] = 0.9
    targets = torch.zeros(3, 1, 2, 2)
    targets[0, 0, 0, 0] = 1
    targets[1, 0, 1, 1] = 1
    for i in range(3):  # frame by frame
        ev.process(None, {"inference_feat": {"probs": probs[i:i + 1], "targets": targets[i:i + 1]}})
    res = ev.evaluate()
    assert res["frames"] == 3
    assert res["miou"] == pytest.approx(100 * (0.5 + 0.0 + 1.0) / 3)


def test_reports(tmp_path):
    import zlib

    import numpy as np

    from gaitedge.evaluation.report import casia_b_markdown, format_casia_b, image_grid, matrix_markdown

    emb, ids, types, views = _tiny_gallery()
    res = casia_b_protocol(emb, ids, types, views)
    assert "NM@R1: 0.00%" in format_casia_b(res)
    assert "| CL | 50.0 | 50.0 | 50.0 |" in casia_b_markdown(res)
    row = {"NM": 1.0, "BG": 2.0, "CL": 3.0, "mean": 2.0}
    md = matrix_markdown({"GaitEdge": {"indoor": {"indoor": row, "outdoor": row}}}, ["indoor", "outdoor"])
    assert "| indoor | GaitEdge | 1.00 | 2.00 | 3.00 | 2.00 | *1.00* |" in md
    p = image_grid([[np.zeros((4, 4)), np.ones((3, 4, 4))]], tmp_path / "g.png", cell=(8, 6))
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    h, w = 8 + 4, 2 * 6 + 6
    assert len(raw) == h * (1 + 3 * w)


def _three_subjects(extra=()):
    """Three subjects, views 0 and 90, 1-D embeddings; per-subject answers worked out by hand.

    Gallery (nm-01): A, B, C at 0, 10, 20 (view 0) and 100, 110, 120 (view 90). NM probes (nm-05):
    A@0 = 100 -> A@90 (hit), A@90 = 20 -> C@0 (miss); B@0 = 110 (hit), B@90 = 10 (hit);
    C@0 = 104 -> A@90 (miss), C@90 = 0 -> A@0 (miss): a probe's hit is decided against every subject's gallery.
    """
    rows = [
        ("A", "nm-01", "0", 0.0), ("B", "nm-01", "0", 10.0), ("C", "nm-01", "0", 20.0),
        ("A", "nm-01", "90", 100.0), ("B", "nm-01", "90", 110.0), ("C", "nm-01", "90", 120.0),
        ("A", "nm-05", "0", 100.0), ("A", "nm-05", "90", 20.0),
        ("B", "nm-05", "0", 110.0), ("B", "nm-05", "90", 10.0),
        ("C", "nm-05", "0", 104.0), ("C", "nm-05", "90", 0.0),
        *extra,
    ]
    emb = torch.tensor([r[3] for r in rows]).view(-1, 1, 1)  # [n, c=1, p=1]
    return emb, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def test_per_subject_known_answer():
    res = casia_b_protocol(*_three_subjects())
    assert res["table"]["NM"][0][1] == pytest.approx(200 / 3)  # A and B hit at 0 -> 90, C misses
    assert res["table"]["NM"][1][0] == pytest.approx(100 / 3)  # only B hits at 90 -> 0
    assert res["per_subject"]["NM"] == {"A": 50.0, "B": 100.0, "C": 0.0}
    assert res["per_subject"]["mean"] == {"A": 50.0, "B": 100.0, "C": 0.0}  # BG and CL have no probes
    assert res["summary"]["NM"] == pytest.approx(50.0)
    assert set(res["per_subject"]) == {"NM", "BG", "CL", "mean"}
    assert res["per_subject"]["BG"] == {} and math.isnan(res["summary"]["BG"])


def test_per_subject_unbalanced_and_missing_views():
    # B gets a second probe at view 0 (a hit): the pooled cell rises to 3/4, B's own score stays 100
    res = casia_b_protocol(*_three_subjects([("B", "nm-06", "0", 111.0)]))
    assert res["per_subject"]["NM"] == {"A": 50.0, "B": 100.0, "C": 0.0}
    assert res["summary"]["NM"] == pytest.approx((75.0 + 100 / 3) / 2)
    assert sum(res["per_subject"]["NM"].values()) / 3 != pytest.approx(res["summary"]["NM"])  # needs balance
    # D is only probed at view 0 (a hit): its view-90 row is NaN and skipped, not counted as 0
    extra = [("D", "nm-01", "0", 30.0), ("D", "nm-01", "90", 130.0), ("D", "nm-05", "0", 131.0)]
    res = casia_b_protocol(*_three_subjects(extra))
    assert res["per_subject"]["NM"] == {"A": 50.0, "B": 100.0, "C": 0.0, "D": 100.0}


def _balanced_random(n_subjects=7, views=("0", "36", "72", "108", "144"), seed=0, rc=True):
    """Every subject has one sequence of every type at every view; embeddings noisy around a subject centre."""
    g = torch.Generator().manual_seed(seed)
    types = ["nm-01", "nm-02", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"]
    types += ["rc-01", "rc-02"] if rc else []
    meta = [(f"{s:03d}", t, v) for s in range(n_subjects) for t in types for v in views]
    centre = torch.randn(n_subjects, 4, 2, generator=g)  # [S, c, p]
    noise = {"nm": 0.9, "bg": 1.2, "cl": 1.6, "rc": 1.3}
    emb = torch.stack([centre[int(s)] + noise[t[:2]] * torch.randn(4, 2, generator=g) for s, t, _ in meta])  # [n, c, p]
    return emb, [m[0] for m in meta], [m[1] for m in meta], [m[2] for m in meta]


@pytest.mark.parametrize("metric", ["euc", "cos"])
def test_per_subject_mean_equals_summary_when_balanced(metric):
    emb, ids, types, views = _balanced_random()
    res = casia_b_protocol(emb, ids, types, views, gallery_types=("nm-01", "nm-02"), metric=metric)
    assert set(res["per_subject"]) == {"NM", "BG", "CL", "RC", "mean"}
    for cond, scores in res["per_subject"].items():
        assert sorted(scores) == sorted(set(ids))
        assert sum(scores.values()) / len(scores) == pytest.approx(res["summary"][cond], abs=1e-9)
    cl = list(res["per_subject"]["CL"].values())
    assert 0.0 < res["summary"]["CL"] < 100.0 and min(cl) < max(cl)  # not a degenerate all-hit/all-miss case


def test_rc_condition_omitted_when_absent():
    emb, ids, types, views = _balanced_random(rc=False)
    res = casia_b_protocol(emb, ids, types, views)
    for key in ("table", "per_view", "per_subject"):
        assert list(res[key]) == (["NM", "BG", "CL", "mean"] if key == "per_subject" else ["NM", "BG", "CL"])
    assert list(res["summary"]) == ["NM", "BG", "CL", "mean"]
    emb, ids, types, views = _balanced_random(rc=True)
    res = casia_b_protocol(emb, ids, types, views)
    assert list(res["summary"]) == ["NM", "BG", "CL", "RC", "mean"]
    assert "RC" in res["table"] and "RC" in res["per_view"] and "RC" in res["per_subject"]
    assert len(res["per_view"]["RC"]) == len(res["views"])


def test_mean_excludes_rc():
    emb, ids, types, views = _balanced_random(rc=True)
    # make every RC probe a copy of a wrong subject's gallery walk: RC is then far from the other conditions
    ids_rc = [(f"{(int(i) + 1) % 7:03d}" if t.startswith("rc") else i) for i, t in zip(ids, types)]
    res = casia_b_protocol(emb, ids_rc, types, views)
    s = res["summary"]
    assert s["RC"] < 20.0 < s["NM"]
    assert s["mean"] == pytest.approx((s["NM"] + s["BG"] + s["CL"]) / 3)
    for sid, m in res["per_subject"]["mean"].items():
        assert m == pytest.approx(sum(res["per_subject"][c][sid] for c in ("NM", "BG", "CL")) / 3)


def test_mean_conditions_with_custom_probe_sets():
    emb, ids, types, views = _balanced_random(rc=False)
    # none of NM/BG/CL: the mean is over every condition, and an absent one is NaN rather than dropped
    res = casia_b_protocol(emb, ids, types, views, probe_sets={"X": ("nm-05",), "Y": ("cl-01",), "Z": ("zz-01",)})
    assert list(res["summary"]) == ["X", "Y", "Z", "mean"] and math.isnan(res["summary"]["Z"])
    assert res["summary"]["mean"] == pytest.approx((res["summary"]["X"] + res["summary"]["Y"]) / 2)
    # with NM present, other conditions are reported but not averaged, and dropped when absent
    res = casia_b_protocol(emb, ids, types, views, probe_sets={"NM": ("nm-05",), "Y": ("cl-01",), "Z": ("zz-01",)})
    assert list(res["summary"]) == ["NM", "Y", "mean"]
    assert res["summary"]["mean"] == res["summary"]["NM"]


def test_recognition_evaluator_passes_per_subject():
    emb, ids, types, views = _three_subjects()
    ev = RecognitionEvaluator("casia_b")
    for i in range(0, len(ids), 5):
        ev.process({"ids": ids[i:i + 5], "types": types[i:i + 5], "views": views[i:i + 5]},
                   {"inference_feat": {"embeddings": emb[i:i + 5]}})
    res = ev.evaluate()
    assert res["per_subject"]["NM"] == {"A": 50.0, "B": 100.0, "C": 0.0}
    assert list(res["summary"]) == ["NM", "BG", "CL", "mean"]
