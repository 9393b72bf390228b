"""The exception hierarchy of spark-upsample.

Every error the library raises on bad input is a :class:`SparkUpsampleError`; those about a bad
value are also :class:`ValueError`, so callers that catch ``ValueError`` keep working. Each message
says what was wrong, the value that was given, and what to do instead.
"""

from __future__ import annotations


class SparkUpsampleError(Exception):
    """Base class of every error spark-upsample raises on purpose."""


class InvalidStrategyError(SparkUpsampleError, ValueError):
    """``sampling_strategy`` has a form or value that cannot be applied to these class counts."""


class RatioLimitError(InvalidStrategyError):
    """A target would multiply a class by more than ``max_ratio`` (a guard against runaway
    output)."""


class SingleClassError(SparkUpsampleError, ValueError):
    """The input holds fewer than two classes, so there is nothing to balance."""


class MissingColumnError(SparkUpsampleError, ValueError):
    """A column named in the call is not in the DataFrame."""


class InvalidLabelError(SparkUpsampleError, ValueError):
    """The label column has an unusable type or values (nulls, NaN)."""


class InvalidParameterError(SparkUpsampleError, ValueError):
    """A parameter other than the strategy (seed, option names, ...) has a bad value."""


class InvalidDataError(SparkUpsampleError, ValueError):
    """A column the call computes with holds values it cannot use (NaN or null in a column to
    smooth)."""


class EmptyInputError(SparkUpsampleError, ValueError):
    """The input has no rows."""


class DuplicateKeyError(SparkUpsampleError, ValueError):
    """``key_cols`` do not identify the rows: a key value repeats within a class."""


class ConfigError(SparkUpsampleError, ValueError):
    """A configuration file or command-line value is missing, unknown or invalid."""


class InputError(SparkUpsampleError):
    """The input cannot be read: a missing path or table, a wrong format, corrupt files."""


class OutputError(SparkUpsampleError):
    """The output cannot be written as asked: it exists, overlaps the input, or failed to verify."""
