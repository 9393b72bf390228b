"""Spark ML stages that resample the training data only: :class:`Upsampler`, :class:`Downsampler`,
:class:`Resampler`, and the :class:`Pipeline` that runs them.

The semantics are those of imbalanced-learn's ``Pipeline``: when :meth:`Pipeline.fit` runs, a
sampler stage resamples the frame that the later stages are fitted on; the fitted
``PipelineModel`` never resamples. In it the sampler is a :class:`SamplerModel`, which passes
every row through unchanged and in order, so scoring, evaluation and the validation folds of
``CrossValidator`` and ``TrainValidationSplit`` see the data as it is.

A sampler is an ``Estimator`` that only :class:`Pipeline` fits: ``pyspark.ml.Pipeline`` would
call its ``fit``, which refuses (it would otherwise leave the data unbalanced without a word).
Outside a pipeline, ``sampler.resample(df)`` resamples a frame the way the functions do.

The stages hold only JSON values, so pipelines and fitted models save and load with Spark ML's
own writers, on classic Spark and on Spark Connect. They use the DataFrame API only.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model, PipelineModel, Transformer
from pyspark.ml import Pipeline as SparkPipeline
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasLabelCol
from pyspark.ml.pipeline import PipelineReader
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame

from spark_upsample.engine.pipeline import Resampled
from spark_upsample.engine.plan import ResamplePlan
from spark_upsample.engine.strategy import DEFAULT_MAX_RATIO, ordered_classes
from spark_upsample.errors import InvalidParameterError
from spark_upsample.transforms.oversampling import upsample_with_plan
from spark_upsample.transforms.resampling import resample_with_plan
from spark_upsample.transforms.undersampling import downsample_with_plan

__all__ = ["Downsampler", "Pipeline", "Resampler", "SamplerModel", "Upsampler"]

JSON_LABEL = (bool, int, float, str)

# Each Param and the keyword argument of the functions it becomes.
OPTION_NAMES = {
    "seed": "seed",
    "groupBy": "group_by",
    "keyCols": "key_cols",
    "nullLabels": "null_labels",
    "checkpointInput": "checkpoint_input",
    "weightCol": "weight_col",
    "samplingStrategy": "sampling_strategy",
    "target": "target",
    "keepOriginals": "keep_originals",
    "replacement": "replacement",
    "maxRatio": "max_ratio",
    "shrinkage": "shrinkage",
    "shrinkageCols": "shrinkage_cols",
}


def _to_strategy(value: Any) -> Any:
    """A sampling strategy as a JSON value: a string, a float, or a dict as sorted
    ``[label, count]`` pairs (JSON object keys would turn every label into a string)."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in value):
        pairs = [tuple(p) for p in value]  # the saved form, read back
    else:
        pairs = []
    if pairs and all(
        len(p) == 2 and isinstance(p[0], JSON_LABEL) and _is_count(p[1]) for p in pairs
    ):
        counts = dict(pairs)
        return [[label, counts[label]] for label in ordered_classes(counts)]
    raise TypeError(
        "samplingStrategy must be a string, a float or a dict {class: count} with bool, int, "
        f"float or string classes (a callable cannot be saved). Got {value!r} instead."
    )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _from_pairs(strategy: Any) -> Any:
    """A strategy as the functions take it: ``[label, count]`` pairs back to a dict."""
    return dict(map(tuple, strategy)) if isinstance(strategy, list) else strategy


def _to_target(value: Any) -> int | str:
    if isinstance(value, str):
        return value
    return TypeConverters.toInt(value)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter for a Param whose None means unset (or, for ``maxRatio``, off)."""
    return lambda value: None if value is None else convert(value)


def _list_or_empty(value: Any) -> list[str]:
    """A list of column names; None is the empty list, the default."""
    return [] if value is None else TypeConverters.toListString(value)


def _param(name: str, doc: str, convert: Callable[[Any], Any]) -> Param[Any]:
    return Param(Params._dummy(), name, doc, typeConverter=convert)


class _SamplerParams(HasLabelCol):
    """The Params every sampler has (the common options of the functions)."""

    seed: Param[int] = _param(
        "seed",
        "random seed; unset or None: a fresh one per fit, in the plan",
        _optional(TypeConverters.toInt),
    )
    groupBy: Param[list[str]] = _param(
        "groupBy", "balance classes within groups of these columns", _list_or_empty
    )
    keyCols: Param[list[str]] = _param(
        "keyCols",
        "columns that identify a row within its class",
        _optional(TypeConverters.toListString),
    )
    nullLabels: Param[str] = _param(
        "nullLabels", "null labels: 'error' or 'drop'", TypeConverters.toString
    )
    checkpointInput: Param[bool] = _param(
        "checkpointInput", "materialise the input first", TypeConverters.toBoolean
    )
    weightCol: Param[str] = _param(
        "weightCol",
        "weights instead of copies, in this new column",
        _optional(TypeConverters.toString),
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(groupBy=[], nullLabels="error", checkpointInput=False)


class _StrategyParams(Params):
    samplingStrategy: Param[Any] = _param(
        "samplingStrategy",
        "target counts: a string, a float ratio or a dict {class: count}",
        _to_strategy,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(samplingStrategy="auto")

    def getSamplingStrategy(self) -> Any:
        """The strategy as the functions take it (a dict strategy as a dict)."""
        return _from_pairs(self.getOrDefault(self.samplingStrategy))


class _GrowthParams(Params):
    keepOriginals: Param[bool] = _param(
        "keepOriginals", "keep every original row once", TypeConverters.toBoolean
    )
    maxRatio: Param[float] = _param(
        "maxRatio",
        "refuse a class growing more than this; None: off",
        _optional(TypeConverters.toFloat),
    )
    shrinkage: Param[float] = _param(
        "shrinkage",
        "smoothed bootstrap: noise on shrinkageCols",
        _optional(TypeConverters.toFloat),
    )
    shrinkageCols: Param[list[str]] = _param(
        "shrinkageCols", "float columns to smooth", _list_or_empty
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(keepOriginals=False, maxRatio=float(DEFAULT_MAX_RATIO), shrinkageCols=[])


class _ReplacementParams(Params):
    replacement: Param[bool] = _param(
        "replacement", "shrink classes by draws with replacement", TypeConverters.toBoolean
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(replacement=False)


class _Sampler(
    Estimator["SamplerModel"],
    _SamplerParams,
    DefaultParamsReadable["_Sampler"],
    DefaultParamsWritable,
):
    """A resampling step of a :class:`Pipeline`; see the module docstring."""

    _function: Callable[..., Resampled]
    _input_kwargs: dict[str, Any]

    def setParams(self, **params: Any) -> _Sampler:
        """Set Params by name, e.g. ``setParams(seed=1, labelCol="y")``."""
        return self._set(**params)

    def _set(self, **kwargs: Any) -> _Sampler:
        """Set Params (the constructor, ``setParams``, ``copy`` and param maps come here).

        pyspark stores an explicit None past the Param's converter, but the reader of a saved
        stage does not: here None goes through the converter too, so that it means what the
        Param says (unset, or the empty list) however it was set, and it saves and loads. A
        Param that takes no None (``labelCol``, a flag) refuses it here.
        """
        for name, value in kwargs.items():
            if value is None:
                try:
                    kwargs[name] = getattr(self, name).typeConverter(None)
                except TypeError as e:
                    raise TypeError(f'Invalid param value given for param "{name}". {e}') from e
        return super()._set(**kwargs)

    def resampleWithPlan(self, dataset: DataFrame) -> Resampled:
        """Resample ``dataset`` with this stage's Params: the resampled frame and its plan."""
        options = {
            OPTION_NAMES[p.name]: self._option(p)
            for p in self.params
            if p.name in OPTION_NAMES and self.isDefined(p)
        }
        return type(self)._function(dataset, self.getLabelCol(), **options)

    def resample(self, dataset: DataFrame) -> DataFrame:
        """Resample ``dataset`` with this stage's Params, outside a pipeline."""
        return self.resampleWithPlan(dataset).df

    def _option(self, param: Param[Any]) -> Any:
        value = self.getOrDefault(param)
        return _from_pairs(value) if param.name == "samplingStrategy" else value

    def _fit(self, dataset: DataFrame) -> SamplerModel:
        name = type(self).__name__
        raise TypeError(
            f"{name} resamples the training data only inside spark_upsample.Pipeline, a "
            "drop-in for pyspark.ml.Pipeline (which would not resample at all). Use that "
            f"Pipeline, or {name}.resample(df) to resample a frame directly."
        )

    def _fit_within(self, dataset: DataFrame, needed: bool) -> tuple[SamplerModel, DataFrame]:
        """Inside :class:`Pipeline`: the model, and the frame the later stages are fitted on,
        resampled if ``needed`` (a later stage is fitted on it), else as it is."""
        if not needed:
            return SamplerModel(), dataset
        resampled = self.resampleWithPlan(dataset)
        return SamplerModel(plan=resampled.plan), resampled.df


class Upsampler(_Sampler, _StrategyParams, _GrowthParams):
    """:func:`spark_upsample.upsample` as a pipeline stage: grow classes to exact counts.

    Params (and the keyword arguments of :func:`~spark_upsample.upsample` they stand for):
    ``labelCol`` (label_col, default "label"), ``samplingStrategy``, ``seed``, ``keepOriginals``,
    ``maxRatio``, ``groupBy``, ``keyCols``, ``nullLabels``, ``checkpointInput``, ``weightCol``,
    ``shrinkage``, ``shrinkageCols``. ``samplingStrategy`` takes a string, a float or a dict
    with bool, int, float or string classes (a callable could not be saved).
    """

    _function = staticmethod(upsample_with_plan)

    @keyword_only
    def __init__(
        self,
        *,
        labelCol: str = "label",
        samplingStrategy: Any = "auto",
        seed: int | None = None,
        keepOriginals: bool = False,
        maxRatio: float | None = DEFAULT_MAX_RATIO,
        groupBy: list[str] | None = None,
        keyCols: list[str] | None = None,
        nullLabels: str = "error",
        checkpointInput: bool = False,
        weightCol: str | None = None,
        shrinkage: float | None = None,
        shrinkageCols: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)


class Downsampler(_Sampler, _StrategyParams, _ReplacementParams):
    """:func:`spark_upsample.downsample` as a pipeline stage: shrink classes to exact counts.

    Params: ``labelCol``, ``samplingStrategy``, ``replacement``, ``seed``, ``groupBy``,
    ``keyCols``, ``nullLabels``, ``checkpointInput``, ``weightCol`` (see :class:`Upsampler`).
    """

    _function = staticmethod(downsample_with_plan)

    @keyword_only
    def __init__(
        self,
        *,
        labelCol: str = "label",
        samplingStrategy: Any = "auto",
        replacement: bool = False,
        seed: int | None = None,
        groupBy: list[str] | None = None,
        keyCols: list[str] | None = None,
        nullLabels: str = "error",
        checkpointInput: bool = False,
        weightCol: str | None = None,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)


class Resampler(_Sampler, _GrowthParams, _ReplacementParams):
    """:func:`spark_upsample.resample` as a pipeline stage: every class to one count.

    Params: ``target`` (required: an int, or "majority", "mean", "median", "minority"), and
    ``labelCol``, ``seed``, ``keepOriginals``, ``replacement``, ``maxRatio``, ``groupBy``,
    ``keyCols``, ``nullLabels``, ``checkpointInput``, ``weightCol``, ``shrinkage``,
    ``shrinkageCols`` (see :class:`Upsampler`).
    """

    _function = staticmethod(resample_with_plan)
    target: Param[Any] = _param(
        "target",
        "the count of every class: an int or 'majority', 'mean', 'median', 'minority'",
        _optional(_to_target),
    )

    @keyword_only
    def __init__(
        self,
        *,
        labelCol: str = "label",
        target: int | str | None = None,
        seed: int | None = None,
        keepOriginals: bool = False,
        replacement: bool = False,
        maxRatio: float | None = DEFAULT_MAX_RATIO,
        groupBy: list[str] | None = None,
        keyCols: list[str] | None = None,
        nullLabels: str = "error",
        checkpointInput: bool = False,
        weightCol: str | None = None,
        shrinkage: float | None = None,
        shrinkageCols: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def resampleWithPlan(self, dataset: DataFrame) -> Resampled:
        if not self.isDefined(self.target) or self.getOrDefault(self.target) is None:
            raise InvalidParameterError(
                "Resampler needs target: an int or 'majority', 'mean', 'median', 'minority'."
            )
        return super().resampleWithPlan(dataset)


class SamplerModel(Model, DefaultParamsReadable["SamplerModel"], DefaultParamsWritable):
    """A sampler in a fitted ``PipelineModel``: every row through, unchanged and in order.

    ``plan`` is the :class:`~spark_upsample.ResamplePlan` of the training data the later stages
    were fitted on (None in a model that was loaded, or when no stage was fitted after the
    sampler); with it :func:`spark_upsample.prior_correction` maps the model's probabilities
    back to the original class priors.
    """

    def __init__(self, plan: ResamplePlan | None = None) -> None:
        super().__init__()
        self.plan = plan

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return dataset


class Pipeline(SparkPipeline):
    """``pyspark.ml.Pipeline`` that resamples when it is fitted, and never when it scores.

    The same constructor, Params, ``copy``, ``save`` and ``load``; it fits to a plain
    ``pyspark.ml.PipelineModel``. While fitting, a sampler stage (:class:`Upsampler`,
    :class:`Downsampler`, :class:`Resampler`) resamples the frame the later stages are fitted
    on and becomes a :class:`SamplerModel` in the model, which passes rows through unchanged.
    As the estimator of ``CrossValidator`` or ``TrainValidationSplit`` it therefore resamples
    each training fold and never the validation data. A sampler after the last estimator has
    nothing to resample for and is skipped. A ``spark_upsample.Pipeline`` nested as a stage
    fits as its stages would in its place: its samplers resample the frame of every estimator
    after them, inside it or after it, and its fitted model is a nested ``PipelineModel``.
    """

    def _fit(self, dataset: DataFrame) -> PipelineModel:
        return self._fit_within(dataset, needed=False)[0]

    def _fit_within(self, dataset: DataFrame, needed: bool) -> tuple[PipelineModel, DataFrame]:
        """Fit the stages, and the frame they hand on: ``dataset`` through every stage, each
        sampler resampling it, if ``needed`` (a stage after this pipeline is fitted on it).

        A stage is fitted on the frame the stages before it hand on, which the samplers among
        them resampled; a nested pipeline hands on its samplers' frame in the same way, so
        their effect reaches every estimator after them, at any depth. Without ``needed``, the
        stages after the last estimator pass nothing on: a sampler there is skipped.
        """
        stages = self.getStages()
        for stage in stages:
            if not isinstance(stage, (Estimator, Transformer)):
                raise TypeError(f"Cannot recognize a pipeline stage of type {type(stage)}.")
        fitted = [
            i
            for i, stage in enumerate(stages)
            if isinstance(stage, Estimator) and not isinstance(stage, _Sampler)
        ]
        last = len(stages) if needed else (fitted[-1] if fitted else -1)
        models: list[Transformer] = []
        for i, stage in enumerate(stages):
            model: Transformer
            if isinstance(stage, (_Sampler, Pipeline)):
                model, dataset = stage._fit_within(dataset, needed=i < last)
            elif isinstance(stage, Transformer):  # every stage after ``last`` is one
                model = stage
                if i < last:
                    dataset = stage.transform(dataset)
            else:
                model = stage.fit(dataset)
                if i < last:
                    dataset = model.transform(dataset)
            models.append(model)
        return PipelineModel(models), dataset

    @classmethod
    def read(cls) -> PipelineReader:
        """A reader that loads a saved pipeline as this class (``pyspark.ml.Pipeline``'s
        loads every pipeline as ``pyspark.ml.Pipeline``)."""
        return _PipelineReader(cls)


class _PipelineReader(PipelineReader):
    def load(self, path: str) -> SparkPipeline:
        # Spark's reader does the loading (its arguments differ between Spark 3.5 and 4); the
        # pipeline it gives back becomes this class, with the same stages and uid.
        loaded = super().load(path)
        return self.cls(stages=loaded.getStages())._resetUid(loaded.uid)
