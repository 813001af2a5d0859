"""A segmenter's test-set masks computed once: identical to what the frozen copy and the mIoU evaluator compute."""

import pytest
import torch

from gaitedge.data import build_test_loader
from gaitedge.evaluation import SegmentationEvaluator, run_inference
from gaitedge.evaluation.segmenter_predictions import predict_segmenter, same_weights
from gaitedge.experiment import evaluate_model
from gaitedge.study import _test_config, _types, load_experiment, study_configs, time_split
from gaitedge.training.builders import build_model

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    exp = load_experiment("demo", "tiny")
    cfgs = study_configs(exp, "indoor", seed=0)
    torch.manual_seed(0)
    seg = build_model(dict(cfgs["Segmentation"]["model"], init=[]), num_classes=None)
    with torch.no_grad():  # a segmenter whose masks are neither empty nor full
        seg.Backbone.Conv_1x1.bias.fill_(0.05)
    edge = build_model(dict(cfgs["GaitEdge"]["model"], init=[]), num_classes=4)
    edge.Frozen.Backbone.load_state_dict(seg.Backbone.state_dict())
    rec_cfg = _test_config(cfgs["GaitEdge"], exp, "outdoor", 0)
    preds = predict_segmenter(seg, build_test_loader(rec_cfg["data"], ("rgbs", "sils")), CPU)
    return exp, cfgs, seg, edge, rec_cfg, preds


def test_shared_masks_equal_the_frozen_copy_and_give_identical_embeddings(setup):
    exp, cfgs, seg, edge, rec_cfg, preds = setup
    edge.eval()
    n_seq = 0
    with torch.inference_mode():
        for batch, meta in build_test_loader(rec_cfg["data"], ("rgbs", "ratios")):
            shared = preds.frozen_masks(batch, meta)  # [n, s, H, W]
            n, s, _, h, w = batch["rgbs"].shape
            own = edge.Frozen(batch["rgbs"].reshape(n * s, 3, h, w)) > 0.5  # what the model computes itself
            assert torch.equal(shared, own.reshape(n, s, h, w))
            assert 0 < int(shared.sum()) < shared.numel()
            n_seq += n
    assert n_seq == len(preds.masks)
    plain = evaluate_model(edge, rec_cfg)
    fed = evaluate_model(edge, rec_cfg, extra_inputs=lambda b, m: {"frozen_masks": preds.frozen_masks(b, m)})
    plain.pop("eval_seconds"), fed.pop("eval_seconds")
    assert fed == plain


def test_shared_miou_equals_the_evaluator_on_a_type_subset(setup):
    exp, cfgs, seg, edge, rec_cfg, preds = setup
    types = _types(("nm", "bg", "cl"))
    seg_cfg = _test_config(cfgs["Segmentation"], exp, "outdoor", 0, types)
    ref = run_inference(seg, build_test_loader(seg_cfg["data"], ("rgbs", "sils")), SegmentationEvaluator(), CPU)
    got = preds.miou(types)
    assert got["frames"] == ref["frames"]
    assert got["miou"] == pytest.approx(ref["miou"], rel=1e-13, abs=0)  # summation order only
    assert preds.miou()["frames"] > got["frames"]  # RC walks are in the shared pass too
    with pytest.raises(ValueError, match="no sequence"):
        preds.miou(["zz-01"])


def test_masks_follow_a_batch_of_concatenated_sequences(setup):
    *_, rec_cfg, preds = setup
    batch, meta = next(iter(build_test_loader(rec_cfg["data"], ("rgbs",))))
    n, s = batch["rgbs"].shape[:2]
    flat = {"rgbs": batch["rgbs"].reshape(1, n * s, *batch["rgbs"].shape[2:]), "seqL": torch.full((n,), s)}
    assert torch.equal(preds.frozen_masks(flat, meta), preds.frozen_masks(batch, meta).reshape(1, n * s, 64, 64))
    with pytest.raises(KeyError, match="no segmenter prediction"):
        preds.frozen_masks(batch, dict(meta, ids=["nobody"] * n))


def test_gaitedge_names_bad_frozen_masks(setup):
    *_, edge, rec_cfg, _ = setup
    batch, _ = next(iter(build_test_loader(rec_cfg["data"], ("rgbs", "ratios"))))
    n, s, _, h, w = batch["rgbs"].shape
    for bad in (torch.zeros(n, s, h, w), torch.zeros(n, s, h, w + 1, dtype=torch.bool)):
        with pytest.raises(ValueError, match="frozen_masks"):
            edge(dict(batch, frozen_masks=bad))


def test_same_weights_and_time_split():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert not same_weights(a, b)
    b.load_state_dict(a.state_dict())
    assert same_weights(a, b)
    split = time_split({"synth/x": 1.0, "train/x/A": 2.0, "eval/A/x->y": 3.0, "segment/S/x->y": 1.0,
                        "colour/x": 1.0}, 10.0)
    assert split == {"synth": 1.0, "train": 2.0, "eval": 5.0, "eval_share": 50.0}


def test_masks_are_shared_only_with_a_frozen_copy_of_the_same_weights(setup):
    from gaitedge.study import _reads_masks_of

    exp, cfgs, seg, edge, *_ = setup
    assert _reads_masks_of(edge, seg)
    other = build_model(dict(cfgs["Segmentation"]["model"], init=[]), num_classes=None)
    assert not _reads_masks_of(edge, other)  # another segmenter: GaitEdge runs its own frozen copy
    gt = build_model(dict(cfgs["GaitEdge-GT"]["model"], init=[]), num_classes=4)
    assert not _reads_masks_of(gt, seg)  # silhouette masks: nothing to share
