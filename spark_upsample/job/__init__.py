"""The batch job on top of the library: config in, resampled Parquet (or any format) out.

:mod:`~.command` is the command line (``spark-upsample``, ``python -m spark_upsample``), whose
``--help``, ``--version`` and ``report`` need no PySpark; :mod:`~.cli` the run (also
``spark-submit jobs/upsample.py``); :mod:`~.options` the options; :mod:`~.config` the typed
config from a TOML file and the command line; :mod:`~.methods` and :mod:`~.split_job` turn a
config into library calls; :mod:`~.io` reads and writes; :mod:`~.landing`, :mod:`~.exclusion`
and :mod:`~.signals` land the output whole or not at all; :mod:`~.report`,
:mod:`~.report_html`, :mod:`~.report_charts` and :mod:`~.report_command` write the run report
and its page.
"""
