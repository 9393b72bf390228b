"""Bad input: every case exits non-zero with one clear message, and nothing on disk changes.

The table "When the job refuses to run" of docs/errors.md lists the same cases, each with the exact
message the job prints (paths shortened to "…"); the test of each case checks that row too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_upsample.job import cli
from spark_upsample.job.cli import main
from spark_upsample.job.io import error_line, first_line
from tests.helpers import SPARK_4
from tests.test_reliability import snapshot

GOOD = [("a", 40), ("b", 8), ("c", 2)]


def write_parquet(spark: SparkSession, path: Path, rows: list, schema: str) -> None:
    spark.createDataFrame(rows, schema).coalesce(1).write.parquet(str(path))


def labelled(counts: list[tuple[object, int]]) -> list[tuple[int, object, float]]:
    rows = [value for value, n in counts for _ in range(n)]
    return [(i, value, i / 3) for i, value in enumerate(rows)]


def make_input(spark: SparkSession, kind: str, folder: Path) -> Path:
    """The input of a case: a good Parquet folder, or one broken in the named way."""
    path = folder / "input"
    if kind in ("good", "corrupt"):
        write_parquet(spark, path, labelled(GOOD), "id long, label string, x double")
        if kind == "corrupt":
            (path / "part-99999-corrupt.snappy.parquet").write_bytes(b"PAR1 this is not parquet")
    elif kind == "nulls":
        write_parquet(
            spark,
            path,
            labelled([("a", 40), (None, 3), ("b", 8)]),
            "id long, label string, x double",
        )
    elif kind == "empty":
        write_parquet(spark, path, [], "id long, label string, x double")
    elif kind == "single":
        write_parquet(spark, path, labelled([("a", 40)]), "id long, label string, x double")
    elif kind == "nan feature":
        rows = [(i, label, float("nan") if i in (3, 45) else x) for i, label, x in labelled(GOOD)]
        write_parquet(spark, path, rows, "id long, label string, x double")
    elif kind == "nan":
        write_parquet(
            spark,
            path,
            labelled([(1.0, 40), (float("nan"), 2), (0.0, 8)]),
            "id long, label double, x double",
        )
    elif kind == "csv":
        path = folder / "input.csv"
        path.write_text("id,lab,x\n" + "".join(f"{i},{v},{x}\n" for i, v, x in labelled(GOOD)))
    elif kind == "missing":
        pass
    else:
        raise AssertionError(kind)
    return path


# (case, input kind, arguments, exit code, the message's key words)
CASES = [
    (
        "missing label column",
        "good",
        ["--label-col", "lable"],
        3,
        "Column 'lable' is not in the input; its columns are ['id', 'label', 'x']. "
        "Did you mean 'label'?",
    ),
    (
        "null labels",
        "nulls",
        [],
        3,
        "3 row(s) have a null 'label'. Fill or filter them first, or pass null_labels='drop' "
        "(--null-labels drop)",
    ),
    ("empty input", "empty", [], 3, "The input has no rows; nothing to resample."),
    (
        "single class",
        "single",
        [],
        3,
        "The label needs at least 2 classes to balance; got 1 ('a').",
    ),
    ("NaN float labels", "nan", [], 3, "2 row(s) have a NaN 'label'; NaN is not a class."),
    (
        "NaN in a smoothed column",
        "nan feature",
        ["--shrinkage", "1", "--shrinkage-cols", "x"],
        3,
        "shrinkage_cols: NaN or null values (2 in 'x')",
    ),
    (
        "input path missing",
        "missing",
        [],
        3,
        "Cannot read input {input} as parquet: [PATH_NOT_FOUND] Path does not exist",
    ),
    (
        "corrupt Parquet file among good ones",
        "corrupt",
        [],
        3,
        "Spark could not read the input {input}",
    ),
    (
        "wrong input format",
        "good",
        ["--input-format", "json"],
        3,
        "Column 'label' is not in the input; its columns are ['_corrupt_record']. The input was "
        "read as json: if these columns look wrong, check --input-format",
    ),
    (
        "unknown input format",
        "good",
        ["--input-format", "parquett"],
        3,
        "Cannot read input {input} as parquett: [DATA_SOURCE_NOT_FOUND]",
    ),
    (
        "CSV header lacks the label",
        "csv",
        ["--input-format", "csv"],
        3,
        "Column 'label' is not in the input; its columns are ['id', 'lab', 'x']. "
        "Did you mean 'lab'?",
    ),
    (
        "unknown strategy",
        "good",
        ["--strategy", "majority"],
        2,
        "strategy must be one of auto, minority, not minority, not majority, all",
    ),
    (
        "strategy with method resample",
        "good",
        ["--method", "resample", "--target", "median", "--strategy", "0.5"],
        2,
        "strategy does not apply to method = resample",
    ),
    (
        "float ratio out of range",
        "good",
        ["--strategy", "1.5"],
        2,
        "A float strategy must be in (0, 1]. Got 1.5 instead.",
    ),
    (
        "ratio on multiclass",
        "good",
        ["--strategy", "0.5"],
        2,
        "A float sampling_strategy (0.5) only applies to binary labels; the label has 3 classes.",
    ),
    (
        "dict target below the current count",
        "good",
        ["--strategy", "b=5"],
        2,
        "sampling_strategy['b'] = 5 is below the 8 rows class 'b' already has",
    ),
    (
        "dict with an unknown class",
        "good",
        ["--strategy", "z=5"],
        2,
        "class(es) 'z' that are not in the data",
    ),
    (
        "negative seed",
        "good",
        ["--seed", "-1"],
        2,
        "seed must be an integer in [0, 2**63). Got -1 instead.",
    ),
    (
        "non-integer seed",
        "good",
        ["--seed", "1.5"],
        2,
        "seed must be an integer in [0, 2**63). Got '1.5' instead.",
    ),
    (
        "target above --max-ratio",
        "good",
        ["--strategy", "c=30000"],
        2,
        "The target of class 'c' (30,000 rows) is 15,000 times its 2 row(s), above max_ratio "
        "10,000. Raise max_ratio (--max-ratio)",
    ),
    (
        "bad --max-ratio",
        "good",
        ["--max-ratio", "0.5"],
        2,
        "max_ratio must be a number >= 1 (0: no limit). Got 0.5 instead.",
    ),
    (
        "unknown config key",
        "good",
        ["--config", "{typo_config}"],
        2,
        "Unknown config key 'lable_col'. Did you mean 'label_col'?",
    ),
    (
        "output exists with --write-mode error",
        "good",
        ["--write-mode", "error"],
        4,
        "The output {output} already exists. Pass --write-mode overwrite",
    ),
    ("output inside the input", "good", ["--output", "{input}/balanced"], 2, "overlaps the input"),
    ("output containing the input", "good", ["--output", "{folder}"], 2, "overlaps the input"),
    (
        "unwritable output location",
        "good",
        ["--output", "{a_file}/balanced"],
        4,
        "The output '{a_file}/balanced' cannot be written: '{a_file}' is a file, not a folder.",
    ),
    (
        "unknown output format",
        "good",
        ["--output-format", "parquett"],
        2,
        "output_format 'parquett' is not a format Spark knows. Did you mean 'parquet'?",
    ),
    (
        "unknown compression codec",
        "good",
        ["--compression", "zzz"],
        2,
        "compression 'zzz' is not a codec of parquet",
    ),
    (
        "unknown option",
        "good",
        ["--key-colz", "id"],
        2,
        "unknown option --key-colz; did you mean --key-col?",
    ),
    ("malformed --conf", "good", ["--conf", "foo"], 2, "argument --conf: takes KEY=VALUE"),
]

# The cases refused before Spark starts: the job never asks for a session.
BEFORE_SPARK = [
    "output exists with --write-mode error",
    "unwritable output location",
    "unknown output format",
    "unknown compression codec",
    "unknown option",
    "malformed --conf",
]


def spark_must_not_start(*args: object) -> None:
    raise AssertionError("the job asked for a Spark session")


def documented_table() -> dict[str, tuple[int, str]]:
    """The table "When the job refuses to run" of docs/errors.md: case -> (exit code, message)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    section = page.split("## When the job refuses to run\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (\d) \| (.+) \|$", section, flags=re.MULTILINE)
    return {case: (int(code), message) for case, code, message in rows}


def documented_pattern(message: str) -> str:
    """A documented message as a regular expression: its shortened paths ("…") match anything."""
    return ".*".join(re.escape(part) for part in message.split("…"))


@pytest.mark.parametrize(
    ("case", "kind", "args", "code", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_clearly_and_nothing_changes(
    spark, tmp_path, capsys, monkeypatch, case, kind, args, code, message
):
    folder = tmp_path / "work"
    folder.mkdir()
    output = folder / "previous"
    write_parquet(spark, output, [(1, "old")], "id long, label string")  # a previous output
    a_file = folder / "notes.txt"
    a_file.write_text("a file, not a folder")
    typo_config = folder / "typo.toml"
    typo_config.write_text('lable_col = "label"\n')
    values = {
        "input": make_input(spark, kind, folder),
        "output": output,
        "folder": folder,
        "a_file": a_file,
        "typo_config": typo_config,
    }
    argv = [
        "--input",
        "{input}",
        "--output",
        "{output}",
        "--write-mode",
        "overwrite",
        "--seed",
        "1",
        *args,
    ]
    before = snapshot(tmp_path)
    capsys.readouterr()
    if case in BEFORE_SPARK:
        monkeypatch.setattr(cli, "get_session", spark_must_not_start)

    assert main([a.format(**values) for a in argv]) == code

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("spark-upsample: error: ")]
    assert len(errors) == 1, err
    assert (
        message.format(**{k: repr(str(v)) if k == "output" else v for k, v in values.items()})
        in errors[0]
    )
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before  # the previous output, the input: byte for byte
    documented_code, documented_message = documented_table()[case]
    if not SPARK_4:  # the page quotes Spark 4's words after the error class; 3.5 has its own
        documented_message = re.sub(r"\[[A-Z][A-Z_.]*\] .*", "…", documented_message)
    printed = errors[0].removeprefix("spark-upsample: error: ")
    assert documented_code == code
    assert re.fullmatch(documented_pattern(documented_message), printed), (
        f"docs/errors.md: {documented_message}\nprinted: {printed}"
    )


def test_the_table_has_at_least_twenty_cases_and_the_errors_page_lists_exactly_them():
    assert len(CASES) >= 20
    assert list(documented_table()) == [case for case, *_ in CASES]


def test_a_failed_task_is_reported_by_its_cause_without_javas_wrapping():
    """Spark 3.5 reports a corrupt input file as a failed stage wrapping a Java exception (Spark 4
    with an error class): the job's one line keeps the cause only."""
    message = (  # as py4j gives the Java exception's text
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 45.0 "
        "failed 1 times, most recent "
        "failure: Lost task 1.0 in stage 45.0 (TID 39) (localhost executor driver): "
        "java.lang.RuntimeException: file:/data/part-1.parquet is not a Parquet file. Expected "
        "magic number at tail, but found [113, 117, 101, 116]\n\tat org.apache.parquet.Foo(x)"
    )
    assert first_line(Exception(message)) == (
        "file:/data/part-1.parquet is not a Parquet file. Expected magic number at tail, but "
        "found [113, 117, 101, 116]"
    )


class _Captured(Exception):
    """An error as classic PySpark converts a Java one: the message, and Spark's stack trace."""

    def __init__(self, message: str, trace: str) -> None:
        super().__init__(message)
        self._stackTrace = trace


def test_the_error_line_names_the_root_cause_from_the_exception_chain():
    """Spark 4 reports a corrupt Parquet file by an error class; what is wrong ("not a Parquet
    file") is only in the trace's last "Caused by": the one line adds it. A Python chain's last
    cause is named too, and a cause the message already holds is not repeated."""
    corrupt = _Captured(
        "[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
        "file:///data/part-1.parquet.  SQLSTATE: KD001",
        "org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error\n"
        "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFilesError(x)\n"
        "Caused by: java.lang.RuntimeException: file:/data/part-1.parquet is not a Parquet file. "
        "Expected magic number at tail, but found [1, 2, 3, 4]\n"
        "\tat org.apache.parquet.hadoop.ParquetFileReader.readFooter(y)\n",
    )
    assert error_line(corrupt) == (
        "[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
        "file:///data/part-1.parquet.  SQLSTATE: KD001 (cause: file:/data/part-1.parquet is not "
        "a Parquet file. Expected magic number at tail, but found [1, 2, 3, 4])"
    )
    try:
        try:
            raise OSError("No space left on device")
        except OSError as full:
            raise RuntimeError("the write failed") from full
    except RuntimeError as error:
        assert error_line(error) == "the write failed (cause: No space left on device)"
    assert error_line(ValueError("no cause")) == "no cause"
    same = _Captured(
        "x is not a Parquet file", "Caused by: java.io.IOException: x is not a Parquet file"
    )
    assert error_line(same) == "x is not a Parquet file"
