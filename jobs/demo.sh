#!/usr/bin/env bash
# Set up .venv (as .ci/run does) and run the job on the bundled demo data in local mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/setup.sh
.venv/bin/spark-upsample --config conf/demo.toml "$@"
