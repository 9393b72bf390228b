#!/usr/bin/env bash
# A second venv, .venv35, with the project and its spark and test extras on PySpark 3.5.x, the
# oldest Spark line the package supports (Databricks 15.4 and 16.4 LTS, EMR 7, Dataproc 2.2), for
# the second classic pass of .ci/run. Sourced after .ci/setup.sh, which checked Python and Java;
# safe to run again (it reuses .venv35).
set -euo pipefail

PYTHON=${PYTHON:-python3}
if [ ! -x .venv35/bin/python ]; then
  "$PYTHON" -m venv .venv35
  .venv35/bin/python -m pip install --quiet --upgrade pip
fi
.venv35/bin/python -m pip install --quiet --disable-pip-version-check -e ".[spark,test]" \
  -c .ci/spark35-constraints.txt
