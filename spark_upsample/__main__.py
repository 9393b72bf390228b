"""``python -m spark_upsample``: the command line (:mod:`spark_upsample.job.command`)."""

from spark_upsample.job.command import entry_point

entry_point()
