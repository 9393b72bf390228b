"""The job's configuration: one typed, validated object fed by a TOML file and the command line.

Keys are flat and named like the command-line options (``write_mode`` is ``--write-mode``), so
every key of the file can be overridden on the command line. Validation happens before Spark
starts: a bad key or value is a :class:`ConfigError` that names it (and the nearest valid key).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_upsample.engine.parts import check_fractions
from spark_upsample.engine.strategy import (
    COMMON_TARGETS,
    DEFAULT_MAX_RATIO,
    OVER_SAMPLING_STRINGS,
    UNDER_SAMPLING_STRINGS,
)
from spark_upsample.errors import ConfigError, InvalidParameterError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

WRITE_MODES = ("error", "overwrite", "append")
METHODS = ("upsample", "downsample", "resample", "smote")
NULL_LABEL_POLICIES = ("error", "drop")
DEFAULT_K_NEIGHBORS = 5

# The compression codecs of Spark's file formats (Spark takes them in any case).
_TEXT_CODECS = ("none", "uncompressed", "bzip2", "deflate", "gzip", "lz4", "snappy", "zstd")
CODECS = {
    "parquet": (
        "none",
        "uncompressed",
        "snappy",
        "gzip",
        "lzo",
        "brotli",
        "lz4",
        "lz4_raw",
        "zstd",
    ),
    "orc": ("none", "uncompressed", "snappy", "zlib", "lzo", "lz4", "zstd", "brotli"),
    "avro": ("uncompressed", "snappy", "deflate", "bzip2", "xz", "zstandard"),
    **dict.fromkeys(("json", "csv", "text", "xml"), _TEXT_CODECS),
}
# Formats whose codecs are not checked here: table formats and Spark's other sinks.
OTHER_FORMATS = ("delta", "iceberg", "hudi", "jdbc", "noop")


@dataclass(frozen=True)
class JobConfig:
    """Everything one run of the job needs. See ``conf/upsample.toml`` for every key explained."""

    input: str | None = None
    input_table: str | None = None
    input_format: str = "parquet"
    input_schema: str | None = None
    input_options: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    output_table: str | None = None
    output_format: str | None = None  # None: Parquet for a path, the table's own for a table
    idempotency_key: str | None = None
    replace_where: str | None = None
    output_options: dict[str, str] = field(default_factory=dict)
    write_mode: str = "error"
    partition_by: tuple[str, ...] = ()
    compression: str | None = None
    output_files: int | None = None
    report: str | None = None
    report_html: str | bool | None = None  # a path; None: beside the report; False: no page
    label_col: str | tuple[str, ...] = "label"
    method: str = "upsample"
    strategy: str | float | dict[str, int] = "auto"
    target: int | str | None = None
    seed: int | None = None
    keep_originals: bool = False
    replacement: bool = False
    group_by: tuple[str, ...] = ()
    key_cols: tuple[str, ...] = ()
    weight_col: str | None = None
    lineage_col: str | None = None
    shrinkage: float | dict[str, float] | None = None
    shrinkage_cols: tuple[str, ...] = ()
    shuffle: bool = False
    null_labels: str = "error"
    max_ratio: float | None = DEFAULT_MAX_RATIO
    checkpoint_input: bool = False
    remote: str | None = None
    dry_run: bool = False
    verbose: bool = False
    quiet: bool = False
    progress_seconds: float = 30.0
    split: dict[str, float] | None = None
    resample_part: str | None = None
    feature_cols: tuple[str, ...] = ()
    k_neighbors: int = DEFAULT_K_NEIGHBORS

    @property
    def source(self) -> str:
        """The input as a person would name it: the path or ``table:NAME``."""
        return f"table:{self.input_table}" if self.input_table else str(self.input)

    @property
    def destination(self) -> str | None:
        """The output as a person would name it: the path or ``table:NAME`` (None: none)."""
        return f"table:{self.output_table}" if self.output_table else self.output

    @property
    def path_format(self) -> str:
        """The format of a path output: ``output_format``, Parquet by default."""
        return self.output_format or "parquet"

    @property
    def commits(self) -> bool:
        """True when the output is written by one commit of Spark's writer, not landed by this
        process (:mod:`spark_upsample.job.tables`): a catalog table, or a Delta path."""
        return bool(self.output_table) or self.path_format.lower() == "delta"


KEYS = tuple(f.name for f in dataclasses.fields(JobConfig))
# Deprecated key names that still work, and the key each stands for (the library's name).
ALIASES = {"shuffle_output": "shuffle"}
DEFAULTS = JobConfig()


def load_file(path: str | Path) -> dict[str, Any]:
    """The raw keys of a TOML config file.

    Raises
    ------
    ConfigError
        The file is missing or is not valid TOML.
    """
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {error}.") from None


def build_config(*layers: Mapping[str, Any]) -> JobConfig:
    """Merge raw key layers (later ones win) and validate them into a :class:`JobConfig`.

    Raises
    ------
    ConfigError
        An unknown key (naming the nearest valid one) or an invalid value. A deprecated key of
        :data:`ALIASES` counts as the key it stands for.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            key = ALIASES.get(key, key)
            if key not in KEYS:
                near = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5)
                hint = f" Did you mean {near[0]!r}?" if near else ""
                raise ConfigError(
                    f"Unknown config key {key!r}.{hint} Valid keys: {', '.join(KEYS)}."
                )
            merged[key] = value
    values = {key: _CHECKS[key](key, value) for key, value in merged.items()}
    config = JobConfig(**values)
    _check_consistency(config)
    return config


def parse_strategy(
    text: str, key: str = "strategy", number: type = int
) -> str | float | dict[str, Any]:
    """A strategy (or shrinkage) from its command-line text: a name, a float, ``{"a": 10}`` JSON
    or ``a=10,b=20`` (whose values are parsed with ``number``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{key} {text!r} is not a valid JSON object: {error}.") from None
    if "=" in text:
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        try:
            return {k.strip(): number(v) for k, v in pairs}
        except ValueError:
            kind = "an integer" if number is int else "a number"
            raise ConfigError(
                f"{key} {text!r}: every class=value pair needs {kind} value."
            ) from None
    try:
        return float(text)
    except ValueError:
        return text


def _text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string. Got {value!r} instead.")
    return value


def _choice(choices: tuple[str, ...]):
    def check(key: str, value: Any) -> str:
        if value == "errorifexists" and "error" in choices:
            return "error"
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}. Got {value!r} instead.")
        return value

    return check


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false. Got {value!r} instead.")
    return value


def _options(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a table of option = value. Got {value!r} instead.")
    return {str(k): _option_value(v) for k, v in value.items()}


def _option_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _columns(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} must be a list of column names. Got {value!r} instead.")
    return tuple(value)


def _label_col(key: str, value: Any) -> str | tuple[str, ...]:
    """One column name, or a list of names (strata on several columns; a list of one is that
    name)."""
    if isinstance(value, str):
        return str(_text(key, value))
    names = list(value) if isinstance(value, (list, tuple)) else []
    if (
        not names
        or not all(isinstance(v, str) and v.strip() for v in names)
        or len(set(names)) < len(names)
    ):
        raise ConfigError(
            f"{key} must be a column name or a list of distinct column names. "
            f"Got {value!r} instead."
        )
    return names[0] if len(names) == 1 else tuple(names)


def _positive_int(key: str, value: Any) -> int | None:
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{key} must be a positive integer (0 for Spark's choice). Got {value!r}."
        )
    return value


def _progress_seconds(key: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(
            f"progress_seconds must be a number of seconds >= 0 (0: no lines while a stage "
            f"runs). Got {value!r} instead."
        )
    return float(value)


def _max_ratio(key: str, value: Any) -> float | None:
    if value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 1:
        raise ConfigError(f"max_ratio must be a number >= 1 (0: no limit). Got {value!r} instead.")
    return float(value)


def _remote(key: str, value: Any) -> str | None:
    value = _text(key, value)
    if value is not None and not value.startswith("sc://"):
        raise ConfigError(
            f"remote must be a Spark Connect URL like sc://host:15002. Got {value!r}."
        )
    return value


def _target(key: str, value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value in COMMON_TARGETS or (
        isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ):
        return value
    raise ConfigError(
        f"target must be a positive integer or one of {', '.join(COMMON_TARGETS)}. "
        f"Got {value!r} instead."
    )


def _shrinkage(key: str, value: Any) -> float | dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_strategy(value, "shrinkage", float)
    values = value.values() if isinstance(value, Mapping) else [value]
    if not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v) >= 0 for v in values
    ):
        raise ConfigError(
            f"shrinkage must be a number >= 0 or a table of class = number. Got {value!r} instead."
        )
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return float(value)


def _page(key: str, value: Any) -> str | bool | None:
    if value is False or value is None:
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a path, or false for no page. Got {value!r} instead.")
    return value


def _split(key: str, value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_strategy(value, "split", float)
    try:
        names, _ = check_fractions(value)
    except InvalidParameterError as error:
        raise ConfigError(f"split: {error}") from None
    return {name: float(value[name]) for name in names}


def _k_neighbors(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"k_neighbors must be an integer >= 1. Got {value!r} instead.")
    return value


def _seed(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ConfigError(f"seed must be an integer in [0, 2**63). Got {value!r} instead.")
    return value


def _strategy(key: str, value: Any) -> str | float | dict[str, int]:
    if isinstance(value, str):
        value = parse_strategy(value)
    if isinstance(value, str):
        return value  # checked against the method's strategies in _check_consistency
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not 0 < float(value) <= 1:
            raise ConfigError(f"A float strategy must be in (0, 1]. Got {value!r} instead.")
        return float(value)
    if isinstance(value, Mapping):
        for label, count in value.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigError(
                    f"strategy[{label!r}] must be a non-negative integer count. Got {count!r}."
                )
        return {str(k): v for k, v in value.items()}
    raise ConfigError(f"strategy has an unsupported value {value!r}.")


_CHECKS = {
    "input": _text,
    "input_table": _text,
    "input_format": _text,
    "input_schema": _text,
    "input_options": _options,
    "output": _text,
    "output_table": _text,
    "output_format": _text,
    "idempotency_key": _text,
    "replace_where": _text,
    "output_options": _options,
    "write_mode": _choice(WRITE_MODES),
    "partition_by": _columns,
    "compression": _text,
    "output_files": _positive_int,
    "report": _text,
    "report_html": _page,
    "label_col": _label_col,
    "method": _choice(METHODS),
    "strategy": _strategy,
    "target": _target,
    "seed": _seed,
    "keep_originals": _flag,
    "replacement": _flag,
    "group_by": _columns,
    "key_cols": _columns,
    "weight_col": _text,
    "lineage_col": _text,
    "shrinkage": _shrinkage,
    "shrinkage_cols": _columns,
    "shuffle": _flag,
    "null_labels": _choice(NULL_LABEL_POLICIES),
    "max_ratio": _max_ratio,
    "checkpoint_input": _flag,
    "remote": _remote,
    "dry_run": _flag,
    "verbose": _flag,
    "quiet": _flag,
    "progress_seconds": _progress_seconds,
    "split": _split,
    "resample_part": _text,
    "feature_cols": _columns,
    "k_neighbors": _k_neighbors,
}


def _check_consistency(config: JobConfig) -> None:
    if bool(config.input) == bool(config.input_table):
        raise ConfigError("Give exactly one of input (a path) and input_table (a catalog table).")
    if config.output and config.output_table:
        raise ConfigError("Give one of output (a path) and output_table (a catalog table).")
    if not config.destination and not config.dry_run:
        raise ConfigError(
            "output (a path) or output_table (a catalog table) is required (or pass --dry-run "
            "to only print the plan)."
        )
    if config.output_table and config.split:
        raise ConfigError(
            "split writes one folder per part under output, a path; output_table takes no "
            "parts. Write the split to a path."
        )
    if config.idempotency_key and config.output and config.path_format.lower() != "delta":
        raise ConfigError(
            "idempotency_key makes a rerun of a Delta write commit nothing twice; the output "
            f"{config.output!r} is written as {config.path_format}. Leave idempotency_key out, "
            'or pass output_format = "delta".'
        )
    if config.output and config.path_format.lower() == "iceberg":
        raise ConfigError(
            "Iceberg is written to a table of an Iceberg catalog: pass output_table (such as "
            "catalog.db.events) instead of output."
        )
    if config.replace_where and config.write_mode != "overwrite":
        raise ConfigError(
            "replace_where replaces the rows of a Delta table that match it: it goes with "
            f"write_mode = overwrite, not {config.write_mode}."
        )
    if config.replace_where and config.output and config.path_format.lower() != "delta":
        raise ConfigError(
            "replace_where replaces the rows of a Delta table that match it; the output "
            f"{config.output!r} is written as {config.path_format}. Pass output_format = "
            '"delta", or leave replace_where out.'
        )
    if config.output_table and config.output_table == config.input_table:
        raise ConfigError(
            f"output_table {config.output_table!r} is the input table; writing there could "
            "destroy the input while it is read. Choose another table."
        )
    if config.verbose and config.quiet:
        raise ConfigError("verbose and quiet exclude each other: choose one.")
    if (config.method == "resample") != (config.target is not None):
        raise ConfigError(
            "target goes with method = resample, and method = resample needs a "
            "target (an integer, majority, mean, median or minority)."
        )
    if config.method == "resample" and config.strategy != "auto":
        raise ConfigError(
            "strategy does not apply to method = resample, which brings every class to target; "
            f"leave strategy out and choose the target. Got {config.strategy!r} instead."
        )
    strings = {
        "upsample": OVER_SAMPLING_STRINGS,
        "smote": OVER_SAMPLING_STRINGS,
        "downsample": UNDER_SAMPLING_STRINGS,
    }
    allowed = strings.get(config.method, ("auto",))
    if isinstance(config.strategy, str) and config.strategy not in allowed:
        raise ConfigError(
            f"strategy must be one of {', '.join(allowed)}, a float ratio in (0, 1] or a table "
            f"of class = count (method {config.method}). Got {config.strategy!r} instead."
        )
    _check_output_format(config)
    _check_split(config)
    _check_smote(config)
    if config.method == "downsample" and (config.keep_originals or config.shrinkage is not None):
        raise ConfigError("keep_originals and shrinkage apply to upsample and resample only.")


# The keys whose non-default values only the random methods use, and what they do there.
NOT_FOR_SMOTE = {
    "keep_originals": "SMOTE always keeps the original rows",
    "replacement": "it chooses how downsample and resample shrink a class",
    "weight_col": "SMOTE writes new rows, not weights",
    "shrinkage": "SMOTE interpolates between neighbours instead of smoothing copies",
    "shrinkage_cols": "SMOTE interpolates between neighbours instead of smoothing copies",
    "shuffle": "it applies to upsample, downsample and resample only",
    "null_labels": "SMOTE refuses null labels; filter them out first",
    "checkpoint_input": "it applies to upsample, downsample and resample only",
    "max_ratio": f"SMOTE's limit is {DEFAULT_MAX_RATIO:,.0f} times a class's rows",
}


def _check_smote(config: JobConfig) -> None:
    """``feature_cols`` and ``k_neighbors`` go with ``method = "smote"``, which needs
    ``feature_cols`` and takes none of :data:`NOT_FOR_SMOTE` (nor ``target``)."""
    if config.method != "smote":
        given = [
            k for k in ("feature_cols", "k_neighbors") if getattr(config, k) != getattr(DEFAULTS, k)
        ]
        if given:
            raise ConfigError(
                f"{' and '.join(given)} go{'es' if len(given) == 1 else ''} with "
                f"method = smote only (method {config.method})."
            )
        return
    if not config.feature_cols:
        raise ConfigError(
            "method = smote needs feature_cols: the numeric columns to interpolate "
            "between neighbours (e.g. --feature-col x --feature-col y)."
        )
    for key, why in NOT_FOR_SMOTE.items():
        if getattr(config, key) != getattr(DEFAULTS, key):
            raise ConfigError(f"{key} does not apply to method = smote: {why}.")


def _check_output_format(config: JobConfig) -> None:
    """Refuse, before Spark starts, an ``output_format`` that is a typo of a known one (another
    name without a dot may be a data source of a package on the classpath: Spark judges it), and
    a ``compression`` that is not a codec of a file format of :data:`CODECS` (a name with a dot
    is a Hadoop codec class)."""
    if config.output_format is None and config.output_table:
        return  # the table's own format, or the catalog's default: Spark's to judge
    name = config.path_format.lower()
    known = (*CODECS, *OTHER_FORMATS)
    if "." not in name and name not in known:
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if near:
            raise ConfigError(
                f"output_format {config.path_format!r} is not a format Spark knows. Did you "
                f"mean {near[0]!r}? Known formats: {', '.join(known)}, or a data source's name."
            )
    codec = (config.compression or "").lower()
    if codec and "." not in codec and codec not in CODECS.get(name, (codec,)):
        raise ConfigError(
            f"compression {config.compression!r} is not a codec of {name}: choose one of "
            f"{', '.join(CODECS[name])}."
        )


def _check_split(config: JobConfig) -> None:
    """``resample_part`` names a part of ``split``; only that part has the weight or lineage
    column, so the output cannot be partitioned by one."""
    if config.split is None:
        if config.resample_part is not None:
            raise ConfigError(
                "resample_part goes with split (e.g. split = { train = 0.8, "
                "test = 0.2 }); without split the whole input is resampled."
            )
        return
    part = config.resample_part or "train"
    if part not in config.split:
        raise ConfigError(
            f"resample_part must name a part of split ({', '.join(config.split)}). "
            f"Got {part!r} instead."
        )
    only_resampled = [
        c for c in (config.weight_col, config.lineage_col) if c and c in config.partition_by
    ]
    if only_resampled:
        raise ConfigError(
            f"partition_by names {only_resampled[0]!r}, which only the "
            f"resampled part {part!r} has; with split, partition by input columns."
        )
