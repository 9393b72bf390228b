"""The PySpark this package runs on: checked before any of its modules imports PySpark.

PySpark is not a hard dependency of the wheel. Databricks Runtime, its serverless environments and
databricks-connect bring their own, which pip does not see as installed, so a declared ``pyspark``
would put PyPI's over the platform's. Where nothing provides it, an extra installs it: ``[spark]``
(PySpark with its JVM, for local mode and spark-submit) or ``[client]`` (``pyspark-client``, a
Spark Connect client only). Both install the import name ``pyspark``, so pick one. The package is
not on a package index, so the advice below installs what those extras would, from PyPI:
:data:`SPARK` and :data:`CLIENT` are the extras' requirements (a test compares them with
pyproject.toml), a command that works wherever the package was installed from.

:func:`require_pyspark` is called by ``spark_upsample/__init__.py`` first. Without an importable
PySpark, or with one older than :data:`MINIMUM`, it raises :class:`PySparkMissingError` (an
``ImportError``) whose one-line message says what to install; the package then still imports
(the job's ``--help``, ``--version`` and ``report`` need no PySpark:
:mod:`spark_upsample.job.command`), but each of its public names raises that error. A program
that lets the error go uncaught (``from spark_upsample import upsample`` in a script) ends with
that line on stderr and exit code 2 (a configuration problem), not with a traceback; the console
script and ``python -m spark_upsample`` print the same line for a run.
"""

from __future__ import annotations

import re
import sys
from types import TracebackType
from typing import NoReturn

MINIMUM = (3, 5)

SPARK = "'pyspark>=3.5,<5'"  # the [spark] extra
CLIENT = "'pyspark-client>=4,<5' 'pandas>=2.2,<3'"  # the [client] extra
INSTALL = (
    f"pip install {SPARK} (PySpark with its JVM: local mode, spark-submit) or "
    f"pip install {CLIENT} (a Spark Connect client only), not both"
)


class PySparkMissingError(ImportError):
    """No importable PySpark, or one older than :data:`MINIMUM`; the message says what to do."""


def require_pyspark() -> None:
    """Return if PySpark :data:`MINIMUM` or newer is importable.

    Raises
    ------
    PySparkMissingError
        PySpark is not installed, or its version is older than 3.5. Also installs a
        ``sys.excepthook`` under which this error, if nothing catches it, prints its one line and
        exits with code 2; every other exception goes to the previous hook unchanged.
    """
    try:
        import pyspark
    except ModuleNotFoundError as error:
        if error.name != "pyspark":
            raise
        _fail(
            f"no PySpark is installed; spark-upsample needs PySpark {_text(MINIMUM)} or newer: "
            f"{INSTALL}; on Databricks the runtime provides it."
        )
    found = re.match(r"(\d+)\.(\d+)", pyspark.__version__)
    if found is None or (int(found.group(1)), int(found.group(2))) < MINIMUM:
        _fail(
            f"PySpark {pyspark.__version__} is installed; spark-upsample needs PySpark "
            f"{_text(MINIMUM)} or newer: pip install --upgrade {SPARK} to upgrade it, or on "
            f"Databricks a runtime with Spark {_text(MINIMUM)} or newer."
        )


def _text(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


def _fail(message: str) -> NoReturn:
    previous = sys.excepthook

    def one_line(
        kind: type[BaseException], error: BaseException, traceback: TracebackType | None
    ) -> None:
        if not isinstance(error, PySparkMissingError):
            previous(kind, error, traceback)
            return
        print(f"spark-upsample: error: {error}", file=sys.stderr)
        raise SystemExit(2)  # Python exits with this code when the hook raises SystemExit

    sys.excepthook = one_line
    raise PySparkMissingError(message, name="pyspark")
