"""``python -m spark_upsample``: the command line (:mod:`spark_upsample.job.command`)."""

from spark_upsample.job.command import main

raise SystemExit(main())
