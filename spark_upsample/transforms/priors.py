"""Prior correction: a model's probabilities under the original class priors, as a Column.

A model fitted on resampled rows learns the resampled class priors ``pi'_c``. By Bayes' rule its
probabilities turn into those under the original priors ``pi_c`` by weighing class ``c`` with
``pi_c / pi'_c`` (the plan's :attr:`~spark_upsample.ClassPlan.prior_factor`) and renormalising:

    p(c|x) = p'(c|x) * f_c / sum_k p'(k|x) * f_k

For a logistic model this is the intercept shift of King and Zeng (2001): the log-odds of class
``c`` against ``k`` move by ``log(f_c / f_k)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from spark_upsample.engine.frames import col
from spark_upsample.engine.plan import ResamplePlan
from spark_upsample.errors import InvalidParameterError


def prior_correction(
    plan: ResamplePlan,
    probability_col: str | Column,
    *,
    labels: Sequence[Any] | None = None,
    vector: bool = True,
) -> Column:
    """The probabilities of ``probability_col`` corrected back to the original class priors.

    Parameters
    ----------
    plan : ResamplePlan
        The plan of the resampling the model was trained on (without ``group_by``).
    probability_col : str or Column
        Class probabilities, one per class index: the ``probability`` (``probabilityCol``) of a
        Spark ML classifier, or an array of doubles with ``vector=False``.
    labels : sequence, optional
        The label of each index of the probabilities, in index order, e.g. the ``labels`` of
        the ``StringIndexerModel`` that made the label column. By default index ``i`` is the
        label ``i``, as Spark ML classifiers index classes by the numeric label value; the
        plan's labels must then be the numbers 0, 1, ..., K-1.
    vector : bool, default True
        True: ``probability_col`` is a Spark ML vector and so is the result. False: both are
        arrays of doubles.

    Returns
    -------
    Column
        ``p'_i * f_i / sum_k p'_k * f_k`` for every index ``i``, with ``f_i`` the prior factor of
        the class at index ``i``: the probabilities under the original priors, adding up to 1.
        A row whose probabilities do not have one entry per class fails the query with a
        message that says so.

    Raises
    ------
    InvalidParameterError
        A plan with ``group_by`` (the factors differ per group); a class the plan drops
        (target 0: the model never saw it); plan labels that are not 0..K-1 without ``labels``;
        ``labels`` that are not exactly the plan's classes.
    """
    factors = _factors_by_index(plan, labels)
    probabilities = col(probability_col) if isinstance(probability_col, str) else probability_col
    if not vector:
        return _corrected(probabilities, factors)
    # Imported here: pyspark.ml takes a second to import, and the job never needs it.
    from pyspark.ml.functions import array_to_vector, vector_to_array

    return array_to_vector(_corrected(vector_to_array(probabilities), factors))


def _corrected(probabilities: Column, factors: list[float]) -> Column:
    """``p_i * f_i / sum_k p_k * f_k`` of an array column, failing a row of the wrong length."""
    scaled = F.zip_with(probabilities, F.array(*[F.lit(f) for f in factors]), lambda p, f: p * f)
    total = F.aggregate(scaled, F.lit(0.0), lambda acc, x: acc + x)
    message = (
        f"prior_correction: the probabilities need {len(factors)} entries, one per class "
        "of the plan"
    )
    return F.when(
        F.size(probabilities) == len(factors), F.transform(scaled, lambda x: x / total)
    ).otherwise(F.raise_error(F.lit(message)))


def _factors_by_index(plan: ResamplePlan, labels: Sequence[Any] | None) -> list[float]:
    if plan.group_by:
        raise InvalidParameterError(
            f"prior_correction: the plan balanced classes within groups (group_by="
            f"{list(plan.group_by)}), so the prior factors differ per group; correct per group "
            "with ClassPlan.prior_factor."
        )
    factors = {c.label: c.prior_factor for c in plan.classes if c.prior_factor is not None}
    dropped = [c.label for c in plan.classes if c.prior_factor is None]
    if dropped:
        raise InvalidParameterError(
            f"prior_correction: the plan drops class(es) {dropped} (target 0), which the model "
            "never saw; there are no probabilities to correct for them."
        )
    if labels is None:
        if not all(_is_index(label) for label in factors) or (
            sorted(factors) != list(range(len(factors)))
        ):
            raise InvalidParameterError(
                f"prior_correction: the plan's labels {list(factors)} are not the class indices "
                f"0..{len(factors) - 1} of a Spark ML classifier; pass labels=[...] with the "
                "label of each index (e.g. StringIndexerModel.labels)."
            )
        labels = range(len(factors))
    order = list(labels)
    if (
        len(order) != len(factors)
        or any(label not in factors for label in order)
        or (len(set(order)) != len(order))
    ):
        raise InvalidParameterError(
            f"prior_correction: labels must list each class of the plan once; got {order}, "
            f"the plan's classes are {list(factors)}."
        )
    return [factors[label] for label in order]


def _is_index(label: Any) -> bool:
    return (
        isinstance(label, numbers.Real)
        and not isinstance(label, bool)
        and float(label).is_integer()
    )
