"""Class weights as a Column: scikit-learn's ``class_weight="balanced"`` for ``weightCol``.

Spark ML's classifiers take a ``weightCol`` but have no ``class_weight`` option. The column made
here weights every row without copying or moving any: one aggregation counts the rows per class,
and the weights travel back to the executors as a literal map from label to weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import (
    check_columns,
    check_label_type,
    clean_counts,
    describe_label,
    internal_names,
    label_columns,
)
from spark_upsample.errors import InvalidLabelError


def class_weights(df: DataFrame, label_col: str | Sequence[str]) -> Column:
    """The weight of each row's class, ``n_samples / (n_classes * count_c)``, as a Column.

    The ``class_weight="balanced"`` of scikit-learn: every class gets the same total weight
    (``n_samples / n_classes``), and the weights add up to the number of rows. Use it as Spark
    ML's ``weightCol``::

        train = train.withColumn("w", class_weights(train, "label"))
        LogisticRegression(weightCol="w").fit(train)

    Parameters
    ----------
    df : DataFrame
        The frame the column is for (the training data).
    label_col : str or list of str
        The class column, of any type a label may have (see :func:`spark_upsample.upsample`),
        or several, whose combinations are the classes.

    Returns
    -------
    Column
        A double column for ``df`` (and any frame with the same classes): the weight of the
        row's class. Computing it runs one aggregation, of the label column(s) only; the class
        counts are the only thing that reaches the driver. A label that was not in ``df`` gets
        a null weight.

    Raises
    ------
    MissingColumnError, InvalidLabelError, EmptyInputError
        No such column, a label type that cannot be a class, null or NaN labels, no rows.
    """
    label = label_columns(label_col)
    keys = CellKeys.of(_checked(df, label), label)
    name = internal_names(df, "cell")["cell"]
    counted = df.groupBy(keys.column().alias(name)).count()
    key_type = counted.schema[name].dataType
    raw: dict[Any, int] = {}
    for key, n in counted.collect():
        key = tuple(key) if isinstance(key, Row) else key  # a struct of several label columns
        key = None if keys.is_null(key) else key
        raw[key] = raw.get(key, 0) + n
    counts, nulls = clean_counts(raw, label, "drop")
    if nulls:
        raise InvalidLabelError(
            f"{nulls} row(s) have a null {'' if isinstance(label, str) else 'in '}"
            f"{describe_label(label)}, which is no class to weigh; fill or filter them first."
        )
    total = sum(counts.values())
    table = F.create_map(
        *chain.from_iterable(
            (_literal(key).cast(key_type), F.lit(total / (len(counts) * n)))
            for key, n in counts.items()
        )
    )
    return F.try_element_at(table, keys.column())


def _checked(df: DataFrame, label: str | tuple[str, ...]) -> DataFrame:
    """``df``, once its label column(s) exist and have a type a class may have."""
    names = (label,) if isinstance(label, str) else label
    check_columns(df, *names)
    for name in names:
        check_label_type(df, name)
    return df


def _literal(key: Any) -> Column:
    """A class key as Spark has it (a value, or a tuple for a struct of several columns)."""
    return F.struct(*[F.lit(v) for v in key]) if isinstance(key, tuple) else F.lit(key)
