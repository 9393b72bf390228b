"""spark-upsample: exact, reproducible class rebalancing on Apache Spark.

The public API is :func:`upsample` (a DataFrame -> DataFrame transform) and
:func:`upsample_with_plan` (the same, returning the plan of what it did too).
"""

from __future__ import annotations

from spark_upsample.errors import (
    EmptyInputError,
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    MissingColumnError,
    RatioLimitError,
    SingleClassError,
    SparkUpsampleError,
)
from spark_upsample.plan import ClassPlan, UpsamplePlan
from spark_upsample.strategy import over_sampling_targets
from spark_upsample.oversampling import Upsampled, upsample, upsample_with_plan

__version__ = "0.1.0"

__all__ = [
    "ClassPlan",
    "EmptyInputError",
    "InvalidLabelError",
    "InvalidParameterError",
    "InvalidStrategyError",
    "MissingColumnError",
    "RatioLimitError",
    "SingleClassError",
    "SparkUpsampleError",
    "UpsamplePlan",
    "Upsampled",
    "over_sampling_targets",
    "upsample",
    "upsample_with_plan",
]
