"""One SparkSession for the whole test run, small and quiet: classic local Spark, or Spark Connect.

``SPARK_UPSAMPLE_TEST_CONNECT=1`` runs the suite against Spark Connect instead: a Spark Connect
server (``SparkConnectServer`` from the installed PySpark, master ``local[2]``) is started on a free
port bound to 127.0.0.1 and stopped at the end; ``SPARK_UPSAMPLE_TEST_CONNECT=sc://host:port`` uses
a server that is already running. Tests marked ``classic_only`` (they inspect the JVM or use the
SparkContext, which Spark Connect does not have) are skipped then; tests marked ``connect_only``
(they reuse that server) run only then.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
# The JVMs tests start for one run (spark-submit, the console script, layout runs, clusters)
# are short-lived and run small data: the C1 compiler alone halves their CPU time (the C2
# compiler's work never pays off in them). They inherit it (spark-submit reads SPARK_SUBMIT_OPTS);
# executors of a standalone cluster get it by conf. The two JVMs that live for a whole pass, the
# suite's session and the Spark Connect server, keep the default compilers (LONG_LIVED_JVM_OPTS).
# All of them load Spark's classes from a class data sharing archive (pytest_configure).
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
LONG_LIVED_JVM_OPTS = os.environ.get("SPARK_SUBMIT_OPTS", "")


def set_short_lived_jvm_options() -> None:
    """What the JVMs the tests start read (spark-submit reads SPARK_SUBMIT_OPTS)."""
    options = filter(None, [LONG_LIVED_JVM_OPTS, TEST_JVM_OPTIONS])
    os.environ["SPARK_SUBMIT_OPTS"] = " ".join(options)


set_short_lived_jvm_options()

CONNECT = os.environ.get("SPARK_UPSAMPLE_TEST_CONNECT", "").strip()
CONNECT_MODE = CONNECT not in ("", "0", "false", "no")
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# PySpark 3.5 ships no Connect server: SPARK_UPSAMPLE_CONNECT_JARS names its jar (.ci/run).
SPARK_3 = importlib.metadata.version("pyspark").startswith("3.")


def pytest_report_header(config) -> str:
    return f"spark-upsample tests against: {'Spark Connect' if CONNECT_MODE else 'classic Spark'}"


def pytest_configure(config) -> None:
    """Every JVM the tests start loads Spark's classes from an archive (tests/class_archive.py):
    it halves their start-up. Built on the first run (about 20 s), then cached."""
    global LONG_LIVED_JVM_OPTS
    from tests.class_archive import archive_options

    try:
        home = spark_home()
    except ImportError:  # no PySpark here: no JVM will start
        return
    options = archive_options(home, spark_env())
    LONG_LIVED_JVM_OPTS = " ".join(filter(None, [LONG_LIVED_JVM_OPTS, options]))
    set_short_lived_jvm_options()


def pytest_collection_modifyitems(config, items) -> None:
    if CONNECT_MODE:
        marker, reason = "classic_only", "classic Spark only (JVM or SparkContext access)"
    else:
        marker = "connect_only"
        reason = "runs in the Spark Connect pass (SPARK_UPSAMPLE_TEST_CONNECT=1)"
    for item in items:
        if marker in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


def spark_env(**extra: str) -> dict[str, str]:
    """The environment for Spark processes started by tests: this venv's Python, loopback only."""
    env = dict(os.environ)
    for name in (
        "PYSPARK_GATEWAY_PORT",
        "PYSPARK_GATEWAY_SECRET",
        "SPARK_REMOTE",
        "SPARK_CONNECT_MODE_ENABLED",
        "SPARK_LOCAL_REMOTE",
        "MASTER",
        "PYSPARK_SUBMIT_ARGS",
        "SPARK_UPSAMPLE_TEST_CONNECT",
    ):
        env.pop(name, None)
    env.update(
        SPARK_HOME=spark_home(),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a process this test run started, by its id: SIGTERM, then SIGKILL; always reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_for_log(process: subprocess.Popen, log: Path, pattern: str, timeout: float) -> re.Match:
    """Wait until regex ``pattern`` matches in ``log``; fail with the log's tail if the process
    exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(pattern, content)
        if match:
            return match
        if process.poll() is not None:
            raise RuntimeError(
                f"process exited ({process.returncode}) before {pattern!r}:\n{content[-4000:]}"
            )
        time.sleep(0.2)
    raise RuntimeError(f"no {pattern!r} after {timeout}s in {log}:\n{content[-4000:]}")


def start_connect_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """Start a Spark Connect server (master local[2]) on a free port of 127.0.0.1.

    Returns the process (stop it with :func:`stop_process`) and its ``sc://`` URL. The server is
    the ``SparkConnectServer`` class that ships in PySpark's jars, launched by spark-submit the
    way ``sbin/start-connect-server.sh`` does, without daemonising.
    """
    port = free_port()
    log = workdir / "connect-server.log"
    jars = os.environ.get("SPARK_UPSAMPLE_CONNECT_JARS", "").strip()
    if SPARK_3 and not jars:
        pytest.fail("PySpark 3.5 has no Spark Connect server: set SPARK_UPSAMPLE_CONNECT_JARS")
    if SPARK_3 and [name for _, name in socket.if_nameindex()] != ["lo"]:
        # Spark 3.5's server has no binding address: it listens on every interface, so it runs
        # only in a network namespace whose one interface is loopback (.ci/run: unshare --net).
        pytest.fail("a Spark 3.5 Connect server runs only where loopback is the one interface")
    confs = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(workdir / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={workdir}",
    }
    args = [
        os.path.join(spark_home(), "bin", "spark-submit"),
        "--class",
        CONNECT_SERVER_CLASS,
        "--name",
        "spark-upsample-tests-connect",
        "--master",
        "local[2]",
    ]
    for key, value in confs.items():
        args += ["--conf", f"{key}={value}"]
    if jars:
        args += ["--jars", jars]
    with open(log, "wb") as out:
        # spark-submit execs the JVM, so this pid is the server's.
        process = subprocess.Popen(
            args,
            cwd=workdir,
            env=spark_env(SPARK_CONNECT_MODE="0", SPARK_SUBMIT_OPTS=LONG_LIVED_JVM_OPTS),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        # The server moves to the next port if this one was taken meanwhile: read the real one.
        # Spark 3.5 names the address it bound, every interface: "0:0:0:0:0:0:0:0%0:15002".
        started = wait_for_log(process, log, r"Spark Connect server started at: \S*:(\d+)", 180)
    except BaseException:
        stop_process(process)
        raise
    return process, f"sc://127.0.0.1:{started.group(1)}"


# The session catalog's tables (tests/test_tables.py) go to a folder of their own, never the
# working directory's spark-warehouse.
WAREHOUSE = tempfile.mkdtemp(prefix="spark-upsample-warehouse-")
# Jars of table formats for the classic session, comma-separated (.ci/run sets it for the PySpark
# 3.5 pass: Delta Lake); tests/test_tables.py skips its Delta tests without them.
TEST_JARS = os.environ.get("SPARK_UPSAMPLE_TEST_JARS", "").strip()


ICEBERG_CATALOG = "lake"  # with Iceberg's jar: a Hadoop catalog in WAREHOUSE/iceberg
# With hadoop-aws's jar: s3a:// reaches an S3-compatible server (moto's) on 127.0.0.1 at this port,
# chosen now because the session reads its s3a settings when it starts (fixture s3_bucket).
S3_PORT = free_port() if "hadoop-aws" in TEST_JARS else 0
S3_BUCKET = "lake"


def lakehouse_settings() -> dict[str, str]:
    """The session's settings for the jars of TEST_JARS: Delta's SQL extension and catalog (the
    session catalog's), Iceberg's extension and a Hadoop catalog, :data:`ICEBERG_CATALOG`."""
    if not TEST_JARS:
        return {}
    settings, extensions = {"spark.jars": TEST_JARS}, []
    if "delta-spark" in TEST_JARS:
        extensions.append("io.delta.sql.DeltaSparkSessionExtension")
        settings["spark.sql.catalog.spark_catalog"] = (
            "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
    if "iceberg-spark-runtime" in TEST_JARS:
        extensions.append("org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        catalog = f"spark.sql.catalog.{ICEBERG_CATALOG}"
        settings[catalog] = "org.apache.iceberg.spark.SparkCatalog"
        settings[f"{catalog}.type"] = "hadoop"
        settings[f"{catalog}.warehouse"] = os.path.join(WAREHOUSE, "iceberg")
    if extensions:
        settings["spark.sql.extensions"] = ",".join(extensions)
    if S3_PORT:
        s3a = "spark.hadoop.fs.s3a"
        settings[f"{s3a}.endpoint"] = f"http://127.0.0.1:{S3_PORT}"
        settings[f"{s3a}.path.style.access"] = "true"
        settings[f"{s3a}.connection.ssl.enabled"] = "false"
        settings[f"{s3a}.access.key"] = settings[f"{s3a}.secret.key"] = "test"
        settings[f"{s3a}.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
    return settings


@pytest.fixture(scope="session")
def s3_bucket() -> Iterator[str]:
    """``s3a://lake``: a bucket of an S3-compatible server (moto's server mode) that this test run
    starts on 127.0.0.1 and stops at its end. Skips without hadoop-aws among TEST_JARS."""
    if not S3_PORT:
        pytest.skip("needs hadoop-aws (SPARK_UPSAMPLE_TEST_JARS)")
    import boto3

    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(S3_PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{S3_PORT}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", S3_PORT), timeout=1):
                    break
            except OSError:
                assert server.poll() is None, "moto_server ended"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=S3_BUCKET)
        yield f"s3a://{S3_BUCKET}"
    finally:
        stop_process(server)


@pytest.fixture(scope="session")
def connect_url() -> Iterator[str]:
    """A Spark Connect server for this test run: the one named in SPARK_UPSAMPLE_TEST_CONNECT,
    or one started here on 127.0.0.1 and stopped, by its process id, when the run ends."""
    if CONNECT.startswith("sc://"):
        yield CONNECT
        return
    workdir = Path(tempfile.mkdtemp(prefix="spark-upsample-connect-"))
    process, url = start_connect_server(workdir)
    try:
        yield url
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


if CONNECT_MODE:

    @pytest.fixture(scope="session")
    def spark(connect_url: str) -> Iterator[SparkSession]:
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.remote(connect_url)
            .appName("spark-upsample-tests")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

        assert isinstance(session, RemoteSparkSession), type(session)
        yield session
        session.stop()

else:

    @pytest.fixture(scope="session")
    def spark() -> Iterator[SparkSession]:
        from pyspark.sql import SparkSession

        short_lived = os.environ["SPARK_SUBMIT_OPTS"]
        os.environ["SPARK_SUBMIT_OPTS"] = LONG_LIVED_JVM_OPTS  # read when the JVM starts
        try:
            session = (
                SparkSession.builder.master("local[2]")
                .appName("spark-upsample-tests")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.default.parallelism", "2")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.warehouse.dir", WAREHOUSE)
                .config(map=lakehouse_settings())
                .getOrCreate()
            )
        finally:
            os.environ["SPARK_SUBMIT_OPTS"] = short_lived
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()
        shutil.rmtree(WAREHOUSE, ignore_errors=True)
