"""The README's screenshot of the demo's page, ``docs/report.png``, made as the page's test does.

``.venv/bin/python tests/report_screenshot.py [PNG]`` runs the demo as ``jobs/demo.sh`` does (the
job on ``conf/demo.toml`` from the repository's root, writing ``demo-output/``) and takes the
screenshot of its page that ``tests/test_report_page.py`` takes and checks (:func:`run_demo`,
:func:`tests.browser.screenshot` at :data:`SIZE`). It needs a headless Chromium: without one it
prints :data:`NO_CHROMIUM` and exits 1 before running anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spark_upsample.job.cli import main  # noqa: E402 - after the path to this checkout
from spark_upsample.job.report import REPORT_PREFIX  # noqa: E402 - as above
from tests.browser import chromium, screenshot  # noqa: E402 - as above

SIZE = (1000, 1150)  # the viewport: the demo's page, down to the seconds per stage
NO_CHROMIUM = (
    "report_screenshot: error: no headless Chromium found; install one (Debian/Ubuntu, as root: "
    "apt-get install chromium-headless-shell, as bash .ci/run does) or name its binary in "
    "SPARK_UPSAMPLE_CHROMIUM"
)


def run_demo(*options: str) -> Path:
    """Run the job on the demo's config from the repository's root, as ``jobs/demo.sh`` does,
    with ``options`` added (``--output PATH`` to write elsewhere); returns the page's path."""
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main(["--config", "conf/demo.toml", *options])
    finally:
        os.chdir(previous)
    assert code == 0, f"the demo's run failed with exit code {code}"
    output = options[options.index("--output") + 1] if "--output" in options else None
    return ROOT / (output or "demo-output/iris_balanced") / f"{REPORT_PREFIX}.html"


if __name__ == "__main__":
    if chromium() is None:
        sys.exit(NO_CHROMIUM)  # the line on stderr, exit code 1
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the demo's Spark on loopback only
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "report.png")
    screenshot(run_demo(), target, SIZE)
    print(f"screenshot: {target}")
