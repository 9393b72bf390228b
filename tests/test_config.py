"""The job's config: file keys, command-line overrides, validation messages. No Spark."""

from __future__ import annotations

import json
import typing
from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import types as T

from spark_upsample.errors import ConfigError, InvalidStrategyError
from spark_upsample.job.cli import config_from_args
from spark_upsample.job.config import KEYS, JobConfig, build_config
from spark_upsample.job.methods import keyed_by_label


def write(tmp_path, text: str) -> str:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return str(path)


def test_every_key_from_the_file(tmp_path):
    path = write(
        tmp_path,
        """
input = "in"
input_format = "csv"
input_schema = "id INT, label STRING"
input_options = { sep = ";", header = true }
output = "out"
output_format = "orc"
output_options = { "orc.bloom.filter.columns" = "id" }
write_mode = "append"
partition_by = ["label"]
compression = "zstd"
output_files = 4
report = "r.json"
label_col = "y"
method = "upsample"
strategy = { a = 10, b = 20 }
seed = 7
keep_originals = true
replacement = true
group_by = ["day", "region"]
weight_col = "w"
lineage_col = "origin"
shrinkage = { a = 0.5 }
shrinkage_cols = ["x"]
shuffle_output = true
null_labels = "drop"
max_ratio = 50
checkpoint_input = true
remote = "sc://127.0.0.1:15002"
dry_run = true
verbose = true
""",
    )
    config = config_from_args(["--config", path])
    assert config == JobConfig(
        input="in",
        input_format="csv",
        input_schema="id INT, label STRING",
        input_options={"sep": ";", "header": "true"},
        output="out",
        output_format="orc",
        output_options={"orc.bloom.filter.columns": "id"},
        write_mode="append",
        partition_by=("label",),
        compression="zstd",
        output_files=4,
        report="r.json",
        label_col="y",
        strategy={"a": 10, "b": 20},
        seed=7,
        keep_originals=True,
        replacement=True,
        group_by=("day", "region"),
        weight_col="w",
        lineage_col="origin",
        shrinkage={"a": 0.5},
        shrinkage_cols=("x",),
        shuffle_output=True,
        null_labels="drop",
        max_ratio=50.0,
        checkpoint_input=True,
        remote="sc://127.0.0.1:15002",
        dry_run=True,
        verbose=True,
    )


def test_every_key_from_the_command_line_overrides_the_file(tmp_path):
    path = write(
        tmp_path,
        'input = "in"\noutput = "out"\nseed = 1\ninput_options = {a = "1"}\n'
        "keep_originals = true\n",
    )
    # input and input_table are exclusive: the override of a path by a table is an error ...
    with pytest.raises(ConfigError, match="exactly one of input"):
        config_from_args(["--config", path, "--input-table", "db.t"])
    # ... so override everything else.
    config = config_from_args(
        [
            "--config",
            path,
            "--input",
            "in2",
            "--input-format",
            "json",
            "--input-schema",
            "x INT",
            "--input-option",
            "b=2",
            "--output",
            "o2",
            "--output-format",
            "csv",
            "--output-option",
            "sep=|",
            "--write-mode",
            "overwrite",
            "--partition-by",
            "label,day",
            "--compression",
            "gzip",
            "--output-files",
            "3",
            "--report",
            "rep.json",
            "--label-col",
            "cls",
            "--method",
            "resample",
            "--target",
            "median",
            "--seed",
            "9",
            "--replacement",
            "--group-by",
            "g1,g2",
            "--weight-col",
            "wt",
            "--lineage-col",
            "lin",
            "--shrinkage",
            "a=0.5,b=1",
            "--shrinkage-cols",
            "x,y",
            "--no-shuffle-output",
            "--no-keep-originals",
            "--null-labels",
            "drop",
            "--max-ratio",
            "0",
            "--checkpoint-input",
            "--remote",
            "sc://h:1",
            "--dry-run",
            "--verbose",
        ]
    )
    assert config == JobConfig(
        input="in2",
        input_format="json",
        input_schema="x INT",
        input_options={"a": "1", "b": "2"},
        output="o2",
        output_format="csv",
        output_options={"sep": "|"},
        write_mode="overwrite",
        partition_by=("label", "day"),
        compression="gzip",
        output_files=3,
        report="rep.json",
        label_col="cls",
        method="resample",
        target="median",
        replacement=True,
        group_by=("g1", "g2"),
        weight_col="wt",
        lineage_col="lin",
        shrinkage={"a": 0.5, "b": 1.0},
        shrinkage_cols=("x", "y"),
        shuffle_output=False,
        seed=9,
        keep_originals=False,
        null_labels="drop",
        max_ratio=None,
        checkpoint_input=True,
        remote="sc://h:1",
        dry_run=True,
        verbose=True,
    )
    assert config_from_args(["--input-table", "db.t", "--output", "o"]).source == "table:db.t"


def test_defaults():
    config = config_from_args(["--input", "in", "--output", "out"])
    assert (config.input_format, config.output_format, config.write_mode) == (
        "parquet",
        "parquet",
        "error",
    )
    assert (config.label_col, config.strategy, config.seed, config.keep_originals) == (
        "label",
        "auto",
        None,
        False,
    )
    assert config.output_files is None and config.partition_by == ()
    assert (config.max_ratio, config.checkpoint_input, config.remote) == (10_000, False, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("not minority", "not minority"),
        ("0.25", 0.25),
        ('{"a": 5, "1": 7}', {"a": 5, "1": 7}),
        ("a=5, b=7", {"a": 5, "b": 7}),
    ],
)
def test_strategy_on_the_command_line(text, expected):
    config = config_from_args(["--input", "i", "--output", "o", "--strategy", text])
    assert config.strategy == expected


@pytest.mark.parametrize(
    ("data_type", "by_text", "expected"),
    [
        (T.IntegerType(), {"0": 50, " 7": 9}, {0: 50, 7: 9}),
        (T.BooleanType(), {"true": 9, "False": 3}, {True: 9, False: 3}),
        (T.DoubleType(), {"1": 4, "2.5": 5, "0.7": 6}, {1.0: 4, 2.5: 5, 0.7: 6}),
        (T.FloatType(), {"0.7": 4, "2.5": 5}, {0.699999988079071: 4, 2.5: 5}),
        (T.DecimalType(5, 2), {"1.50": 4}, {Decimal("1.5"): 4}),
        (T.StringType(), {"fraud": 4, "0": 5}, {"fraud": 4, "0": 5}),
        (T.DateType(), {"2024-02-29": 4}, {date(2024, 2, 29): 4}),
        (T.TimestampType(), {"2024-02-29 10:00:00": 4}, {datetime(2024, 2, 29, 10): 4}),
    ],
)
def test_config_class_names_are_parsed_as_the_label_type(data_type, by_text, expected):
    labels = keyed_by_label(by_text, data_type, "strategy")
    assert labels == expected
    assert [type(k) for k in labels] == [type(k) for k in expected]


def test_non_dict_strategies_pass_through_and_bad_class_text_is_named():
    assert keyed_by_label("auto", T.IntegerType(), "strategy") == "auto"
    assert keyed_by_label(0.5, T.IntegerType(), "strategy") == 0.5
    with pytest.raises(InvalidStrategyError, match=r"strategy names class 'x', which is not a int"):
        keyed_by_label({"0": 5, "x": 3}, T.IntegerType(), "strategy")
    with pytest.raises(
        InvalidStrategyError,
        match=r"shrinkage names class 'yes', which is not a "
        r"boolean",
    ):
        keyed_by_label({"yes": 0.5}, T.BooleanType(), "shrinkage")
    with pytest.raises(
        InvalidStrategyError,
        match=r"strategy names class '0,7', which is not a "
        r"float value",
    ):
        keyed_by_label({"0,7": 5}, T.FloatType(), "strategy")


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"lable_col": "y"}, "Unknown config key 'lable_col'. Did you mean 'label_col'?"),
        ({"outptu": "o"}, "Unknown config key 'outptu'. Did you mean 'output'?"),
        ({"writemode": "overwrite"}, "Did you mean 'write_mode'?"),
        ({"zzz": 1}, "Unknown config key 'zzz'. Valid keys: input, input_table"),
        (
            {"write_mode": "replace"},
            "write_mode must be one of error, overwrite, append. Got 'replace' instead.",
        ),
        ({"null_labels": "keep"}, "null_labels must be one of error, drop. Got 'keep'"),
        ({"seed": -3}, "seed must be an integer in [0, 2**63). Got -3 instead."),
        ({"seed": 1.5}, "seed must be an integer in [0, 2**63). Got 1.5 instead."),
        ({"seed": "42"}, "Got '42' instead."),
        (
            {"strategy": "majority"},
            "strategy must be one of auto, minority, not minority, "
            "not majority, all, a float ratio in (0, 1] or a table of class = count "
            "(method upsample). Got 'majority' instead.",
        ),
        (
            {"method": "downsample", "strategy": "minority"},
            "strategy must be one of auto, "
            "majority, not minority, not majority, all, a float ratio in (0, 1] or a table of "
            "class = count (method downsample). Got 'minority' instead.",
        ),
        ({"method": "resample"}, "method = resample needs a target"),
        ({"target": 5}, "target goes with method = resample"),
        (
            {"method": "resample", "target": "average"},
            "target must be a positive integer or "
            "one of majority, mean, median, minority. Got 'average' instead.",
        ),
        ({"method": "shrink"}, "method must be one of upsample, downsample, resample"),
        (
            {"method": "downsample", "keep_originals": True},
            "keep_originals and shrinkage apply to upsample and resample only",
        ),
        ({"shrinkage": -1}, "shrinkage must be a number >= 0 or a table of class = number"),
        ({"shrinkage": "a=x"}, "shrinkage 'a=x': every class=value pair needs a number value"),
        ({"group_by": [2]}, "group_by must be a list of column names"),
        ({"weight_col": ""}, "weight_col must be a non-empty string"),
        ({"shuffle_output": "yes"}, "shuffle_output must be true or false"),
        ({"strategy": 1.5}, "A float strategy must be in (0, 1]. Got 1.5 instead."),
        ({"strategy": {"a": -1}}, "strategy['a'] must be a non-negative integer count. Got -1."),
        ({"strategy": "{bad"}, "is not a valid JSON object"),
        ({"strategy": "a=x"}, "every class=value pair needs an integer value"),
        ({"keep_originals": "yes"}, "keep_originals must be true or false. Got 'yes' instead."),
        ({"output_files": -2}, "output_files must be a positive integer"),
        ({"partition_by": [1]}, "partition_by must be a list of column names"),
        ({"input_options": "x"}, "input_options must be a table of option = value"),
        ({"label_col": ""}, "label_col must be a non-empty string"),
        ({"max_ratio": 0.5}, "max_ratio must be a number >= 1 (0: no limit). Got 0.5 instead."),
        ({"checkpoint_input": 1}, "checkpoint_input must be true or false. Got 1 instead."),
        ({"remote": "localhost:15002"}, "remote must be a Spark Connect URL like sc://host:15002"),
    ],
)
def test_bad_keys_and_values_name_themselves(layer, message):
    with pytest.raises(ConfigError) as info:
        build_config({"input": "i", "output": "o"}, layer)
    assert message in str(info.value)


def test_input_and_output_are_required():
    with pytest.raises(ConfigError, match="exactly one of input"):
        build_config({"output": "o"})
    with pytest.raises(ConfigError, match="output is required"):
        build_config({"input": "i"})
    assert build_config({"input": "i", "dry_run": True}).output is None


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config_from_args(["--config", str(tmp_path / "missing.toml")])
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config_from_args(["--config", write(tmp_path, "input = [")])
    with pytest.raises(ConfigError, match="--input-option takes KEY=VALUE. Got 'novalue'"):
        config_from_args(["--input", "i", "--output", "o", "--input-option", "novalue"])


def test_keys_and_options_stay_in_step():
    """Every config key has a command-line option (and the reverse), named alike."""
    from spark_upsample.job.cli import build_parser

    options = {a.dest for a in build_parser()._actions} - {"help", "config", "version"}
    options = {o + "s" if o.endswith("_option") else o for o in options}
    assert options == set(KEYS)


BOOLEAN_KEYS = [name for name, hint in typing.get_type_hints(JobConfig).items() if hint is bool]


@pytest.mark.parametrize("key", BOOLEAN_KEYS)
@pytest.mark.parametrize("in_file", [True, False])
def test_every_boolean_key_has_both_options_and_they_override_the_file(tmp_path, key, in_file):
    path = write(tmp_path, f'input = "i"\noutput = "o"\n{key} = {str(in_file).lower()}\n')
    option = key.replace("_", "-")
    flag = f"--no-{option}" if in_file else f"--{option}"
    assert getattr(config_from_args(["--config", path]), key) is in_file
    assert getattr(config_from_args(["--config", path, flag]), key) is not in_file


def test_boolean_keys_are_found():
    assert {"keep_originals", "dry_run", "verbose", "checkpoint_input"} <= set(BOOLEAN_KEYS)


@pytest.mark.parametrize(
    ("strategy", "shown"),
    [
        ("minority", "'minority'"),
        ("all", "'all'"),
        (0.5, "0.5"),
        (1, "1.0"),
        ({"a": 5}, "{'a': 5}"),
        ("a=5", "{'a': 5}"),
    ],
)
def test_resample_refuses_every_strategy_given(tmp_path, strategy, shown):
    message = (
        "strategy does not apply to method = resample, which brings every class to "
        f"target; leave strategy out and choose the target. Got {shown} instead."
    )
    with pytest.raises(ConfigError) as info:
        build_config(
            {"input": "i", "output": "o", "method": "resample", "target": 5, "strategy": strategy}
        )
    assert str(info.value) == message
    text = strategy if isinstance(strategy, str) else json.dumps(strategy)
    with pytest.raises(ConfigError) as info:
        config_from_args(
            [
                "--input",
                "i",
                "--output",
                "o",
                "--method",
                "resample",
                "--target",
                "5",
                "--strategy",
                text,
            ]
        )
    assert str(info.value) == message
    path = write(
        tmp_path,
        'input = "i"\noutput = "o"\nmethod = "resample"\ntarget = 5\n'
        f"strategy = {json.dumps(strategy).replace(':', ' =')}\n",
    )
    with pytest.raises(ConfigError) as info:
        config_from_args(["--config", path])
    assert str(info.value) == message


def test_resample_takes_the_default_strategy():
    for extra in ([], ["--strategy", "auto"]):
        config = config_from_args(
            ["--input", "i", "--output", "o", "--method", "resample", "--target", "5", *extra]
        )
        assert (config.method, config.strategy) == ("resample", "auto")
