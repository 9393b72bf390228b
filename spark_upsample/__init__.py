"""spark-upsample: exact, reproducible class rebalancing on Apache Spark.

The public API: :func:`upsample`, :func:`downsample`, :func:`resample` and :func:`smote` (DataFrame
-> DataFrame transforms), and their ``*_with_plan`` forms, which return the plan of what they did
too; for training, :func:`split` (exact stratified parts) and :func:`with_folds` (a fold column),
and :func:`class_weights` and :func:`prior_correction`, Column expressions for fitting a model; and
the Spark ML stages :class:`Upsampler`, :class:`Downsampler`, :class:`Resampler` with the
:class:`Pipeline` that resamples training data only (imported on first use: they load
``pyspark.ml``). Everything here is the public API; the subpackages ``engine`` (the sampling
engine), ``transforms`` (these functions' modules) and ``job`` (the batch job) are internal. Needs
PySpark 3.5 or 4.x (classic or Spark Connect), which the wheel does not force on a platform that
provides it (see :mod:`spark_upsample.pyspark_check`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spark_upsample.pyspark_check import PySparkMissingError, require_pyspark

__version__ = "0.1.0"

try:
    require_pyspark()  # first: without PySpark 3.5+, the public API is an ImportError
except PySparkMissingError as error:
    # The job's command line imports this package too, and its --help, --version and report
    # need no PySpark: the public names raise the error on first use (see __getattr__).
    _PYSPARK_MISSING: str | None = str(error)
else:
    _PYSPARK_MISSING = None
    from spark_upsample.engine.pipeline import Resampled
    from spark_upsample.engine.plan import ClassPlan, ResamplePlan
    from spark_upsample.engine.strategy import (
        common_targets,
        over_sampling_targets,
        under_sampling_targets,
    )
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
    from spark_upsample.transforms.oversampling import upsample, upsample_with_plan
    from spark_upsample.transforms.priors import prior_correction
    from spark_upsample.transforms.resampling import resample, resample_with_plan
    from spark_upsample.transforms.smote import smote, smote_with_plan
    from spark_upsample.transforms.splitting import (
        CellParts,
        Split,
        SplitPlan,
        split,
        split_with_plan,
        with_folds,
    )
    from spark_upsample.transforms.undersampling import downsample, downsample_with_plan
    from spark_upsample.transforms.weights import class_weights

if TYPE_CHECKING:
    from spark_upsample.transforms.ml import (
        Downsampler,
        Pipeline,
        Resampler,
        SamplerModel,
        Upsampler,
    )

_ML_STAGES = frozenset({"Downsampler", "Pipeline", "Resampler", "SamplerModel", "Upsampler"})


def __getattr__(name: str) -> Any:
    """The Spark ML stages, imported on first use (``pyspark.ml`` is slow to import). Without
    PySpark 3.5+, every public name is a :class:`PySparkMissingError` (an ``ImportError``) that
    says what to install."""
    if _PYSPARK_MISSING is not None and name in __all__:
        raise PySparkMissingError(_PYSPARK_MISSING, name="pyspark")
    if name in _ML_STAGES:
        from spark_upsample.transforms import ml

        return getattr(ml, name)
    raise AttributeError(f"module 'spark_upsample' has no attribute {name!r}")


__all__ = [
    "Downsampler",
    "Pipeline",
    "Resampler",
    "SamplerModel",
    "Upsampler",
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
