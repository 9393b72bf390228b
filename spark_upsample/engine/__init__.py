"""The sampling engine under the public transforms: internal, no stability promise.

Spark-free arithmetic (plain Python, unit-tested without a session):

- :mod:`~spark_upsample.engine.strategy`: target counts from a sampling strategy;
- :mod:`~spark_upsample.engine.draws`: exact sampling with replacement as per-row copy counts;
- :mod:`~spark_upsample.engine.parts`: exact part sizes of splits and folds;
- :mod:`~spark_upsample.engine.plan`: the plan of a run, a plain value;
- :mod:`~spark_upsample.engine.knn`, :mod:`~spark_upsample.engine.synthesis` and
  :mod:`~spark_upsample.engine.blocks`: SMOTE's exact neighbours, new rows and query blocks
  (numpy; run on the executors).

Its Spark side (DataFrame API only, so it runs under Spark Connect too):

- :mod:`~spark_upsample.engine.frames`: column names, label checks, class counts;
- :mod:`~spark_upsample.engine.cells`: (group, class) cells keyed alike in Spark and Python;
- :mod:`~spark_upsample.engine.identity`: the stable row identity every random number hashes;
- :mod:`~spark_upsample.engine.cuts`: exact per-cell cuts by counting, with no sort;
- :mod:`~spark_upsample.engine.sampler`: every cell to an exact count in one pass;
- :mod:`~spark_upsample.engine.smoothing`: the smoothed bootstrap of drawn copies;
- :mod:`~spark_upsample.engine.pipeline`: one run, from validation to the resampled frame.
"""
