"""Stopping the job on SIGTERM or SIGINT (a scheduler's timeout, Ctrl-C) without damage.

While :func:`stop_on_signals` is active, the first SIGTERM or SIGINT does not end the process
at once: it records the signal and interrupts every Spark operation of the session, again and
again until the block ends (``SparkSession.interruptAll``, classic Spark 4 and Spark Connect
alike; classic Spark 3.5 lacks it, and there the session is stopped instead), so the running
Spark call returns with an error, any later one too, and the job's own error handling removes
its staging folder and leaves the previous output as it was. The job then exits with 128 + the
signal's number (143 for SIGTERM, 130 for SIGINT). Later signals are ignored while it cleans up;
SIGKILL still ends it at once (the next run cleans up then).

The interrupts come from a thread of their own: the main thread is waiting on its own Spark
call, and must get that call's answer for the session to stay usable for clean-up.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from pyspark.sql import SparkSession

from spark_upsample.errors import OutputError

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
INTERRUPT_EVERY_SECONDS = 0.5
# What classic PySpark 3.5's SparkSession.interruptAll raises (Spark 4 implements it there too).
CLASSIC_35 = "interruptAll is only supported with Spark Connect"


class StopRequest:
    """The stop signal received while :func:`stop_on_signals` was active, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self, before: str) -> None:
        """Raise :class:`OutputError` when a stop signal came: ``before`` says what is not done."""
        if self.signum is not None:
            raise OutputError(f"Cancelled by {self.name} before {before}.")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process ended by it."""
        assert self.signum is not None
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


@contextmanager
def stop_on_signals(spark: SparkSession, request: StopRequest) -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT cancel the session's Spark work instead of ending the
    process, and are recorded in ``request``. Handlers are installed only in the main thread
    (elsewhere the block changes nothing); the previous ones are restored at exit, once the
    interrupts have stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    done = threading.Event()

    def interrupt_until_done() -> None:
        while not done.is_set():
            try:
                spark.interruptAll()
            except RuntimeError as error:
                if CLASSIC_35 not in str(error):
                    log.debug("interrupting Spark failed", exc_info=True)
                else:  # classic Spark 3.5 interrupts only Spark Connect sessions
                    log.debug("no interruptAll on this Spark: stopping the session instead")
                    spark.stop()  # cancels its running jobs; the job then cleans up in Python
                    return
            except Exception:  # noqa: BLE001 - a session stopping meanwhile; keep trying
                log.debug("interrupting Spark failed", exc_info=True)
            done.wait(INTERRUPT_EVERY_SECONDS)

    interrupter = threading.Thread(
        target=interrupt_until_done, name="spark-upsample-stop", daemon=True
    )

    def handle(signum: int, frame: FrameType | None) -> None:
        if request.signum is not None:
            log.warning("received %s again; still cleaning up", signal.Signals(signum).name)
            return
        request.signum = signum
        log.warning(
            "received %s: cancelling the Spark jobs and removing the staged output", request.name
        )
        interrupter.start()

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        done.set()
        if interrupter.is_alive():
            interrupter.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
