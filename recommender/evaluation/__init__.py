"""Evaluation and tuning: ground truth, metrics, comparisons, mining, the HTML report."""

from .metrics import (
    average_precision,
    hit_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
from .qrels import Qrels, QrelsError, QrelsReport, load_qrels, qrels_from_mapping
from .runner import (
    DEFAULT_KS,
    EvaluationResult,
    SystemResult,
    baselines,
    evaluate,
    evaluate_systems,
    parse_ks,
    split_queries,
)
from .systems import (
    FunctionSystem,
    LatestInSectionSystem,
    ModelSystem,
    PlainCosineSystem,
    RandomSystem,
    TfidfBaselineSystem,
)

__all__ = [
    "DEFAULT_KS",
    "EvaluationResult",
    "FunctionSystem",
    "LatestInSectionSystem",
    "ModelSystem",
    "PlainCosineSystem",
    "Qrels",
    "QrelsError",
    "QrelsReport",
    "RandomSystem",
    "SystemResult",
    "TfidfBaselineSystem",
    "average_precision",
    "baselines",
    "evaluate",
    "evaluate_systems",
    "hit_at_k",
    "load_qrels",
    "ndcg_at_k",
    "parse_ks",
    "precision_at_k",
    "qrels_from_mapping",
    "recall_at_k",
    "reciprocal_rank",
    "split_queries",
]
