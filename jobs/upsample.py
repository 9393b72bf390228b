"""spark-submit entry point: ``spark-submit jobs/upsample.py --config conf/upsample.toml``.

Thin on purpose: everything is in :mod:`spark_upsample.job.cli`, which tests reach directly.
"""

from spark_upsample.job.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
