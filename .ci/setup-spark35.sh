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

# Delta Lake, Iceberg's Spark runtime and hadoop-aws for PySpark 3.5, for the tests of outputs
# (tests/test_tables.py): Maven copies the jars from its default repository into
# .ci/jars/spark35 (gitignored), and a second run finds them there and downloads nothing.
# .ci/run hands them to the 3.5 pass in SPARK_UPSAMPLE_TEST_JARS.
SPARK35_JARS=(
  io.delta:delta-spark_2.12:3.3.3
  io.delta:delta-storage:3.3.3
  org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0
  # s3a:// for the object-store tests, at Spark 3.5's Hadoop version, and the AWS SDK it needs
  org.apache.hadoop:hadoop-aws:3.3.4
  com.amazonaws:aws-java-sdk-bundle:1.12.262
)
spark35_jar_dir=.ci/jars/spark35
fetch_spark35_jars() {
  local artifact group name version jar paths=()
  for artifact in "${SPARK35_JARS[@]}"; do
    IFS=: read -r group name version <<<"$artifact"
    jar="$spark35_jar_dir/$name-$version.jar"
    if [ ! -f "$jar" ]; then
      if ! command -v mvn >/dev/null 2>&1; then
        echo "error: Maven (mvn) is needed once to fetch $artifact for the Delta tests (apt-get install maven)" >&2
        exit 1
      fi
      mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$artifact" -DoutputDirectory="$spark35_jar_dir" >&2 \
        || { echo "error: Maven could not fetch $artifact" >&2; exit 1; }
    fi
    paths+=("$PWD/$jar")
  done
  SPARK35_TEST_JARS=$(IFS=,; echo "${paths[*]}")
}
fetch_spark35_jars
