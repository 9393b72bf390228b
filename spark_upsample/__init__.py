"""spark-upsample: exact, reproducible class rebalancing on Apache Spark.

The public API: :func:`upsample`, :func:`downsample`, :func:`resample` and :func:`smote`
(DataFrame -> DataFrame transforms), and their ``*_with_plan`` forms, which return the plan of
what they did too; for training, :func:`split` (exact stratified parts) and :func:`with_folds`
(a fold column), and :func:`class_weights` and :func:`prior_correction`, Column expressions
for fitting a model. The Spark ML stages are in :mod:`spark_upsample.ml`.
Needs PySpark 3.5 or 4.x (classic or Spark Connect), which the wheel does not force on a platform
that provides it (see :mod:`spark_upsample.pyspark_check`).
"""

from __future__ import annotations

from spark_upsample.pyspark_check import require_pyspark

require_pyspark()  # first: without PySpark 3.5+, an ImportError that says what to install

from spark_upsample.errors import (
    DuplicateKeyError,
    EmptyInputError,
    InvalidDataError,
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    MissingColumnError,
    RatioLimitError,
    SingleClassError,
    SparkUpsampleError,
)
from spark_upsample.oversampling import upsample, upsample_with_plan
from spark_upsample.plan import ClassPlan, ResamplePlan
from spark_upsample.priors import prior_correction
from spark_upsample.resampling import Resampled, resample, resample_with_plan
from spark_upsample.smote import smote, smote_with_plan
from spark_upsample.splitting import CellParts, Split, SplitPlan, split, split_with_plan, with_folds
from spark_upsample.strategy import common_targets, over_sampling_targets, under_sampling_targets
from spark_upsample.undersampling import downsample, downsample_with_plan
from spark_upsample.weights import class_weights

__version__ = "0.1.0"

__all__ = [
    "CellParts",
    "ClassPlan",
    "DuplicateKeyError",
    "EmptyInputError",
    "InvalidDataError",
    "InvalidLabelError",
    "InvalidParameterError",
    "InvalidStrategyError",
    "MissingColumnError",
    "RatioLimitError",
    "SingleClassError",
    "SparkUpsampleError",
    "Split",
    "SplitPlan",
    "ResamplePlan",
    "Resampled",
    "class_weights",
    "common_targets",
    "downsample",
    "downsample_with_plan",
    "over_sampling_targets",
    "prior_correction",
    "resample",
    "resample_with_plan",
    "smote",
    "smote_with_plan",
    "split",
    "split_with_plan",
    "under_sampling_targets",
    "upsample",
    "upsample_with_plan",
    "with_folds",
]
