"""The job's command line: its options, parsed into a :class:`JobConfig` and Spark settings.

Needs no PySpark: ``spark-upsample --help`` and ``--version`` run without it
(:mod:`spark_upsample.job.command`). Every config key has the option of its name; a list or table
key takes a comma-separated value and also has the repeatable singular option (``--key-cols a,b``
or ``--key-col a --key-col b``). ``--master`` and ``--conf`` are Spark settings, not config keys.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from spark_upsample import __version__
from spark_upsample.engine.strategy import DEFAULT_MAX_RATIO
from spark_upsample.errors import ConfigError
from spark_upsample.job.config import (
    DEFAULTS,
    KEYS,
    JobConfig,
    build_config,
    load_file,
    parse_strategy,
)

EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_INPUT, EXIT_OUTPUT = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block) and whose unknown option names the
    nearest known one."""

    def parse_args(self, args=None, namespace=None):
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self.error(self._unexpected(extra[0]))
        return parsed

    def _unexpected(self, word: str) -> str:
        if not word.startswith("-"):
            return f"unexpected argument {word!r}; every value follows its option"
        name = word.split("=", 1)[0]
        known = [o for o in self._option_string_actions if o.startswith("--")]
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        return f"unknown option {name}" + (f"; did you mean {near[0]}?" if near else "")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


# The groups of --help, in order, with what each is about; and the default shown for a key whose
# JobConfig default (None or an empty value) means something else.
HELP_GROUPS = {
    "input": "what to read",
    "resampling": "which rows, how many",
    "SMOTE": "with --method smote",
    "split": "split first, then resample one part",
    "output": "where and how to write",
    "run": "the run itself, and Spark",
}
_SHOWN_DEFAULTS = {
    "seed": "random, in the report",
    "report": "<output>/_upsample_report.json",
    "report_html": "beside the report, .html",
    "remote": "$SPARK_REMOTE",
    "output_files": "Spark's",
    "compression": "the format's",
    "resample_part": "train",
    "max_ratio": f"{DEFAULT_MAX_RATIO:g}",
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser. Every config key has the option of its name (``write_mode`` is
    ``--write-mode``; a list or table key takes a comma-separated value, and also has the
    repeatable singular option: ``--key-cols a,b`` or ``--key-col a --key-col b``); ``--master``
    and ``--conf`` are Spark settings, not config keys. ``--help`` lists the options in the
    groups of :data:`HELP_GROUPS`, each with its config key and default."""
    parser = _Parser(
        prog="spark-upsample",
        description="Rebalance classes by random sampling with replacement, to exact counts.",
        epilog="spark-upsample report PATH.json renders the HTML page of a saved run report; "
        "spark-upsample report --schema prints the reports' JSON Schema. "
        "Every option but --master, --conf and --version is a key of the --config file.",
        argument_default=argparse.SUPPRESS,
    )
    groups = {name: parser.add_argument_group(name, about) for name, about in HELP_GROUPS.items()}

    def adder(group: str) -> Callable[..., Any]:
        def add(*flags: str, **kwargs: Any) -> Any:
            key = kwargs.get("dest", flags[0][2:].replace("-", "_"))
            if key in KEYS and flags[0][2:].replace("-", "_") == key:
                kwargs["help"] = f"{kwargs['help']} [key: {key}; default: {_default_text(key)}]"
            return groups[group].add_argument(*flags, **kwargs)

        return add

    add = adder("input")
    add("--input", help="input path (files)")
    add("--input-table", help="input catalog table, instead of --input")
    add("--input-format", help="parquet, csv, json, orc, delta, ...")
    add("--input-schema", help="DDL schema for text inputs, e.g. 'id INT, label STRING'")
    _add_table(add, "input_options", "reader options")
    add(
        "--checkpoint-input",
        action=argparse.BooleanOptionalAction,
        help="materialise the input once before counting "
        "(for inputs that can change between reads)",
    )

    add = adder("resampling")
    add(
        "--label-col",
        action="append",
        metavar="COLUMN",
        help="the class column; repeat for classes on several columns",
    )
    add(
        "--method",
        help="upsample, downsample, resample (every class to --target), "
        "or smote (new rows between neighbours, needs --feature-col)",
    )
    add(
        "--strategy",
        help="auto, minority, 'not minority', 'not majority', all (downsample: "
        "majority instead of minority), a ratio, or class=count,class=count",
    )
    add("--target", help="with --method resample: an integer, majority, mean, median or minority")
    add("--seed", type=_int_or_text, help="non-negative integer seed")
    add(
        "--keep-originals",
        action=argparse.BooleanOptionalAction,
        help="keep original rows and add draws (imbalanced-learn) instead of replacing them",
    )
    add(
        "--replacement",
        action=argparse.BooleanOptionalAction,
        help="shrink classes by draws with replacement instead of a subset",
    )
    add("--group-by", help="comma-separated columns: balance classes within each group")
    _add_list(
        add,
        "key_cols",
        "columns that identify rows within a class: the same rows for the same seed however "
        "the input is split",
    )
    add("--weight-col", help="write each row once with this weight column instead of copies")
    add("--lineage-col", help="add this column: 'original' or 'copy' ('synthetic' with smote)")
    add("--shrinkage", help="smoothed bootstrap factor, or class=factor,class=factor")
    add("--shrinkage-cols", help="comma-separated float/double columns to smooth")
    add("--null-labels", help="error or drop")
    add(
        "--max-ratio",
        type=float,
        help="largest allowed target/count of a class (0: no limit)",
    )

    add = adder("SMOTE")
    _add_list(add, "feature_cols", "the numeric columns to interpolate")
    add("--k-neighbors", type=_int_or_text, help="neighbours per row")

    add = adder("split")
    add(
        "--split",
        help="e.g. train=0.8,test=0.2: every part is written to <output>/<part>, "
        "the --resample-part resampled",
    )
    add("--resample-part", help="with --split: the part to resample")

    add = adder("output")
    add("--output", help="output path")
    add("--output-table", help="output catalog table, instead of --output")
    add("--output-format", help="parquet (a path's default), delta or any Spark format")
    add("--replace-where", help="Delta, with overwrite: replace only the rows matching it")
    add(
        "--idempotency-key",
        help="Delta: a rerun of a key that committed commits nothing (e.g. the scheduler's run id)",
    )
    _add_table(add, "output_options", "writer options")
    add("--write-mode", help="error, overwrite or append")
    add("--partition-by", help="comma-separated output partition columns")
    add("--compression", help="output compression codec, e.g. snappy, zstd")
    add("--output-files", type=int, help="number of output files (adds a shuffle); 0: Spark's")
    add(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        help="spread rows randomly over the output files (deterministic with the seed)",
    )
    add(
        "--shuffle-output",
        dest="shuffle",
        action=argparse.BooleanOptionalAction,
        help="deprecated alias of --shuffle",
    )
    add("--report", help="report JSON path")
    add("--report-html", help="the report's HTML page")
    add("--no-report-html", dest="report_html", action="store_false", help="write no page")

    add = adder("run")
    add("--config", help="TOML config file; options given here override its keys")
    add(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        help="count and print the plan; write nothing",
    )
    add(
        "--verbose", action=argparse.BooleanOptionalAction, help="debug logging and Spark INFO logs"
    )
    add(
        "--quiet",
        action=argparse.BooleanOptionalAction,
        help="no progress lines: the summary, warnings and errors only",
    )
    add(
        "--progress-seconds",
        type=float,
        metavar="S",
        help="a progress line at least this often while a stage runs (0: none)",
    )
    add("--remote", help="Spark Connect URL, e.g. sc://host:15002")
    add(
        "--master",
        help="with a session the job starts: Spark's master, e.g. local[4] (default: local[*], "
        "or what spark-defaults.conf or PYSPARK_SUBMIT_ARGS set)",
    )
    add(
        "--conf",
        action="append",
        type=_spark_setting,
        metavar="KEY=VALUE",
        help="with a session the job starts: a Spark setting, as spark-submit's --conf (repeat)",
    )
    add("--version", action="version", version=f"spark-upsample {__version__}")
    return parser


def _default_text(key: str) -> str:
    """The default of config key ``key`` as ``--help`` shows it."""
    if key in _SHOWN_DEFAULTS:
        return _SHOWN_DEFAULTS[key]
    value = getattr(DEFAULTS, key)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if value is None or value in ((), {}):
        return "none"
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _add_list(add: Callable[..., Any], key: str, what: str) -> None:
    """``--<key>`` taking a comma-separated value and the repeatable singular ``--<key>[:-1]``,
    both into the list ``key``."""
    option = "--" + key.replace("_", "-")
    add(option, dest=key, action="extend", type=_comma_list, metavar="A,B", help=what)
    add(option[:-1], dest=key, action="append", metavar="X", help=f"one of {option} (repeat)")


def _add_table(add: Callable[..., Any], key: str, what: str) -> None:
    """``--<key> K=V,K2=V2`` and the repeatable ``--<key>[:-1] K=V``, both into the list ``key``
    of ``K=V`` items (a value may hold commas: an item starts where ``,K=`` does)."""
    option = "--" + key.replace("_", "-")
    add(option, dest=key, action="extend", type=_key_value_list, metavar="K=V,K2=V2", help=what)
    add(option[:-1], dest=key, action="append", metavar="K=V", help=f"one of {option} (repeat)")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _key_value_list(text: str) -> list[str]:
    return [part for part in re.split(r",(?=[^,=]+=)", text) if part]


def _spark_setting(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not key.strip() or not equals:
        raise argparse.ArgumentTypeError(
            f"takes KEY=VALUE as spark-submit's does, e.g. spark.sql.shuffle.partitions=8. "
            f"Got {text!r}."
        )
    return key.strip(), value


def config_from_args(argv: Sequence[str] | None) -> JobConfig:
    """Parse ``argv`` (and the ``--config`` file it names) into a validated :class:`JobConfig`;
    ``--master`` and ``--conf`` are left out (see :func:`get_session`)."""
    args = vars(build_parser().parse_args(argv))
    spark_settings(args)
    return config_from_parsed(args)


def spark_settings(args: dict[str, Any]) -> dict[str, str]:
    """Take ``--master`` and ``--conf`` out of parsed ``args``: the Spark settings of a session
    the job starts, as ``{key: value}`` (``--master`` is ``spark.master``)."""
    settings = dict(args.pop("conf", []))
    if "master" in args:
        settings["spark.master"] = args.pop("master")
    return settings


def config_from_parsed(args: dict[str, Any]) -> JobConfig:
    """The validated config of parsed command-line ``args`` and the ``config`` file they name.

    An option given an empty value (``--strategy ""``, ``--config ""``) is not given: its key
    keeps the file's value or its default. A scheduler that passes every parameter of a job
    (a Databricks job's parameters) leaves the ones it does not set empty."""
    for key in [
        k for k, v in args.items() if v == "" or (isinstance(v, list) and "".join(v) == "")
    ]:
        del args[key]
    file_keys = load_file(args.pop("config")) if "config" in args else {}
    for option in ("input_options", "output_options"):
        if option in args:
            args[option] = _key_values(option, args[option])
    if "strategy" in args:
        args["strategy"] = parse_strategy(args["strategy"])
    if args.get("output_files") == 0:
        args["output_files"] = None
    base = {k: v for k, v in file_keys.items()}
    for option in ("input_options", "output_options"):
        if option in args and isinstance(base.get(option), dict):
            args[option] = {**base[option], **args[option]}
    assert set(args) <= set(KEYS), set(args) - set(KEYS)
    return build_config(base, args)


def _int_or_text(text: str) -> int | str:
    """An integer option's value, or its text for the config check to reject with a clear
    message."""
    try:
        return int(text)
    except ValueError:
        return text


def _key_values(option: str, items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        if "=" not in item:
            flag = "--" + option.replace("_", "-")
            raise ConfigError(
                f"{flag} takes KEY=VALUE,KEY=VALUE ({flag[:-1]} one KEY=VALUE). Got {item!r}."
            )
        key, value = item.split("=", 1)
        pairs[key.strip()] = value
    return pairs
