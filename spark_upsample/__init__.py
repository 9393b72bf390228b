"""spark-upsample: exact, reproducible class rebalancing on Apache Spark.

The public API: :func:`upsample`, :func:`downsample` and :func:`resample` (DataFrame -> DataFrame
transforms), and their ``*_with_plan`` forms, which return the plan of what they did too.
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
from spark_upsample.plan import ClassPlan, ResamplePlan
from spark_upsample.strategy import common_targets, over_sampling_targets, under_sampling_targets
from spark_upsample.oversampling import upsample, upsample_with_plan
from spark_upsample.resampling import Resampled, resample, resample_with_plan
from spark_upsample.undersampling import downsample, downsample_with_plan

__version__ = "0.1.0"

__all__ = [
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
    "ResamplePlan",
    "Resampled",
    "common_targets",
    "downsample",
    "downsample_with_plan",
    "over_sampling_targets",
    "resample",
    "resample_with_plan",
    "under_sampling_targets",
    "upsample",
    "upsample_with_plan",
]
