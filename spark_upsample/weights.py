"""Class weights as a Column: scikit-learn's ``class_weight="balanced"`` for ``weightCol``.

Spark ML's classifiers take a ``weightCol`` but have no ``class_weight`` option. The column made
here weights every row without copying or moving any: one aggregation counts the rows per class,
and the weights travel back to the executors as a literal map from label to weight.
"""

from __future__ import annotations

from itertools import chain

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_upsample.cells import CellKeys
from spark_upsample.errors import InvalidLabelError
from spark_upsample.frames import check_columns, check_label_type, clean_counts, internal_names


def class_weights(df: DataFrame, label_col: str) -> Column:
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
    label_col : str
        The class column, of any type a label may have (see :func:`spark_upsample.upsample`).

    Returns
    -------
    Column
        A double column for ``df`` (and any frame with the same classes): the weight of the
        row's class. Computing it runs one aggregation, of the label column only; the class
        counts are the only thing that reaches the driver. A label that was not in ``df`` gets
        a null weight.

    Raises
    ------
    MissingColumnError, InvalidLabelError, EmptyInputError
        No such column, a label type that cannot be a class, null or NaN labels, no rows.
    """
    check_columns(df, label_col)
    check_label_type(df, label_col)
    keys = CellKeys.of(df, label_col)
    name = internal_names(df, "cell")["cell"]
    counted = df.groupBy(keys.column().alias(name)).count()
    key_type = counted.schema[name].dataType
    counts, nulls = clean_counts({r[0]: int(r[1]) for r in counted.collect()}, label_col, "drop")
    if nulls:
        raise InvalidLabelError(
            f"{nulls} row(s) have a null {label_col!r}, which is no class to weigh; fill or "
            "filter them first."
        )
    total = sum(counts.values())
    weights = {label: total / (len(counts) * n) for label, n in counts.items()}
    table = F.create_map(
        *chain.from_iterable(
            (F.lit(label).cast(key_type), F.lit(weight)) for label, weight in weights.items()
        )
    )
    return F.try_element_at(table, keys.column())
