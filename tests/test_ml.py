"""Spark ML: sampler stages resample only when a Pipeline is fitted (never when it scores, never a
validation fold), save and load; class weights for ``weightCol``; prior correction."""

from __future__ import annotations

import inspect
import math
from collections import Counter

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml import Estimator, Model, PipelineModel
from pyspark.ml import Pipeline as SparkPipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator, Evaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.tuning import (
    CrossValidator,
    CrossValidatorModel,
    ParamGridBuilder,
    TrainValidationSplit,
)
from pyspark.sql import functions as F

from spark_upsample import (
    ClassPlan,
    Downsampler,
    InvalidLabelError,
    InvalidParameterError,
    Pipeline,
    ResamplePlan,
    Resampler,
    SamplerModel,
    Upsampler,
    class_weights,
    downsample,
    prior_correction,
    resample,
    upsample,
    upsample_with_plan,
)
from spark_upsample.engine.plan import prior_factors
from tests.helpers import label_counts

MINORITY_EVERY = 5  # label 1.0 for every 5th id: 10 of 50 rows


def imbalanced(spark, n=50):
    rows = [(i, float(i % MINORITY_EVERY == 0), float(i % 7), i % 3) for i in range(n)]
    return spark.createDataFrame(rows, "id long, label double, x double, fold int")


class Recorder(Estimator):
    """A stage that records the class counts of every frame it is fitted on."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def _fit(self, dataset):
        self.seen.append(label_counts(dataset))
        return PassThrough()


class PassThrough(Model):
    def _transform(self, dataset):
        return dataset


class RecordingEvaluator(Evaluator):
    """Records the ids and labels of every frame it evaluates; the metric is the row count."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def _evaluate(self, dataset):
        rows = [(r["id"], r["label"]) for r in dataset.select("id", "label").collect()]
        self.seen.append(rows)
        return float(len(rows))

    def isLargerBetter(self):
        return True


def stages(seen):
    return [
        VectorAssembler(inputCols=["x"], outputCol="features"),
        Upsampler(seed=1),
        Recorder(seen),
        LogisticRegression(maxIter=5),
    ]


def test_pipeline_fits_later_stages_on_resampled_rows_and_scores_every_row(spark):
    df = imbalanced(spark)
    seen = []
    model = Pipeline(stages=stages(seen)).fit(df)
    assert seen == [{0.0: 40, 1.0: 40}]
    sampler = model.stages[1]
    assert isinstance(model, PipelineModel) and isinstance(sampler, SamplerModel)
    assert sampler.plan.counts_before == {0.0: 40, 1.0: 10}
    assert sampler.plan.counts_after == {0.0: 40, 1.0: 40}
    scored = model.transform(df)
    assert_df_equality(scored.select(*df.columns), df)  # every row, once, in order
    assert "prediction" in scored.columns


def test_a_sampler_after_the_last_estimator_does_not_resample(spark):
    df = imbalanced(spark)
    model = Pipeline(stages=[Recorder([]), Upsampler(labelCol="missing")]).fit(df)
    assert isinstance(model.stages[1], SamplerModel) and model.stages[1].plan is None
    assert_df_equality(model.transform(df), df)


def test_pyspark_pipeline_refuses_a_sampler_stage(spark):
    with pytest.raises(TypeError) as error:
        SparkPipeline(stages=stages([])).fit(imbalanced(spark))
    assert str(error.value) == (
        "Upsampler resamples the training data only inside spark_upsample.Pipeline, a "
        "drop-in for pyspark.ml.Pipeline (which would not resample at all). Use that Pipeline, "
        "or Upsampler.resample(df) to resample a frame directly."
    )


def test_stages_resample_as_the_functions_do(spark):
    df = imbalanced(spark)
    assert_df_equality(
        Upsampler(seed=3, samplingStrategy={1.0: 25}, keepOriginals=True).resample(df),
        upsample(df, "label", seed=3, sampling_strategy={1.0: 25}, keep_originals=True),
    )
    assert_df_equality(
        Downsampler(seed=3, replacement=True).resample(df),
        downsample(df, "label", seed=3, replacement=True),
    )
    assert_df_equality(
        Resampler(seed=3, target="mean", weightCol="w").resample(df),
        resample(df, "label", seed=3, target="mean", weight_col="w"),
    )
    with pytest.raises(InvalidParameterError, match="^Resampler needs target: an int or"):
        Resampler().resample(df)
    with pytest.raises(TypeError, match="a callable cannot be saved"):
        Upsampler(samplingStrategy=lambda counts: counts)


def test_cross_validator_resamples_each_training_fold_and_no_validation_fold(spark):
    df = imbalanced(spark)
    rows = [(i, float(i % MINORITY_EVERY == 0), i % 3) for i in range(50)]
    folds = {k: Counter(label for _, label, f in rows if f == k) for k in range(3)}
    trained, evaluated = [], []
    upsampler = Upsampler(seed=1)
    pipeline = Pipeline(stages=[upsampler, Recorder(trained)])
    grid = ParamGridBuilder().addGrid(upsampler.samplingStrategy, ["auto", 0.5]).build()
    cv = CrossValidator(
        estimator=pipeline,
        estimatorParamMaps=grid,
        foldCol="fold",
        evaluator=RecordingEvaluator(evaluated),
    )
    cv.fit(df)

    expected_train = []
    for k in range(3):
        train = sum((folds[j] for j in range(3) if j != k), Counter())
        expected_train += [
            {0.0: train[0.0], 1.0: train[0.0]},
            {0.0: train[0.0], 1.0: int(0.5 * train[0.0])},
        ]
    expected_train.append({0.0: 40, 1.0: 40})  # the final fit, on all rows, "auto" is best
    assert sorted(map(sorted_items, trained)) == sorted(map(sorted_items, expected_train))
    # Every validation fold is evaluated as it is: its own rows, each once, per param map.
    expected_valid = sorted(
        sorted((i, label) for i, label, f in rows if f == k) for k in range(3) for _ in grid
    )
    assert sorted(sorted(e) for e in evaluated) == expected_valid


def test_train_validation_split_resamples_the_training_part_only(spark):
    df = imbalanced(spark)
    trained, evaluated = [], []
    pipeline = Pipeline(stages=[Upsampler(seed=1), Recorder(trained)])
    tvs = TrainValidationSplit(
        estimator=pipeline,
        seed=7,
        estimatorParamMaps=[{}],
        trainRatio=0.6,
        evaluator=RecordingEvaluator(evaluated),
    )
    tvs.fit(df)
    (valid,) = evaluated
    train_counts = trained[0]
    assert train_counts[0.0] == train_counts[1.0]  # balanced by the upsampler
    assert len({i for i, _ in valid}) == len(valid) < 50  # no copies in the validation part
    valid_majority = sum(1 for _, label in valid if label == 0.0)
    # "auto" leaves the majority as it is, so its training and validation rows are all 40.
    assert train_counts[0.0] + valid_majority == 40


def sorted_items(counts):
    return sorted(counts.items())


def test_pipeline_and_fitted_model_save_and_load(spark, tmp_path):
    df = imbalanced(spark)
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=["x"], outputCol="features"),
            Upsampler(seed=1, samplingStrategy={1: 30}, groupBy=[], maxRatio=None),
            LogisticRegression(maxIter=5),
        ]
    )
    pipeline.save(str(tmp_path / "pipeline"))
    loaded = Pipeline.load(str(tmp_path / "pipeline"))
    assert type(loaded) is Pipeline
    sampler = loaded.getStages()[1]
    assert type(sampler) is Upsampler
    assert sampler.getSamplingStrategy() == {1: 30}  # an int class stays an int
    assert sampler.getOrDefault("maxRatio") is None and sampler.getOrDefault("seed") == 1

    model = pipeline.fit(df)
    model.save(str(tmp_path / "model"))
    reloaded = PipelineModel.load(str(tmp_path / "model"))
    assert [type(s).__name__ for s in reloaded.stages] == [
        "VectorAssembler",
        "SamplerModel",
        "LogisticRegressionModel",
    ]
    expected = model.transform(df).select("id", vector_to_array("probability").alias("p"))
    actual = reloaded.transform(df).select("id", vector_to_array("probability").alias("p"))
    assert_df_equality(actual, expected)


def assembler():
    return VectorAssembler(inputCols=["x"], outputCol="features")


def test_a_nested_pipeline_resamples_for_every_estimator_after_it(spark, tmp_path):
    df = imbalanced(spark)
    flat = Pipeline(stages=[assembler(), Upsampler(seed=1), LogisticRegression(maxIter=5)])
    inner = Pipeline(stages=[assembler(), Pipeline(stages=[Upsampler(seed=1)])])
    nested = Pipeline(stages=[inner, LogisticRegression(maxIter=5)]).fit(df)
    sampler = nested.stages[0].stages[1].stages[0]
    assert isinstance(sampler, SamplerModel)
    assert sampler.plan.counts_after == {0.0: 40, 1.0: 40}
    intercept = nested.stages[1].intercept
    assert intercept == flat.fit(df).stages[2].intercept
    unsampled = LogisticRegression(maxIter=5).fit(assembler().transform(df))
    assert abs(intercept - unsampled.intercept) > 0.5
    scored = nested.transform(df)
    assert_df_equality(scored.select(*df.columns), df)  # scoring never resamples

    nested.save(str(tmp_path / "model"))
    reloaded = PipelineModel.load(str(tmp_path / "model"))
    assert [type(s).__name__ for s in reloaded.stages[0].stages] == [
        "VectorAssembler",
        "PipelineModel",
    ]
    assert type(reloaded.stages[0].stages[1].stages[0]) is SamplerModel
    expected = scored.select("id", vector_to_array("probability").alias("p"))
    actual = reloaded.transform(df).select("id", vector_to_array("probability").alias("p"))
    assert_df_equality(actual, expected)


def test_a_nested_pipeline_skips_its_sampler_when_nothing_after_it_is_fitted(spark):
    df = imbalanced(spark)
    model = Pipeline(stages=[Recorder([]), Pipeline(stages=[Upsampler(labelCol="no")])]).fit(df)
    assert model.stages[1].stages[0].plan is None


def params_defaulting_to_none():
    """Every (stage, Param) whose keyword argument defaults to None."""
    return [
        (stage, name)
        for stage in (Upsampler, Downsampler, Resampler)
        for name, p in inspect.signature(stage.__init__).parameters.items()
        if p.default is None
    ]


def params_by_name(stage):
    return {p.name: v for p, v in stage.extractParamMap().items()}


@pytest.mark.parametrize(("stage", "name"), params_defaulting_to_none())
def test_an_explicit_none_acts_as_the_default_and_saves_and_loads(spark, tmp_path, stage, name):
    df = imbalanced(spark)
    given = {"seed": 3, **({"target": "mean"} if stage is Resampler else {})}
    given.pop(name, None)
    explicit, implicit = stage(**given, **{name: None}), stage(**given)
    if name == "target":
        for sampler in (explicit, implicit):
            with pytest.raises(InvalidParameterError, match="^Resampler needs target: an int"):
                sampler.resample(df)
    elif name == "seed":  # a fresh seed per fit
        assert label_counts(explicit.resample(df)) == label_counts(implicit.resample(df))
    else:
        assert_df_equality(explicit.resample(df), implicit.resample(df))

    Pipeline(stages=[explicit]).save(str(tmp_path / "pipeline"))
    (loaded,) = Pipeline.load(str(tmp_path / "pipeline")).getStages()
    assert params_by_name(loaded) == params_by_name(explicit)
    cv = CrossValidator(
        estimator=Pipeline(stages=[implicit]),
        estimatorParamMaps=[{getattr(implicit, name): None}],
        evaluator=BinaryClassificationEvaluator(),
    )
    cv.save(str(tmp_path / "cv"))
    loaded_cv = CrossValidator.load(str(tmp_path / "cv"))
    (param_map,) = loaded_cv.getEstimatorParamMaps()
    assert {p.name: v for p, v in param_map.items()} == {name: None}
    (sampler,) = loaded_cv.getEstimator().copy(param_map).getStages()
    assert params_by_name(sampler) == params_by_name(explicit)


def test_a_cross_validator_model_of_explicit_nones_saves_and_loads(spark, tmp_path):
    nones = {name: None for stage, name in params_defaulting_to_none() if stage is Upsampler}
    upsampler = Upsampler(**nones)
    cv = CrossValidator(
        estimator=Pipeline(stages=[assembler(), upsampler, LogisticRegression(maxIter=5)]),
        estimatorParamMaps=[{upsampler.seed: None}, {upsampler.seed: 1}],
        evaluator=BinaryClassificationEvaluator(),
        numFolds=2,
        seed=1,
    )
    model = cv.fit(imbalanced(spark))
    model.save(str(tmp_path / "cv"))
    loaded = CrossValidatorModel.load(str(tmp_path / "cv"))
    assert loaded.avgMetrics == model.avgMetrics
    (sampler,) = [s for s in loaded.getEstimator().getStages() if isinstance(s, Upsampler)]
    assert params_by_name(sampler) == params_by_name(upsampler)


# --- weights -------------------------------------------------------------------------------


def logistic_frame(spark, n_major=30, n_minor=10):
    rng = np.random.default_rng(5)
    rows = [
        (i, float(i >= n_major), float(rng.normal(1.0 if i >= n_major else 0.0)))
        for i in range(n_major + n_minor)
    ]
    return spark.createDataFrame(rows, "id long, label double, x double")


def fit_lr(df, weight_col=None):
    features = VectorAssembler(inputCols=["x"], outputCol="features").transform(df)
    lr = LogisticRegression(regParam=0.05, standardization=False, tol=1e-12, maxIter=200)
    if weight_col:
        lr.setWeightCol(weight_col)
    model = lr.fit(features)
    return np.array([model.intercept, *model.coefficients.toArray()])


def test_weight_col_and_class_weights_train_logistic_regression_like_exact_copies(spark):
    df = logistic_frame(spark)  # 30 rows of class 0, 10 of class 1
    weighted = upsample(df, "label", weight_col="w")  # class 1 weighs 3, class 0 weighs 1
    assert label_counts(weighted.where(F.col("w") == 3.0)) == {1.0: 10}
    balanced = df.withColumn("w", class_weights(df, "label"))
    assert {(r.label, r.w) for r in balanced.select("label", "w").distinct().collect()} == {
        (0.0, 40 / (2 * 30)),
        (1.0, 40 / (2 * 10)),
    }
    # Three copies of each class-1 row: what the integer weights stand for.
    copies = df.withColumn("n", F.when(F.col("label") == 1.0, 3).otherwise(1)).select(
        "id", "label", "x", F.explode(F.array_repeat(F.lit(0), F.col("n"))).alias("copy")
    )
    assert copies.count() == 60

    exact = fit_lr(copies)
    np.testing.assert_allclose(fit_lr(weighted, "w"), exact, atol=1e-6)
    np.testing.assert_allclose(fit_lr(balanced, "w"), exact, atol=1e-6)
    assert not np.allclose(fit_lr(df), exact, atol=1e-2)  # the weights change the model


def test_class_weights_of_string_labels_and_null_labels(spark):
    df = spark.createDataFrame([("a",)] * 3 + [("b",)], "y string")
    weights = df.select("y", class_weights(df, "y").alias("w")).distinct().collect()
    assert sorted(tuple(r) for r in weights) == [("a", 4 / 6), ("b", 2.0)]
    with pytest.raises(InvalidLabelError) as error:
        class_weights(df.union(spark.createDataFrame([(None,)], "y string")), "y")
    assert str(error.value) == (
        "1 row(s) have a null 'y', which is no class to weigh; fill or filter them first."
    )


def test_class_weights_of_several_label_columns(spark):
    df = spark.createDataFrame(
        [(1, "F")] * 1 + [(1, "M")] * 3 + [(0, "F")] * 2 + [(0, "M")] * 2, "y int, sex string"
    )
    weights = df.select("y", "sex", class_weights(df, ["y", "sex"]).alias("w")).distinct()
    assert sorted(tuple(r) for r in weights.collect()) == [
        (0, "F", 1.0),
        (0, "M", 1.0),
        (1, "F", 2.0),
        (1, "M", 2 / 3),
    ]
    with pytest.raises(InvalidLabelError) as error:
        nulls = spark.createDataFrame([(1, None)], "y int, sex string")
        class_weights(df.union(nulls), ["y", "sex"])
    assert str(error.value) == (
        "1 row(s) have a null in label columns ['y', 'sex'], which is no class to weigh; fill or "
        "filter them first."
    )


# --- priors --------------------------------------------------------------------------------


def plan_of(counts_targets, group_by=()):
    """A plan by hand: ``{(group, label): (count_before, target)}``."""
    grouped = bool(group_by)
    keys = {
        (*group, label) if grouped else label: v for (group, label), v in counts_targets.items()
    }
    factors = prior_factors(
        {k: n for k, (n, _) in keys.items()}, {k: t for k, (_, t) in keys.items()}, grouped=grouped
    )
    classes = tuple(
        ClassPlan(
            label=label,
            count_before=n,
            target=t,
            kept=min(n, t),
            group=group,
            prior_factor=factors[(*group, label) if grouped else label],
        )
        for (group, label), (n, t) in counts_targets.items()
    )
    return ResamplePlan(
        method="resample",
        label_col="label",
        seed=1,
        sampling_strategy="x",
        keep_originals=False,
        replacement=False,
        null_labels_dropped=0,
        classes=classes,
        group_by=group_by,
    )


def test_prior_factors_are_original_over_resampled_priors_within_each_group():
    # original priors 0.9 / 0.1, resampled 0.5 / 0.5
    assert prior_factors({0: 90, 1: 10}, {0: 50, 1: 50}) == {0: 0.9 / 0.5, 1: 0.1 / 0.5}
    grouped = prior_factors(
        {("d1", 0): 3, ("d1", 1): 1, ("d2", 0): 5, ("d2", 1): 5},
        {("d1", 0): 3, ("d1", 1): 3, ("d2", 0): 0, ("d2", 1): 5},
        grouped=True,
    )
    assert grouped == {
        ("d1", 0): 0.75 / 0.5,
        ("d1", 1): 0.25 / 0.5,
        ("d2", 0): None,
        ("d2", 1): 0.5,
    }


def test_the_plan_of_a_run_carries_the_prior_factors(spark):
    plan = upsample_with_plan(imbalanced(spark), "label", weight_col="w").plan
    assert [c.prior_factor for c in plan.classes] == [0.8 / 0.5, 0.2 / 0.5]
    assert plan.to_dict()["classes"][1]["prior_factor"] == 0.2 / 0.5


def test_prior_correction_matches_the_closed_form_on_a_logistic_model(spark):
    rng = np.random.default_rng(11)
    x = rng.normal(size=3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(-2.0 + 1.5 * x)))).astype(float)
    df = spark.createDataFrame(
        [(i, float(y[i]), float(x[i])) for i in range(3000)], "id long, label double, x double"
    )
    result = upsample_with_plan(df, "label", seed=2)
    plan = result.plan
    n0, n1 = plan.counts_before[0.0], plan.counts_before[1.0]
    f0 = (n0 / (n0 + n1)) / 0.5
    f1 = (n1 / (n0 + n1)) / 0.5
    assembler = VectorAssembler(inputCols=["x"], outputCol="features")
    lr = LogisticRegression(regParam=0.0, tol=1e-10)
    resampled = lr.fit(assembler.transform(result.df))
    original = lr.fit(assembler.transform(df))

    scored = resampled.transform(assembler.transform(df)).select(
        "id",
        "x",
        vector_to_array("probability")[1].alias("p_resampled"),
        vector_to_array(prior_correction(plan, "probability")).alias("corrected"),
    )
    rows = scored.collect()
    b, w = resampled.intercept, resampled.coefficients[0]
    for r in rows:
        p = r.p_resampled
        assert math.isclose(r.corrected[1], p * f1 / (p * f1 + (1 - p) * f0), rel_tol=1e-9)
        assert math.isclose(sum(r.corrected), 1.0, rel_tol=1e-12)
        # King and Zeng: only the intercept moves, by log(f1 / f0).
        logit = math.log(r.corrected[1] / r.corrected[0])
        assert math.isclose(logit, b + w * r.x + math.log(f1 / f0), abs_tol=1e-7)
    # And it recovers (up to sampling noise) the model fitted on the original priors.
    truth = (
        original.transform(assembler.transform(df))
        .select("id", vector_to_array("probability")[1].alias("p"))
        .collect()
    )
    gap = np.abs(
        np.array([r.corrected[1] for r in sorted(rows)]) - np.array([r.p for r in sorted(truth)])
    )
    assert gap.mean() < 0.02


def test_prior_correction_of_arrays_with_an_explicit_label_order(spark):
    plan = plan_of({(None, "a"): (60, 40), (None, "b"): (30, 40), (None, "c"): (10, 40)})
    factors = {c.label: c.prior_factor for c in plan.classes}
    df = spark.createDataFrame([([0.2, 0.5, 0.3],)], "p array<double>")
    labels = ["c", "a", "b"]
    (row,) = df.select(prior_correction(plan, "p", labels=labels, vector=False)).collect()
    raw = np.array([0.2, 0.5, 0.3]) * np.array([factors[label] for label in labels])
    np.testing.assert_allclose(row[0], raw / raw.sum(), rtol=1e-12)


def test_prior_correction_refusals(spark):
    plan = plan_of({(None, "a"): (60, 40), (None, "b"): (30, 40)})
    with pytest.raises(
        InvalidParameterError,
        match=r"labels \['a', 'b'\] are not the class "
        r"indices 0\.\.1 .* StringIndexerModel",
    ):
        prior_correction(plan, "probability")
    with pytest.raises(
        InvalidParameterError,
        match=r"labels must list each class of the plan "
        r"once; got \['a', 'a'\]",
    ):
        prior_correction(plan, "probability", labels=["a", "a"])
    with pytest.raises(InvalidParameterError, match=r"drops class\(es\) \[1\] \(target 0\)"):
        prior_correction(plan_of({(None, 0): (5, 5), (None, 1): (5, 0)}), "probability")
    with pytest.raises(InvalidParameterError, match=r"within groups \(group_by=\['day'\]\)"):
        prior_correction(plan_of({(("d",), 0): (1, 2), (("d",), 1): (2, 2)}, ("day",)), "p")
    two = plan_of({(None, 0): (60, 40), (None, 1): (30, 40)})
    df = spark.createDataFrame([([0.2, 0.5, 0.3],)], "p array<double>")
    with pytest.raises(Exception, match="the probabilities need 2 entries, one per class"):
        df.select(prior_correction(two, "p", vector=False)).collect()
