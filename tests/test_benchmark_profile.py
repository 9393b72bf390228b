"""jobs/bench/profile.py: the benchmark's ``--profile`` timeline, on known actions."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from spark_upsample import upsample

JOBS = Path(__file__).resolve().parents[1] / "jobs"
if str(JOBS) not in sys.path:  # the benchmark's ``bench`` package
    sys.path.insert(0, str(JOBS))

from bench.profile import Profiler, call_site_label, render  # noqa: E402 - needs the path above

pytestmark = pytest.mark.classic_only  # the profile reads the JVM's status stores

PAUSE = 0.4


def test_the_profile_lists_every_job_by_its_call_and_the_driver_gaps_between(spark, tmp_path):
    # 18 classes: more than the engine writes into the query as literals, so that it
    # broadcasts a per-cell table, whose job the profile names after the write it serves.
    label = F.when(F.col("id") % 10 == 0, F.col("id") % 17 + 1).otherwise(0)
    df = spark.range(3000).select(label.alias("label"), "id")
    profiler = Profiler(spark)
    mark = profiler.start()
    df.groupBy("label").count().collect()
    counted = sys._getframe().f_lineno - 1
    time.sleep(PAUSE)
    upsample(df, "label", seed=1).write.parquet(str(tmp_path / "out"))
    end = time.time()
    spans = profiler.spans(mark, end)

    jobs = [s for s in spans if s.what != "driver"]
    test = test_the_profile_lists_every_job_by_its_call_and_the_driver_gaps_between.__name__
    own = f"collect in {test} (tests/test_benchmark_profile.py:{counted})"
    collect = [s for s in jobs if s.label == own]
    assert collect and all(s.tasks >= 1 for s in collect)
    labels = {s.label for s in jobs}
    # The write's call site is the JVM's (``parquet at ...``, where PySpark sets none), so its
    # label is what Spark recorded; its broadcast says that it serves that same execution.
    write = jobs[-1].label
    assert f"broadcast for {write}" in labels
    engine = "collect in draw_exact (spark_upsample/engine/sampler.py:"
    assert any(label.startswith(engine) for label in labels)
    ids = [int(s.what.removeprefix("job ")) for s in jobs]
    assert sorted(ids) == list(range(mark[0], mark[0] + len(ids)))  # every job since the mark

    # The spans tile the run: a driver span starts where the jobs before it ended (jobs may
    # overlap one another), the last span ends at the run's end, and the pause is a driver gap.
    reach = 0.0
    for span in spans:
        assert span.seconds >= 0 and span.start >= 0
        if span.what == "driver":
            assert span.start == pytest.approx(reach, abs=1e-6)
        reach = max(reach, span.start + span.seconds)
    assert reach == pytest.approx(end - mark[1], abs=1e-6)
    collected = collect[-1].start + collect[-1].seconds
    pause = next(s for s in spans if s.what == "driver" and s.start >= collected - 1e-6)
    assert pause.seconds >= PAUSE

    table = render(spans)
    assert table[:2] == ["| start s | seconds | what | label | tasks |", "|---:|---:|---|---|---:|"]
    assert table[-2].endswith(f"| {len(jobs)} jobs (overlaps counted twice) | | |")
    driver = sum(s.seconds for s in spans if s.what == "driver")
    assert table[-1] == f"| | {driver:.2f} | driver, no job running | | |"


@pytest.mark.parametrize(
    ("call_site", "label"),
    [
        ("parquet at NativeMethodAccessorImpl.java:0", "parquet"),
        ("$anonfun$run$1 at Executor.scala:12", "$anonfun$run$1"),
        ("parquet at <unknown>:0", "parquet"),
        (f"collect at {Path(__file__).resolve()}:1", "collect (tests/test_benchmark_profile.py:1)"),
        ("collect at /nowhere/x.py:7", "collect (/nowhere/x.py:7)"),
        ("something else", "something else"),
    ],
)
def test_a_call_site_becomes_the_action_and_the_function_that_called_it(call_site, label):
    assert call_site_label(call_site) == label
