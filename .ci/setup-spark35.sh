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

# Jars for PySpark 3.5 that Maven copies from its default repository into .ci/jars/<folder>
# (gitignored); a second run finds them there and downloads nothing. fetch_jars FOLDER
# ARTIFACT... sets FETCHED to their paths, comma-separated.
fetch_jars() {
  local folder=.ci/jars/$1 artifact group name version jar paths=()
  shift
  for artifact in "$@"; do
    IFS=: read -r group name version <<<"$artifact"
    jar="$folder/$name-$version.jar"
    if [ ! -f "$jar" ]; then
      if ! command -v mvn >/dev/null 2>&1; then
        echo "error: Maven (mvn) is needed once to fetch $artifact for the tests (apt-get install maven)" >&2
        exit 1
      fi
      local log
      log=$(mktemp)  # Maven's output, shown only when it fails
      if ! mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$folder" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: Maven could not fetch $artifact" >&2
        exit 1
      fi
      rm -f "$log"
    fi
    paths+=("$PWD/$jar")
  done
  FETCHED=$(IFS=,; echo "${paths[*]}")
}

# Delta Lake, Iceberg's Spark runtime and hadoop-aws (at Spark 3.5's Hadoop version, with the AWS
# SDK bundle it was built with), for the tests of outputs (tests/test_tables.py); .ci/run hands
# them to the 3.5 pass in SPARK_UPSAMPLE_TEST_JARS.
fetch_jars spark35 \
  io.delta:delta-spark_2.12:3.3.3 \
  io.delta:delta-storage:3.3.3 \
  org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0 \
  org.apache.hadoop:hadoop-aws:3.3.4 \
  com.amazonaws:aws-java-sdk-bundle:1.12.262
SPARK35_TEST_JARS=$FETCHED

# The Spark Connect server of the 3.5 line, which PySpark 3.5 does not ship, for the 3.5 Connect
# pass (SPARK_UPSAMPLE_CONNECT_JARS). 3.5.7: Maven's default repository serves no
# spark-connect_2.12 3.5.9 (this venv's PySpark); a server of the same line speaks its protocol.
fetch_jars spark35-connect org.apache.spark:spark-connect_2.12:3.5.7
SPARK35_CONNECT_JARS=$FETCHED
