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
