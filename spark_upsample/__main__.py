"""``python -m spark_upsample``: the job's command line."""

from spark_upsample.job.cli import main

raise SystemExit(main())
