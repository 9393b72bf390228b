#!/usr/bin/env bash
# Set up a development environment from a clean checkout: a venv in .venv with the project and
# its spark (PySpark), test and lint (ruff, mypy) extras installed, after checking for
# Python >= 3.10 and Java 17+ (Spark 4 needs both).
# Sourced by .ci/run and jobs/demo.sh; safe to run again (it reuses .venv, and installs again only
# when pyproject.toml changed, so a second demo needs no network).
set -euo pipefail

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; install Python 3.10 or newer (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: Python 3.10 or newer is required; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
  exit 1
fi

java_bin=java
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java_bin="$JAVA_HOME/bin/java"; fi
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "error: Java 17 or newer is required by Spark 4 and was not found." >&2
  echo "       Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME." >&2
  exit 1
fi
java_major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  echo "error: Java 17 or newer is required by Spark 4; found: $("$java_bin" -version 2>&1 | head -n 1)" >&2
  echo "       Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# The install is editable, so only a change to pyproject.toml (dependencies, extras, entry points)
# calls for another. After a successful one, a stamp in .venv holds what was installed (the extras
# and pyproject.toml); while it matches, pip is not run. A new .venv has no stamp.
install_project() {
  local extras=spark,test,lint stamp=.venv/.spark-upsample-installed wanted
  wanted="$extras $(cat pyproject.toml)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  rm -f "$stamp"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  printf '%s\n' "$wanted" >"$stamp"
}
install_project

# The report page's tests look at it in a headless Chromium (tests/test_report_page.py skips them,
# saying why, without one). .ci/run calls this; the demo does not need it. Never fails the set-up.
install_test_browser() {
  if command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: no headless Chromium and no apt-get as root to install it: the page's browser tests will be skipped" >&2
    return 0
  fi
  local package
  for package in chromium-headless-shell chromium; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null 2>&1; }; then
      return 0
    fi
  done
  echo "note: apt-get could not install chromium-headless-shell or chromium: the page's browser tests will be skipped" >&2
  return 0
}
