"""SMOTE: exact counts, exact neighbours, imbalanced-learn's formula and distribution, the same
rows on any layout and under task retry, executors without numpy, and bad inputs."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chispa import assert_df_equality
from imblearn.over_sampling import SMOTE
from pyspark.sql import functions as F
from sklearn.neighbors import NearestNeighbors

from spark_upsample import (
    InvalidDataError,
    InvalidParameterError,
    MissingColumnError,
    smote,
    smote_with_plan,
)
from spark_upsample.engine import knn
from spark_upsample.engine.blocks import block_slots, search_partitions, spark_hash_long
from spark_upsample.engine.frames import col
from spark_upsample.engine.knn import exact_neighbours
from spark_upsample.engine.synthesis import copy_draws
from tests.conftest import spark_env
from tests.helpers import SPARK_4, label_counts

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ["a", "b"]
SCHEMA = "id long, label string, a double, b double, note string"


def brute_force(x, ids, k):
    """The definition: per row, the k others by (float64 squared distance, identity)."""
    result = []
    for i in range(len(x)):
        d = ((x - x[i]) ** 2).sum(axis=1)
        others = sorted(
            (j for j in range(len(x)) if ids[j] != ids[i]), key=lambda j: (d[j], ids[j])
        )
        result.append(others[:k])
    return np.array(result)


def grid_points(n: int, seed: int) -> np.ndarray:
    """Points on a small integer grid: many duplicates and many tied distances."""
    return np.random.default_rng(seed).integers(0, 4, size=(n, 2)).astype(float)


def sklearn_neighbours(x, k):
    """scikit-learn's k nearest of each fitted point, the point itself left out by index."""
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors()


@pytest.mark.parametrize("seed", range(4))
def test_the_neighbours_are_scikit_learns_with_duplicates_and_ties(seed, monkeypatch):
    # Tiny tiles, so that the screen, its bound and the merge run over many tiles.
    monkeypatch.setattr(knn, "QUERY_TILE", 7)
    monkeypatch.setattr(knn, "REF_TILE", 5)
    monkeypatch.setattr(knn, "FIRST_SLICE", 3)
    x = grid_points(60, seed)
    ids = np.random.default_rng(seed).permutation(1000)[:60].astype(np.int64)
    k = 4
    found = exact_neighbours(x, ids, x, ids, k)
    assert (found.indices == brute_force(x, ids, k)).all()

    distances, indices = sklearn_neighbours(x, k)
    assert found.distance == pytest.approx(distances**2, abs=1e-12)
    for i in range(len(x)):
        d = ((x - x[i]) ** 2).sum(axis=1)
        d[i] = np.inf
        if np.sort(d)[k] > np.sort(d)[k - 1]:  # no tie across the k-th place: the same set
            assert set(found.indices[i]) == set(indices[i])
    assert (found.distance == 0).any(), "the fixture must hold duplicates"


def test_the_neighbours_of_random_data_match_scikit_learn_across_tiles(monkeypatch):
    monkeypatch.setattr(knn, "REF_TILE", 64)
    monkeypatch.setattr(knn, "FIRST_SLICE", 16)
    x = np.random.default_rng(5).normal(size=(500, 6)) * 1000 + 5000  # far from the origin
    ids = np.arange(500, dtype=np.int64)
    found = exact_neighbours(x[:100], ids[:100], x, ids, 5)
    _, indices = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(x).kneighbors(x[:100])
    assert (found.indices == indices[:, 1:]).all()


def test_a_query_that_is_not_a_reference_keeps_its_duplicate_and_k_must_fit():
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    ids = np.array([10, 11, 12, 13])
    found = exact_neighbours(x[:1], ids[:1], x, ids, 2)
    assert found.indices.tolist() == [[1, 2]]
    assert found.distance.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="k must be between 1 and references - 1 = 3; got 4"):
        exact_neighbours(x, ids, x, ids, 4)


def test_copy_draws_are_uniform_and_depend_on_the_seed_and_the_copy_only():
    ids = np.repeat(np.arange(2000, dtype=np.int64), 10)
    number = np.tile(np.arange(1, 11, dtype=np.int64), 2000)
    choice, gap = copy_draws(3, ids, number, 5)
    assert set(np.unique(choice)) == set(range(5))
    # 20,000 draws in 5 cells: expected 4,000 each, sd ~57; 5 sd either way.
    assert np.abs(np.bincount(choice) - 4000).max() < 290
    assert 0 <= gap.min() and gap.max() < 1 and abs(gap.mean() - 0.5) < 0.01
    again = copy_draws(3, ids[::-1], number[::-1], 5)
    assert (again[0][::-1] == choice).all() and (again[1][::-1] == gap).all()
    assert not (copy_draws(4, ids, number, 5)[1] == gap).all()


def rows(n_major: int, n_minor: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_major + n_minor):
        label = "major" if i < n_major else "minor"
        a, b = rng.integers(0, 6, size=2) if label == "minor" else rng.normal(size=2) * 3
        out.append((i, label, float(a), float(b), f"note {i}"))
    return out


@pytest.fixture(scope="module")
def small(spark):
    """40 majority rows and 12 minority rows on an integer grid (duplicates, ties)."""
    return spark.createDataFrame(rows(40, 12), SCHEMA)


@pytest.fixture(scope="module")
def audited(spark, small):
    """The detailed output of ``small`` as pandas, with its plan."""
    result = smote_with_plan(
        small,
        "label",
        FEATURES,
        k_neighbors=3,
        seed=9,
        key_cols=["id"],
        lineage_col="lineage",
        detail=True,
    )
    return result.df.toPandas(), result.plan


def test_counts_equal_imbalanced_learns_for_every_strategy_form(spark):
    data = (
        rows(30, 0)
        + [(100 + i, "mid", float(i % 5), float(i % 3), "m") for i in range(14)]
        + [(200 + i, "minor", float(i % 4), float(i % 2), "n") for i in range(6)]
    )
    df = spark.createDataFrame(data, SCHEMA)
    x = np.array([[r[2], r[3]] for r in data])
    y = np.array([r[1] for r in data])
    binary = [r for r in data if r[1] != "mid"]
    forms = ["auto", "minority", "not minority", "not majority", "all", {"minor": 20, "mid": 25}]
    for form in forms:
        result = smote_with_plan(
            df, "label", FEATURES, sampling_strategy=form, seed=1, key_cols=["id"]
        )
        assert result.plan.counts_after == _imblearn_counts(x, y, form), form
    # The plan's counts are those written (one new row per copy the engine draws), also for a
    # float strategy, which imbalanced-learn allows for two classes only.
    assert label_counts(result.df) == _imblearn_counts(x, y, forms[-1])
    xb = np.array([[r[2], r[3]] for r in binary])
    yb = np.array([r[1] for r in binary])
    result = smote_with_plan(
        spark.createDataFrame(binary, SCHEMA),
        "label",
        FEATURES,
        sampling_strategy=0.5,
        seed=1,
        key_cols=["id"],
    )
    assert result.plan.counts_after == _imblearn_counts(xb, yb, 0.5)
    assert label_counts(result.df) == _imblearn_counts(xb, yb, 0.5)


def _imblearn_counts(x, y, form) -> dict:
    _, resampled = SMOTE(sampling_strategy=form, k_neighbors=5, random_state=0).fit_resample(x, y)
    labels, counts = np.unique(resampled, return_counts=True)
    return {str(label): int(n) for label, n in zip(labels, counts, strict=True)}


def test_every_new_row_lies_between_its_base_and_one_of_its_exact_neighbours(audited):
    out, plan = audited
    assert plan.method == "smote"
    assert plan.counts_after == {"major": 40, "minor": 40}
    assert [c.k_neighbors for c in plan.classes] == [None, 3]
    original = out[out.lineage == "original"]
    new = out[out.lineage == "synthetic"]
    assert len(original) == 52 and len(new) == 28
    assert new.smote_row_id.isna().all() and original.smote_base_id.isna().all()
    by_identity = original.set_index("smote_row_id")
    minor = original[original.label == "minor"].sort_values("id")
    x = minor[FEATURES].to_numpy()
    identities = minor.smote_row_id.to_numpy()
    _, sklearn_nn = sklearn_neighbours(x, 3)
    exact = brute_force(x, identities, 3)
    position = {identity: i for i, identity in enumerate(identities)}
    for _, row in new.iterrows():
        base = by_identity.loc[row.smote_base_id]
        neighbour = by_identity.loc[row.smote_neighbor_id]
        assert base.label == row.label == "minor" and row.note == base.note and row.id == base.id
        i = position[row.smote_base_id]
        assert position[row.smote_neighbor_id] in exact[i]
        d = ((x - x[i]) ** 2).sum(axis=1)
        d[i] = np.inf
        if np.sort(d)[3] > np.sort(d)[2]:
            assert position[row.smote_neighbor_id] in sklearn_nn[i]
        assert 0 <= row.smote_gap < 1
        expected = base[FEATURES].to_numpy(float) + row.smote_gap * (
            neighbour[FEATURES].to_numpy(float) - base[FEATURES].to_numpy(float)
        )
        assert row[FEATURES].to_numpy(float) == pytest.approx(expected, abs=1e-12)


def test_given_the_same_draws_the_new_rows_are_imbalanced_learns_formula(audited):
    out, _ = audited
    original = out[out.lineage == "original"].set_index("smote_row_id")
    new = out[out.lineage == "synthetic"]
    base = original.loc[new.smote_base_id, FEATURES].to_numpy(float)
    neighbour = original.loc[new.smote_neighbor_id, FEATURES].to_numpy(float)
    m = len(new)
    theirs = SMOTE()._generate_samples(
        base,
        neighbour,
        np.arange(m)[:, None],
        np.arange(m),
        np.zeros(m, dtype=int),
        new.smote_gap.to_numpy()[:, None],
    )
    assert np.abs(new[FEATURES].to_numpy(float) - theirs).max() <= 1e-12


def test_mean_and_covariance_of_new_rows_match_imbalanced_learns(spark):
    rng = np.random.default_rng(3)
    minor = rng.multivariate_normal([1.0, -2.0], [[2.0, 0.8], [0.8, 1.0]], size=40)
    data = [(i, "major", float(v), float(-v), "") for i, v in enumerate(rng.normal(size=4040))]
    data += [(5000 + i, "minor", float(a), float(b), "") for i, (a, b) in enumerate(minor)]
    df = spark.createDataFrame(data, SCHEMA)
    ours = (
        smote(df, "label", FEATURES, seed=5, key_cols=["id"], lineage_col="lineage")
        .where("lineage = 'synthetic'")
        .select(*FEATURES)
        .toPandas()
        .to_numpy()
    )
    x = np.array([[r[2], r[3]] for r in data])
    y = np.array([r[1] for r in data])
    xs, _ = SMOTE(random_state=5).fit_resample(x, y)
    theirs = xs[len(x) :]
    assert len(ours) == len(theirs) == 4000
    # Given the data, both make i.i.d. rows from one distribution (uniform base, uniform
    # neighbour among the same exact k, uniform gap), so each mean and covariance entry differs
    # by sampling error only: a difference of two independent means of 4,000 i.i.d. values,
    # standard error sqrt(var_1 / n + var_2 / n). Five standard errors: a false alarm about once
    # in 10**6 runs per entry (and the seeds are fixed).
    for a, b in [(ours, theirs)]:
        centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
        for i in range(2):
            se = math.sqrt(a[:, i].var() / len(a) + b[:, i].var() / len(b))
            assert abs(a[:, i].mean() - b[:, i].mean()) < 5 * se
            for j in range(2):
                pa, pb = centred_a[:, i] * centred_a[:, j], centred_b[:, i] * centred_b[:, j]
                se = math.sqrt(pa.var() / len(pa) + pb.var() / len(pb))
                assert abs(pa.mean() - pb.mean()) < 5 * se


def test_the_same_seed_gives_the_same_rows_on_any_partitioning_and_row_order(spark, small):
    def run(df):
        return smote(
            df,
            "label",
            FEATURES,
            k_neighbors=3,
            seed=21,
            key_cols=["id"],
            lineage_col="lineage",
            detail=True,
        )

    reordered = spark.createDataFrame(list(reversed(rows(40, 12))), SCHEMA)
    assert_df_equality(
        run(small.coalesce(1)), run(reordered.repartition(5, "note")), ignore_row_order=True
    )


def test_group_by_balances_and_finds_neighbours_within_each_group(spark):
    # Groups of 40 rows (odd and even ids), each with 14 minority rows (ids 6j and 6j + 1).
    data = [
        (i, "minor" if i % 6 < 2 else "major", float(i % 7), float(i % 5), f"g{i % 2}")
        for i in range(80)
    ]
    df = spark.createDataFrame(data, SCHEMA)
    result = smote_with_plan(
        df, "label", FEATURES, seed=2, group_by=["note"], key_cols=["id"], detail=True
    )
    assert result.plan.counts_after == {
        ("g0", "major"): 26,
        ("g0", "minor"): 26,
        ("g1", "major"): 26,
        ("g1", "minor"): 26,
    }
    out = result.df.toPandas()
    group_of = out[out.smote_row_id.notna()].set_index("smote_row_id").note
    new = out[out.smote_base_id.notna()]
    assert len(new) == 24
    assert (group_of.loc[new.smote_neighbor_id].to_numpy() == new.note.to_numpy()).all()


def test_a_small_class_uses_all_its_rows_and_integer_features_keep_their_type(spark):
    data = [(i, "major", i, i * 2) for i in range(10)] + [
        (10, "minor", 0, 0),
        (11, "minor", 10, 20),
        (12, "minor", 5, 100),
    ]
    df = spark.createDataFrame(data, "id long, label string, a int, b long")
    result = smote_with_plan(df, "label", FEATURES, k_neighbors=5, seed=4, key_cols=["id"])
    assert result.plan.classes[1].k_neighbors == 2
    assert result.df.schema == df.schema
    assert label_counts(result.df) == {"major": 10, "minor": 10}
    new = [r for r in result.df.collect() if r.label == "minor" and r.id in (10, 11, 12)]
    assert len(new) == 10  # ids are copied from the base rows: 3 originals and 7 new rows


OTHER_TYPES = {
    "`the.note`": "concat('n', id)",
    "ym": "make_ym_interval(1, cast(id as int))",
    "months": "cast(make_ym_interval(0, cast(id as int)) as interval month)",
    "dt": "make_dt_interval(id, 1, 2, 3.5)",
    "dec": "cast(id as decimal(20, 3))",
    "day": "date_add(date'2020-01-01', cast(id as int))",
    "ts": "timestamp'2020-01-01 00:00:00' + make_dt_interval(0, cast(id as int))",
    "bin": "cast(concat('x', id) as binary)",
    "arr": "array(id, null)",
    "m": "map('k', id)",
    "st": "named_struct('p', id, 'q', array(named_struct('r', cast(id as string))))",
    "flag": "id % 2 = 0",
}


def test_dotted_names_and_every_column_type_pass_through_to_the_new_rows(spark):
    data = [(i, "minor" if i < 5 else "major", float(i % 3), float(i % 4)) for i in range(14)]
    df = spark.createDataFrame(data, "id long, `the.label` string, a double, `b.x` double")
    df = df.select("*", *[F.expr(e).alias(c.strip("`")) for c, e in OTHER_TYPES.items()])
    result = smote_with_plan(
        df, "the.label", ["a", "b.x"], seed=3, key_cols=["id"], lineage_col="lin", detail=True
    )
    assert result.plan.counts_after == {"major": 9, "minor": 9}
    assert result.df.dtypes[: len(df.columns)] == df.dtypes
    # Each column as text (PySpark cannot collect a year-month interval): a new row's columns,
    # features aside, are its base row's.
    kept = ["id", "the.label", *(c.strip("`") for c in OTHER_TYPES)]
    # (chispa sorts by unquoted names, so dots become underscores here).
    texts = [col(c).cast("string").alias(c.replace(".", "_")) for c in kept]
    shown = result.df.select("lin", "smote_row_id", "smote_base_id", *texts)
    plain = [c.replace(".", "_") for c in kept]
    new = shown.where("lin = 'synthetic'").select(F.col("smote_base_id").alias("base"), *plain)
    bases = shown.where("lin = 'original'").select(F.col("smote_row_id").alias("base"), *plain)
    assert new.count() == 4
    assert_df_equality(new, bases.join(new.select("base"), "base"), ignore_row_order=True)
    assert new.where("ym is null or the_note is null or st is null").count() == 0


def test_a_column_arrow_cannot_carry_is_refused_up_front_by_name_and_type(spark, small, tmp_path):
    refused = [("spans", "array(make_ym_interval(1, 2))", "array<interval year to month>")]
    if SPARK_4:
        # PySpark 3.5 cannot even read a schema holding a calendar interval (CANNOT_PARSE_DATATYPE
        # from DataFrame.schema), so such a frame never reaches SMOTE there.
        refused.append(("span", "make_interval(0, 1)", "interval"))
    for column, expression, type_name in refused:
        with pytest.raises(
            InvalidParameterError,
            match=re.escape(
                f"column '{column}' has type {type_name}, which SMOTE cannot copy to new rows "
                "(PySpark's Arrow conversion lacks it). Drop or cast it before SMOTE, and join it "
                "back on a key if needed."
            ),
        ):
            smote(small.withColumn(column, F.expr(expression)), "label", FEATURES, seed=1)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (dict(feature_cols=["a", "nope"]), MissingColumnError, "Column 'nope' is not in the input"),
        (
            dict(feature_cols=["a", "note"]),
            InvalidParameterError,
            "feature_cols: column 'note' has type string; SMOTE needs numeric feature columns "
            "(integer, float, double or decimal).",
        ),
        (
            dict(feature_cols=["a", "id"], key_cols=["id"]),
            InvalidParameterError,
            "feature_cols: column 'id' is a key_cols column",
        ),
        (
            dict(k_neighbors=0),
            InvalidParameterError,
            "k_neighbors must be a positive integer. Got 0 instead.",
        ),
        (
            dict(k_neighbors=2.0),
            InvalidParameterError,
            "k_neighbors must be a positive integer. Got 2.0 instead.",
        ),
        (dict(detail="yes"), InvalidParameterError, "detail must be True or False."),
        (
            dict(lineage_col="note"),
            InvalidParameterError,
            "'note' is already a column of the input; SMOTE adds it (lineage_col). Rename it.",
        ),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(
    spark, small, tmp_path, change, error, message
):
    options = {"feature_cols": FEATURES, "seed": 1, **change}
    with pytest.raises(error, match=re.escape(message)):
        smote(small, "label", **options).write.parquet(str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_null_and_nan_features_are_counted_and_refused(spark, tmp_path):
    data = rows(20, 6) + [
        (90, "major", float("nan"), 1.0, ""),
        (91, "minor", None, 1.0, ""),
        (92, "major", 1.0, None, ""),
        (93, "minor", 1.0, float("-inf"), ""),
    ]
    df = spark.createDataFrame(data, SCHEMA)
    message = (
        "feature_cols hold null, NaN or infinite values, which have no distance: 'a' (2), 'b' (2) "
        "row(s). Fill or filter them before SMOTE."
    )
    for key_cols in (None, ["id"]):
        with pytest.raises(InvalidDataError, match=re.escape(message)):
            smote(df, "label", FEATURES, key_cols=key_cols).write.parquet(str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_a_one_row_class_that_needs_new_rows_is_refused(spark, tmp_path):
    df = spark.createDataFrame(rows(8, 1), SCHEMA)
    with pytest.raises(
        InvalidDataError,
        match=re.escape(
            "class 'minor' has 1 row and needs 7 new one(s): SMOTE needs a neighbour of the same "
            "class."
        ),
    ):
        smote(df, "label", FEATURES, seed=1).write.parquet(str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    # Left at its count, it is no error.
    kept = smote(df, "label", FEATURES, seed=1, sampling_strategy={"minor": 1})
    assert label_counts(kept) == {"major": 8, "minor": 1}


@pytest.mark.classic_only
@pytest.mark.slow
def test_task_retry_gives_the_same_rows_and_executors_without_dependencies_fail_clearly(tmp_path):
    # A subprocess: a retry needs local[2,4] (the shared session allows no task failures), and
    # the second half needs workers that cannot import numpy, then spark_upsample itself.
    # Without numpy: a package of that name that fails to import, first on the path. Without
    # spark_upsample: site-packages on the path but not processed (-S), so that the editable
    # install's import hook is not there, as on an executor where the package is not installed.
    broken = tmp_path / "without-numpy"
    (broken / "numpy").mkdir(parents=True)
    (broken / "numpy" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n"
    )
    site_packages = Path(np.__file__).parent.parent
    wrappers = {
        "numpy": f'PYTHONPATH="{broken}:$PYTHONPATH" exec "{sys.executable}" "$@"',
        "spark_upsample": (
            f'PYTHONPATH="$PYTHONPATH:{site_packages}" exec "{sys.executable}" -S "$@"'
        ),
    }
    for package, line in wrappers.items():
        (tmp_path / f"python-without-{package}").write_text(f"#!/bin/sh\n{line}\n")
        (tmp_path / f"python-without-{package}").chmod(0o755)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "smote_executors.py"),
            str(tmp_path),
            *[str(tmp_path / f"python-without-{package}") for package in wrappers],
        ],
        cwd=tmp_path,  # not the checkout: a worker's Python imports from its cwd
        env=spark_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "retried: same rows" in done.stdout
    assert (tmp_path / "retry-marker").exists()
    for package in ("numpy", "spark_upsample"):
        assert (
            f"missing {package}: SMOTE runs spark-upsample, numpy and pyarrow on the executors, "
            "whose Python cannot import them: point PYSPARK_PYTHON at a Python that has them "
            "(the venv's python), or install them in the executors' Python environment "
            f"(No module named '{package}')\n"
        ) in done.stdout, done.stdout
        # Spark's own writer made the folder for its attempt, but no data file and no _SUCCESS.
        assert not [
            p.name
            for p in (tmp_path / f"no-{package}").rglob("*")
            if p.is_file() and (p.suffix == ".parquet" or p.name == "_SUCCESS")
        ]


def test_query_blocks_land_on_distinct_partitions_by_sparks_own_hash(spark):
    counts = {"big": 100_000, "mid": 30_000, "small": 5}
    partitions = search_partitions(counts, 200)
    slots = block_slots(counts, partitions)
    assert partitions == 8 and [len(slots[c]) for c in counts] == [5, 2, 1]
    values = [v for c in counts for v in slots[c]] + [-1, 2**40 + 7, -(2**63), 2**63 - 1]
    got = (
        spark.createDataFrame([(v,) for v in values], "v long")
        .select("v", F.hash("v").alias("h"), F.pmod(F.hash("v"), F.lit(partitions)).alias("p"))
        .collect()
    )
    assert [r.h for r in got] == [spark_hash_long(v) for v in values]
    assert sorted(r.p for r in got[:8]) == list(range(8))
