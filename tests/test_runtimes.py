"""The job on every runtime it targets, with real components started (and stopped) here.

- Spark Connect: the library and the job use no RDD, SparkContext or JVM handle (a source guard
  here; the transforms, Spark ML, SMOTE and the job also run against a Spark Connect server, see
  ``.ci/run``), and the job runs with ``--remote sc://...`` and with ``SPARK_REMOTE`` against a
  live server.
- A Spark standalone cluster (a master and two workers on 127.0.0.1): ``spark-submit`` of
  ``jobs/upsample.py`` with the package shipped as a ``--py-files`` zip, proof that executors
  import ``spark_upsample`` from that zip, and a job that loses an executor while writing.
- Databricks: the bundle in ``conf/databricks`` is checked against the real CLI parser, and the
  wheel is built and installed into a fresh venv whose ``spark-upsample`` runs.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import pytest
from chispa import assert_df_equality
from conftest import TEST_JVM_OPTIONS, free_port, spark_env, spark_home, stop_process, wait_for_log

from spark_upsample.job.cli import build_parser, config_from_args, main
from spark_upsample.job.report import REPORT_NAME
from tests.helpers import label_counts
from tests.test_faults import ONE_ROW_PER_FILE, write_events, writing
from tests.test_reliability import snapshot

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spark_upsample"
BIN = Path(sys.executable).parent
DEMO_COUNTS = {0: 100, 1: 100}


def run(
    args: list, cwd: Path = ROOT, timeout: int = 300, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=spark_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def check_demo_output(spark, out: Path) -> dict:
    assert label_counts(spark.read.parquet(str(out))) == DEMO_COUNTS
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["seed"] == 2017 and report["rows_written"] == 200
    return report


# --- Spark Connect ---------------------------------------------------------------------------

FORBIDDEN = {
    "rdd": "the RDD API",
    "sparkContext": "the SparkContext",
    "_sc": "the SparkContext",
    "_jsc": "the JVM SparkContext",
    "_jdf": "the JVM DataFrame",
    "_jvm": "the JVM",
    "_jsparkSession": "the JVM SparkSession",
    "SparkContext": "the SparkContext",
}


def classic_only_uses(source: str) -> list[str]:
    """Lines of ``source`` that reach for APIs Spark Connect does not have (by the syntax tree,
    so comments and docstrings do not count): attributes, names, imports and getattr strings."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [part for alias in node.names for part in alias.name.split(".")]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            names.append(node.args[1].value)
        found |= {(node.lineno, name) for name in names if name in FORBIDDEN}
    return [f"line {line}: {name} ({FORBIDDEN[name]})" for line, name in sorted(found)]


def test_the_guard_catches_classic_only_code():
    snippet = (
        "from pyspark import SparkContext\n"
        "n = df.rdd.count()\n"
        "sc = spark.sparkContext\n"
        "plan = df._jdf.queryExecution()\n"
        "r = getattr(df, 'rdd')\n"
        "# df.rdd in a comment is fine\n"
        "'''and so is sparkContext in a docstring'''\n"
    )
    assert [hit.split(":")[0] for hit in classic_only_uses(snippet)] == [
        "line 1",
        "line 2",
        "line 3",
        "line 4",
        "line 5",
    ]


# The one classic-only call the package makes, and why it is safe under Spark Connect: the job's
# progress lines read the status tracker only when task_progress is told the session is classic
# (the Spark Connect pass runs the job and test_the_task_progress_of_a_running_spark_job through
# the other branch, Spark Connect's progress handler).
CLASSIC_BRANCHES = {
    "spark_upsample/job/progress.py": ["sparkContext (the SparkContext)"],
}


def test_library_and_job_use_no_rdd_sparkcontext_or_jvm():
    """Spark Connect (Databricks serverless and shared clusters) has DataFrames only."""
    files = sorted(PACKAGE.rglob("*.py")) + [ROOT / "jobs" / "upsample.py"]
    assert len(files) > 10
    offences = {
        str(f.relative_to(ROOT)): [hit.split(": ", 1)[1] for hit in hits]
        for f in files
        if (hits := classic_only_uses(f.read_text()))
    }
    assert offences == CLASSIC_BRANCHES


@pytest.mark.slow
@pytest.mark.connect_only
def test_job_runs_against_a_spark_connect_server(spark, connect_url, tmp_path):
    """``--remote sc://...`` and ``SPARK_REMOTE`` run the job on a live Spark Connect server (the
    one of the Spark Connect pass, on 127.0.0.1, master local[2]); the client starts no JVM."""
    # Paths are the server's: relative ones resolve against its working directory, not ours.
    demo = ["--config", "conf/demo.toml", "--input", PACKAGE / "data" / "iris_imbalanced.csv"]
    out = tmp_path / "remote"
    result = run(
        [
            BIN / "spark-upsample",
            "--remote",
            connect_url,
            *demo,
            "--output",
            out,
            "--write-mode",
            "error",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = check_demo_output(spark, out)
    assert report["spark"]["master"] == "local[2]"  # the server's; the script alone uses local[*]
    assert "class  before  target  after" in result.stderr

    out = tmp_path / "env"
    result = run(
        [sys.executable, "-m", "spark_upsample", *demo, "--output", out], SPARK_REMOTE=connect_url
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert check_demo_output(spark, out)["spark"]["master"] == "local[2]"
    # A classic session would have started a JVM, which says so on stderr.
    assert "log4j" not in result.stderr and "NativeCodeLoader" not in result.stderr

    result = run(
        [
            BIN / "spark-upsample",
            "--remote",
            connect_url,
            "--input",
            tmp_path / "nope",
            "--output",
            tmp_path / "x",
        ]
    )
    assert result.returncode == 3
    assert "Cannot read input" in result.stderr and "PATH_NOT_FOUND" in result.stderr


# --- A standalone cluster through spark-submit -----------------------------------------------

PROBE = '''
"""Where do executors import spark_upsample from? Run by spark-submit with --py-files."""
import json, os, sys
from pyspark.sql import SparkSession, functions as F

spark = SparkSession.builder.appName("spark-upsample-probe").getOrCreate()

@F.udf("string")
def origin(_):
    import os, sys
    import spark_upsample
    return json.dumps({"file": os.path.abspath(spark_upsample.__file__), "pid": os.getpid(),
                       "path": sys.path})

executor = json.loads(spark.range(1).select(origin("id")).first()[0])
import spark_upsample
with open(sys.argv[1], "w") as out:
    driver = {"file": spark_upsample.__file__, "pid": os.getpid()}
    json.dump({"executor": executor, "driver": driver, "master": spark.conf.get("spark.master")},
              out)
spark.stop()
'''


def build_py_files_zip(target: Path) -> Path:
    """The package as spark-submit ships it to executors: ``spark_upsample/`` at the zip's root."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(ROOT))
    return target


class Standalone(NamedTuple):
    url: str  # spark://127.0.0.1:PORT
    work: Path  # the workers' work dirs: WORKER/app-*/EXECUTOR/ per application
    logs: Path


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[Standalone]:
    """A standalone master and two workers (1 core, 1 GB each) on 127.0.0.1, stopped at the end."""
    home, folder = Path(spark_home()), tmp_path_factory.mktemp("standalone")
    logs, work = folder / "logs", folder / "work"
    logs.mkdir()
    work.mkdir()
    env = dict(
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
        SPARK_WORKER_DIR=str(work),
        SPARK_LOG_DIR=str(logs),
        SPARK_NO_DAEMONIZE="1",
    )
    processes = []

    def start(name: str, args: list) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:
            # spark-class execs the JVM: this pid is the master's (the worker's) own.
            process = subprocess.Popen(
                [home / "bin" / "spark-class", *map(str, args)],
                cwd=folder,
                env=spark_env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        processes.append(process)
        return process

    try:
        master = start(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                free_port(),
                "--webui-port",
                free_port(),
            ],
        )
        url = wait_for_log(
            master, logs / "master.log", r"Starting Spark master at (spark://127\.0\.0\.1:\d+)", 120
        ).group(1)
        workers = [
            start(
                f"worker-{n}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    free_port(),
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--work-dir",
                    work / f"worker-{n}",
                    url,
                ],
            )
            for n in (0, 1)
        ]
        for n, worker in enumerate(workers):
            wait_for_log(
                worker, logs / f"worker-{n}.log", r"Successfully registered with master", 120
            )
        yield Standalone(url, work, logs)
    finally:
        for process in reversed(processes):
            stop_process(process)
    assert all(p.returncode is not None for p in processes)


# Each application takes one core of the workers' two (and little memory), the UI stays off,
# its executors run with the options of the tests' other JVMs.
TEST_RESOURCES = [
    "--conf",
    "spark.ui.enabled=false",
    "--conf",
    "spark.sql.shuffle.partitions=4",
    "--conf",
    "spark.cores.max=1",
    "--executor-memory",
    "512m",
    "--conf",
    f"spark.executor.extraJavaOptions={TEST_JVM_OPTIONS}",
]


@pytest.mark.slow
def test_spark_submit_to_a_standalone_cluster_ships_the_package_as_a_zip(
    spark, standalone, tmp_path
):
    url, work, logs = standalone
    clock = time.monotonic()

    def lap(what: str) -> None:
        print(f"standalone: {what} at {time.monotonic() - clock:.1f}s")

    archive = build_py_files_zip(tmp_path / "spark_upsample.zip")
    submit = [
        Path(spark_home()) / "bin" / "spark-submit",
        "--master",
        url,
        "--deploy-mode",
        "client",
        "--properties-file",
        "conf/spark-defaults.conf",
        *TEST_RESOURCES,
        "--py-files",
        archive,
    ]

    # The probe (another application, on the other worker's core) runs alongside the job.
    probe, found = tmp_path / "probe.py", tmp_path / "probe.json"
    probe.write_text(PROBE)
    with open(logs / "probe.log", "wb") as log:
        prober = subprocess.Popen(
            [str(a) for a in [*submit, probe, found]],
            cwd=ROOT,
            env=spark_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        out = tmp_path / "balanced"
        result = run(
            [
                *submit,
                "jobs/upsample.py",
                "--config",
                "conf/demo.toml",
                "--output",
                out,
                "--write-mode",
                "error",
            ]
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        lap("job done")
        assert check_demo_output(spark, out)["spark"]["master"] == url
        # Its tasks ran in an executor JVM the worker launched for the application.
        assert len(list(work.glob("*/app-*/*/stderr"))) >= 1, sorted(work.rglob("*"))

        assert prober.wait(timeout=300) == 0, (logs / "probe.log").read_text()[-4000:]
        lap("probe done")
    finally:
        stop_process(prober)
    origin = json.loads(found.read_text())
    print(f"standalone: executors imported {origin['executor']['file']}")
    # Executors import the package from their copy of the zip spark-submit shipped, in the
    # executor's directory under the worker's work dir: not from the source tree that this
    # venv's editable install points to (the executors' Python is this venv's), nor our zip.
    executor_file = Path(origin["executor"]["file"])
    assert executor_file.parts[-3:] == ("spark_upsample.zip", "spark_upsample", "__init__.py")
    assert executor_file.parents[2] in work.glob("*/app-*/*"), (executor_file, work)
    assert origin["executor"]["pid"] != origin["driver"]["pid"]
    assert origin["master"] == url


def documented_recipe() -> tuple[list[str], list[str], dict[str, list[str]]]:
    """The spark-submit recipe of docs/runtimes.md (section "Running in production"): the
    command that builds the zip, the spark-submit command, and the flags the comments give each
    other cluster manager ("# standalone: --master spark://HOST:7077 ...")."""
    page = (ROOT / "docs" / "runtimes.md").read_text()
    section = page[page.index("**spark-submit (YARN, Kubernetes, standalone).**") :]
    block = section[section.index("```bash\n") + 8 :]
    block = block[: block.index("\n```")]
    commands = [
        shlex.split(c)
        for c in block.replace("\\\n", " ").splitlines()
        if c.strip() and not c.lstrip().startswith("#")
    ]
    flags: dict[str, list[str]] = {}
    manager = ""
    for line in block.splitlines():
        comment = re.match(r"#\s*(?:(\w+):)?\s*(.*)", line.strip())
        if comment:
            manager = comment.group(1) or manager
            words = shlex.split(comment.group(2).split(" (")[0])
            flags[manager] = flags.get(manager, []) + words
    [build, submit] = commands
    return build, submit, flags


def without_options(words: list[str], *options: str) -> list[str]:
    """``words`` without each of ``options`` and the value after it."""
    kept, skip = [], False
    for word in words:
        if skip or word in options:
            skip = not skip
            continue
        kept.append(word)
    return kept


@pytest.mark.slow
def test_the_documented_spark_submit_recipe_runs_on_a_standalone_cluster(
    spark, standalone, tmp_path
):
    """The recipe as docs/runtimes.md writes it, in its standalone form: the zip built by its
    command, ``--files conf/upsample.toml`` read back as ``--config upsample.toml`` (client mode
    puts the file in the driver's SparkFiles directory), local paths for the hdfs:// ones."""
    build, submit, flags = documented_recipe()
    assert flags["standalone"][:2] == ["--master", "spark://HOST:7077"]
    assert "cluster" not in flags["standalone"]  # Spark cannot run Python there in cluster mode
    project = tmp_path / "project"  # a checkout: the recipe's relative paths, nothing else
    shutil.copytree(
        PACKAGE, project / "spark_upsample", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(ROOT / "conf", project / "conf")
    (project / "jobs").mkdir()
    shutil.copy(ROOT / "jobs" / "upsample.py", project / "jobs")
    events = tmp_path / "events"
    spark.createDataFrame(
        [(i, "a" if i < 40 else "b") for i in range(48)], "id long, label string"
    ).coalesce(2).write.parquet(str(events))

    assert build[0] == "python"
    result = run([sys.executable, *build[1:]], cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "dist" / "spark_upsample.zip").is_file()

    assert submit[0] == "spark-submit"
    master = [w.replace("spark://HOST:7077", standalone.url) for w in flags["standalone"]]
    paths = {
        "hdfs:///data/events": f"file://{events}",
        "hdfs:///data/events_balanced": f"file://{tmp_path / 'balanced'}",
    }
    command = [
        Path(spark_home()) / "bin" / "spark-submit",
        *master,
        *TEST_RESOURCES,
        *[paths.get(w, w) for w in without_options(submit[1:], "--master", "--deploy-mode")],
    ]
    assert "--files" in command and "upsample.toml" in command  # as the recipe has them
    result = run(command, cwd=project)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert label_counts(spark.read.parquet(str(tmp_path / "balanced"))) == {"a": 40, "b": 40}
    report = json.loads((tmp_path / "balanced" / REPORT_NAME).read_text())
    assert report["seed"] == 42 and report["spark"]["master"] == standalone.url


def executor_pids(worker_work: Path) -> list[int]:
    """The executor JVMs (CoarseGrainedExecutorBackend) a worker launched: their working
    directory is an application's folder in the worker's work dir."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
            cwd = (proc / "cwd").resolve()
        except OSError:  # gone meanwhile, or not a process
            continue
        if b"CoarseGrainedExecutorBackend" in command and worker_work.resolve() in cwd.parents:
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_a_job_that_loses_an_executor_while_writing_writes_what_an_undisturbed_run_writes(
    spark, standalone, tmp_path
):
    """kill -9 of one worker's executor JVM in the middle of the write: Spark reruns the lost
    tasks elsewhere and the output is row for row an undisturbed run's; or, if the job fails,
    it exits 4 and the previous output is as it was."""
    source = write_events(spark, tmp_path / "events")
    args = ["--input", source, "--seed", "5", "--strategy", "all"]
    undisturbed, out = tmp_path / "undisturbed", tmp_path / "out"
    assert main([*args, "--output", str(undisturbed)]) == 0  # any layout gives the same rows
    assert main(["--input", source, "--output", str(out), "--seed", "1"]) == 0
    before = snapshot(out)

    # One executor of one core on each worker; one row per file keeps the write going.
    command = [
        Path(spark_home()) / "bin" / "spark-submit",
        "--master",
        standalone.url,
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        "spark.cores.max=2",
        "--executor-cores",
        "1",
        "--executor-memory",
        "512m",
        "--conf",
        f"spark.executor.extraJavaOptions={TEST_JVM_OPTIONS}",
        "jobs/upsample.py",
        *args,
        "--output",
        out,
        "--write-mode",
        "overwrite",
        *ONE_ROW_PER_FILE,
    ]
    job = subprocess.Popen(
        [str(c) for c in command],
        cwd=ROOT,
        env=spark_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not (writing(out) and executor_pids(standalone.work / "worker-0")):
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0][-4000:]
            time.sleep(0.05)
        [victim] = executor_pids(standalone.work / "worker-0")
        os.kill(victim, signal.SIGKILL)
        clock = time.monotonic()
        output = job.communicate(timeout=300)[0]
    finally:
        stop_process(job)
    print(
        f"lost executor: the job exited {job.returncode} {time.monotonic() - clock:.1f}s after "
        f"the kill"
    )
    assert "Lost executor" in output, output[-4000:]
    if job.returncode == 4:  # the run failed instead: then it changed nothing
        assert snapshot(out) == before
        return
    assert job.returncode == 0, output[-4000:]
    assert_df_equality(
        spark.read.parquet(str(out)), spark.read.parquet(str(undisturbed)), ignore_row_order=True
    )
    reports = [json.loads((p / REPORT_NAME).read_text()) for p in (out, undisturbed)]
    assert [(r["rows_written"], r["classes"]) for r in reports] == [
        (reports[1]["rows_written"], reports[1]["classes"])
    ] * 2
    assert reports[0]["rows_written"] == 900


# --- Databricks ------------------------------------------------------------------------------

BUNDLE = ROOT / "conf" / "databricks"


def load_bundle() -> tuple[dict, dict[Path, dict]]:
    yaml = pytest.importorskip("yaml")
    root = yaml.safe_load((BUNDLE / "databricks.yml").read_text())
    resources = {}
    for pattern in root.get("include", []):
        for path in sorted(BUNDLE.glob(pattern)):
            resources[path] = yaml.safe_load(path.read_text())
    return root, resources


def project_name() -> str:
    from spark_upsample.job.config import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(value: str, job: dict, variables: dict) -> str:
    """Substitute ``{{job.parameters.X}}`` (the job parameter's default) and ``${var.X}``."""
    defaults = {p["name"]: p["default"] for p in job.get("parameters", [])}

    def job_param(match: re.Match) -> str:
        assert match.group(1) in defaults, f"no job parameter {match.group(1)!r}"
        return str(defaults[match.group(1)])

    def variable(match: re.Match) -> str:
        assert match.group(1) in variables, f"no bundle variable {match.group(1)!r}"
        return str(variables[match.group(1)])

    value = re.sub(r"\{\{\s*job\.parameters\.([\w-]+)\s*\}\}", job_param, str(value))
    return re.sub(r"\$\{var\.([\w-]+)\}", variable, value)


def test_databricks_bundle_runs_the_wheel_entry_point_with_options_the_cli_accepts(tmp_path):
    root, resources = load_bundle()
    settings = tmp_path / "upsample.toml"  # as on a volume: /Volumes/main/default/conf/...
    settings.write_text(
        'input = "/Volumes/other"\ngroup_by = ["country"]\nkey_cols = ["id"]\n'
        'strategy = "not minority"\nlineage_col = "origin"\nmax_ratio = 50\n'
    )
    assert root["bundle"]["name"] == "spark-upsample"
    assert [p.name for p in resources] == ["upsample_job_cluster.yml", "upsample_serverless.yml"]
    artifact = root["artifacts"]["spark_upsample_wheel"]
    assert artifact["type"] == "whl" and (BUNDLE / artifact["path"]).resolve() == ROOT
    assert "pip wheel . --no-deps -w dist" in artifact["build"]
    variables = {name: spec["default"] for name, spec in root["variables"].items()}

    distribution = metadata.distribution("spark_upsample")  # how Databricks finds the package
    scripts = {
        ep.name: ep.value for ep in distribution.entry_points if ep.group == "console_scripts"
    }
    options = {o for action in build_parser()._actions for o in action.option_strings}
    kinds = set()
    for path, resource in resources.items():
        for job in resource["resources"]["jobs"].values():
            for task in job["tasks"]:
                wheel_task = task["python_wheel_task"]
                assert normalized(wheel_task["package_name"]) == normalized(project_name())
                entry_point = scripts[wheel_task["entry_point"]]
                assert entry_point == "spark_upsample.job.command:entry_point"
                params = [resolve(p, job, variables) for p in wheel_task["parameters"]]
                given = [p for p in wheel_task["parameters"] if str(p).startswith("--")]
                assert set(given) <= options, set(given) - options
                # Every job parameter reaches the command line, and the line is a valid config.
                used = " ".join(map(str, wheel_task["parameters"]))
                assert all(f"job.parameters.{p['name']}}}" in used for p in job["parameters"])
                config = config_from_args(params)
                assert (config.input, config.output) == (variables["input"], variables["output"])
                assert config.seed == int(variables["seed"])
                assert config.write_mode == "overwrite"  # reruns of a scheduled run are idempotent
                # The config parameter names a TOML file for every other key: the file applies
                # where a parameter is left empty, and a parameter that is set overrides it.
                names = [p["name"] for p in job["parameters"]]
                assert {"config", "method", "group_by", "key_cols", "strategy"} <= set(names)
                with_file = {**{p["name"]: p["default"] for p in job["parameters"]}}
                with_file.update(config=str(settings), seed="7")
                run_params = [
                    resolve(
                        p,
                        {"parameters": [{"name": k, "default": v} for k, v in with_file.items()]},
                        variables,
                    )
                    for p in wheel_task["parameters"]
                ]
                filed = config_from_args(run_params)
                assert (filed.group_by, filed.key_cols, filed.strategy) == (
                    ("country",),
                    ("id",),
                    "not minority",
                )
                assert (filed.lineage_col, filed.max_ratio, filed.seed) == ("origin", 50.0, 7)
                assert filed.input == variables["input"]  # set parameters override the file

                if "environment_key" in task:  # serverless: the wheel is in the environment
                    kinds.add("serverless")
                    envs = {e["environment_key"]: e["spec"] for e in job["environments"]}
                    wheels = envs[task["environment_key"]]["dependencies"]
                    # 2 and later carry Databricks Connect 15.4 and later: Spark 3.5 or 4.
                    assert int(envs[task["environment_key"]]["environment_version"]) >= 2
                else:  # a job cluster: the wheel is a library of the task
                    kinds.add("job cluster")
                    clusters = {c["job_cluster_key"]: c for c in job["job_clusters"]}
                    cluster = clusters[task["job_cluster_key"]]["new_cluster"]
                    runtime = resolve(cluster["spark_version"], job, variables)
                    assert int(runtime.split(".")[0]) >= 15  # 15.4 LTS and later: Spark 3.5 or 4
                    wheels = [lib["whl"] for lib in task["libraries"]]
                # The wheel the artifact builds, relative to the resource file, without extras:
                # the platform's PySpark is the one the job runs on.
                assert not [w for w in wheels if "[" in w], wheels
                assert [(path.parent / w).resolve() for w in wheels] == [ROOT / "dist" / "*.whl"]
    assert kinds == {"serverless", "job cluster"}


@pytest.mark.slow
def test_wheel_builds_and_its_console_script_runs_from_a_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    result = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "-w",
            dist,
            "--disable-pip-version-check",
            "--quiet",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = dist.glob("spark_upsample-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line
            for line in archive.read(info).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "spark_upsample/job/cli.py" in names
    assert "spark_upsample/data/iris_imbalanced.csv" in names
    assert not [n for n in names if n.startswith(("tests/", "conf/", "jobs/"))]
    assert "spark-upsample = spark_upsample.job.command:entry_point" in entry_points
    assert any(r.startswith("Requires-Dist: pyspark") for r in requires), requires

    # A fresh venv gets the wheel. Its dependencies (pyspark is ~400 MB) come from this venv
    # through a .pth line appended after the fresh venv's own site-packages, so the package
    # itself can only come from the wheel: the editable install of this checkout is a .pth file
    # there that is not processed.
    venv = tmp_path / "fresh"
    result = run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    site = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    ours = next(
        p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "pyspark").is_dir()
    )
    (site / "zz_project_dependencies.pth").write_text(f"{ours}\n")
    result = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            wheel,
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]

    result = run([venv / "bin" / "spark-upsample", "--help"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--write-mode" in result.stdout and "--remote" in result.stdout
    where = run(
        [python, "-c", "import spark_upsample, pyspark; print(spark_upsample.__file__)"],
        cwd=tmp_path,
    )
    assert where.stdout.strip() == str(site / "spark_upsample" / "__init__.py"), where
    # pip sees the wheel's declared dependencies satisfied.
    check = run([sys.executable, "-m", "pip", "--python", python, "check"], cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
