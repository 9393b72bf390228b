#!/usr/bin/env bash
# Set up .venv (as .ci/run does) and run the job on the bundled demo data in local mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/setup.sh
# The demo's Spark runs on this machine: bind it to loopback, which also spares the
# "hostname resolves to a loopback address" warning of hosts whose name maps to 127.0.x.x.
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
.venv/bin/spark-upsample --config conf/demo.toml "$@"
