"""The library's public transforms, re-exported by :mod:`spark_upsample` (import them from there).

Each module is one imbalanced-learn or scikit-learn counterpart on Spark, built on
:mod:`spark_upsample.engine`: :mod:`~.oversampling` (``RandomOverSampler``), :mod:`~.undersampling`
(``RandomUnderSampler``), :mod:`~.resampling` (both to one count), :mod:`~.splitting` (exact
stratified splits and folds), :mod:`~.weights` (``class_weight="balanced"``), :mod:`~.priors`
(prior correction) and :mod:`~.ml` (Spark ML stages and the ``Pipeline`` that resamples training
data only).
"""
