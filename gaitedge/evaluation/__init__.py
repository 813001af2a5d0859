"""Evaluation: distances and retrieval metrics, CASIA-B and TTG-200-style protocols, subject-level bootstrap
statistics, evaluators, reports."""

from gaitedge.evaluation.evaluator import RecognitionEvaluator, SegmentationEvaluator, run_inference
from gaitedge.evaluation.metrics import mean_average_precision, part_distance, rank_k_accuracy
from gaitedge.evaluation.protocols import (
    CASIA_B_GALLERY, CASIA_B_PROBES, MEAN_CONDITIONS, casia_b_protocol, ttg_protocol,
)
from gaitedge.evaluation.stats import bootstrap_ci, paired_difference, summarise

__all__ = [
    "RecognitionEvaluator", "SegmentationEvaluator", "run_inference", "part_distance", "rank_k_accuracy",
    "mean_average_precision", "casia_b_protocol", "ttg_protocol", "CASIA_B_GALLERY", "CASIA_B_PROBES",
    "MEAN_CONDITIONS", "bootstrap_ci", "paired_difference", "summarise",
]
