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
shuffle = true
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
        shuffle=True,
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
            "--no-shuffle",
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
        shuffle=False,
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
    assert (config.input_format, config.path_format, config.write_mode) == (
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
        ({"shuffle": "yes"}, "shuffle must be true or false"),
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
        (
            {"output_format": "parquett"},
            "output_format 'parquett' is not a format Spark knows. Did you mean 'parquet'? Known "
            "formats: parquet, orc, avro, json, csv, text, xml, delta, iceberg, hudi, jdbc, noop, "
            "or a data source's name.",
        ),
        ({"output_format": "Delat"}, "Did you mean 'delta'?"),
        (
            {"compression": "zzz"},
            "compression 'zzz' is not a codec of parquet: choose one of none, uncompressed, "
            "snappy, gzip, lzo, brotli, lz4, lz4_raw, zstd.",
        ),
        ({"output_format": "csv", "compression": "zlib"}, "'zlib' is not a codec of csv"),
    ],
)
def test_bad_keys_and_values_name_themselves(layer, message):
    with pytest.raises(ConfigError) as info:
        build_config({"input": "i", "output": "o"}, layer)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("output_format", "compression"),
    [
        ("parquet", "ZSTD"),
        ("orc", "zlib"),
        ("csv", "gzip"),
        ("avro", "zstandard"),
        ("bigquery", "zzz"),  # another data source: Spark judges its name and options
        ("com.example.Source", None),
        ("text", "org.apache.hadoop.io.compress.GzipCodec"),
    ],
)
def test_known_formats_and_codecs_and_other_sources_pass(output_format, compression):
    layer = {"output_format": output_format, "compression": compression}
    assert build_config({"input": "i", "output": "o"}, layer).compression == compression


def test_input_and_output_are_required():
    with pytest.raises(ConfigError, match="exactly one of input"):
        build_config({"output": "o"})
    with pytest.raises(ConfigError, match=r"output \(a path\) or output_table \(a catalog "):
        build_config({"input": "i"})
    assert build_config({"input": "i", "output_table": "t"}).destination == "table:t"
    assert build_config({"input": "i", "output": "o"}).destination == "o"
    assert build_config({"input": "i", "dry_run": True}).output is None


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config_from_args(["--config", str(tmp_path / "missing.toml")])
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config_from_args(["--config", write(tmp_path, "input = [")])
    with pytest.raises(ConfigError) as info:
        config_from_args(["--input", "i", "--output", "o", "--input-option", "novalue"])
    assert str(info.value) == (
        "--input-options takes KEY=VALUE,KEY=VALUE (--input-option one KEY=VALUE). Got 'novalue'."
    )


NOT_KEYS = {"help", "config", "version", "master", "conf"}  # options that are not config keys


def test_keys_and_options_stay_in_step():
    """Every config key has a command-line option (and the reverse)."""
    from spark_upsample.job.cli import build_parser

    assert {a.dest for a in build_parser()._actions} - NOT_KEYS == set(KEYS)


def test_help_lists_the_options_in_groups_each_with_its_key_and_default():
    """``--help`` has the groups input, resampling, SMOTE, split, output and run, in that order;
    every config key's option sits in its group and shows ``[key: K; default: D]`` once."""
    import re

    from spark_upsample.job.options import HELP_GROUPS, build_parser

    text = build_parser().format_help()
    headings = [m.group(1) for m in re.finditer(r"(?m)^(\w+):$", text)]
    assert headings == ["options", *HELP_GROUPS]
    sections = dict(zip(headings, re.split(r"(?m)^\w+:$", text)[1:], strict=True))
    flat = {name: " ".join(body.split()) for name, body in sections.items()}
    for key in KEYS:
        assert " ".join(text.split()).count(f"[key: {key}; default:") == 1, key
    expected = {
        "input": {"input": "none", "input_format": "parquet", "checkpoint_input": "false"},
        "resampling": {"method": "upsample", "strategy": "auto", "label_col": "label"},
        "SMOTE": {"feature_cols": "none", "k_neighbors": "5"},
        "split": {"split": "none", "resample_part": "train"},
        "output": {"write_mode": "error", "report": "<output>/_upsample_report.json"},
        "run": {"dry_run": "false", "remote": "$SPARK_REMOTE"},
    }
    for group, defaults in expected.items():
        for key, default in defaults.items():
            option = "--" + key.replace("_", "-")
            assert option in flat[group], (group, option)
            assert f"[key: {key}; default: {default}]" in flat[group], (group, key)
    assert "[key: max_ratio; default: 10000]" in flat["resampling"]


@pytest.mark.parametrize("key", KEYS)
def test_every_key_has_the_option_of_its_own_name(key):
    """``--<key with dashes>`` sets that key (a boolean's takes no value)."""
    from spark_upsample.job.cli import build_parser

    parser = build_parser()
    option = "--" + key.replace("_", "-")
    action = parser._option_string_actions[option]
    args = [option] if action.nargs == 0 else [option, "1"]
    assert key in vars(parser.parse_args(args))


def test_list_and_table_keys_take_a_comma_list_and_their_repeatable_singular():
    config = config_from_args(
        [
            *("--input", "i", "--output", "o"),
            *("--key-cols", "a,b", "--key-col", "c"),
            *("--input-options", "sep=,,header=true", "--input-option", "x=1,2"),
            *("--output-option", "k=v", "--output-options", "a=1,b=2"),
        ]
    )
    assert config.key_cols == ("a", "b", "c")
    assert config.input_options == {"sep": ",", "header": "true", "x": "1,2"}
    assert config.output_options == {"k": "v", "a": "1", "b": "2"}
    smote = ["--input", "i", "--output", "o", "--method", "smote"]
    assert config_from_args([*smote, "--feature-cols", "x,y"]).feature_cols == ("x", "y")
    assert config_from_args([*smote, "--feature-col", "x", "--feature-col", "y"]).feature_cols == (
        "x",
        "y",
    )


def test_shuffle_output_is_a_deprecated_alias_of_shuffle(tmp_path):
    assert config_from_args(["--input", "i", "--output", "o", "--shuffle-output"]).shuffle
    assert not config_from_args(["--input", "i", "--output", "o", "--no-shuffle-output"]).shuffle
    path = write(tmp_path, 'input = "i"\noutput = "o"\nshuffle_output = true\n')
    assert config_from_args(["--config", path]).shuffle
    assert not config_from_args(["--config", path, "--no-shuffle"]).shuffle


def test_master_and_conf_are_spark_settings_not_config_keys():
    from spark_upsample.job.options import build_parser, spark_settings

    args = vars(
        build_parser().parse_args(
            ["--input", "i", "--master", "local[1]", "--conf", "spark.a=1=2", "--conf", "b= x"]
        )
    )
    assert spark_settings(args) == {"spark.a": "1=2", "b": " x", "spark.master": "local[1]"}
    assert args == {"input": "i"}


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--key-colz", "id"], "unknown option --key-colz; did you mean --key-col?"),
        (["--input-optoins=a=1"], "unknown option --input-optoins; did you mean --input-options?"),
        (["--zzz"], "unknown option --zzz"),
        (["--input", "i", "extra"], "unexpected argument 'extra'; every value follows its option"),
        (
            ["--conf", "foo"],
            "argument --conf: takes KEY=VALUE as spark-submit's does, e.g. "
            "spark.sql.shuffle.partitions=8. Got 'foo'.",
        ),
        (["--output-files", "x"], "argument --output-files: invalid int value: 'x'"),
    ],
)
def test_a_bad_option_is_one_line_without_the_usage(capsys, argv, line):
    from spark_upsample.job.cli import main

    assert main(argv) == 2
    assert capsys.readouterr() == ("", f"spark-upsample: error: {line}\n")


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


def test_an_empty_option_is_not_given(tmp_path):
    """A scheduler passes every job parameter, empty where it sets none: an empty option leaves
    the file's key (or the default) in place, and an empty --config names no file."""
    path = tmp_path / "job.toml"
    path.write_text('input = "i"\noutput = "o"\nstrategy = "minority"\nkey_cols = ["id"]\n')
    empty = ["--strategy", "", "--key-cols", "", "--label-col", "", "--method", "", "--seed", ""]
    config = config_from_args(["--config", str(path), *empty])
    assert (config.strategy, config.key_cols, config.label_col) == ("minority", ("id",), "label")
    assert (config.method, config.seed) == ("upsample", None)
    config = config_from_args(["--config", "", "--input", "i", "--output", "o", "--group-by", ""])
    assert (config.input, config.group_by, config.strategy) == ("i", (), "auto")
    assert config_from_args(["--config", str(path), "--strategy", "all"]).strategy == "all"
