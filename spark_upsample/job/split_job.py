"""The job's split (``split = { train = 0.8, test = 0.2 }``): what it writes, and how it reports.

One run splits the input exactly (:func:`spark_upsample.split_with_plan`), resamples the part
``resample_part`` (default ``train``) with the configured method, and writes every part to its
own folder of the output, ``<output>/<part>``, the other parts untouched. All of them are
written into the one staging folder of the run, so they land together or not at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from pyspark.sql import DataFrame

from spark_upsample.engine.pipeline import Resampled
from spark_upsample.errors import ConfigError
from spark_upsample.job.config import JobConfig
from spark_upsample.job.methods import resample_for_config
from spark_upsample.job.report import MAX_REPORT_CELLS
from spark_upsample.transforms.splitting import Split, split_with_plan

DEFAULT_PART = "train"


class Output(NamedTuple):
    """One frame the job writes: to ``folder`` of the output (None: the output itself), with
    ``counts`` rows per cell key expected in what is written."""

    folder: str | None
    df: DataFrame
    counts: dict[Any, int]


def resample_part(config: JobConfig) -> str:
    """The name of the part that is resampled."""
    return config.resample_part or DEFAULT_PART


def check_landing(config: JobConfig, dynamic_partitions: int) -> None:
    """Raise :class:`ConfigError` for a split written with dynamic partition overwrite (the
    parts' partition folders are one level down, where it does not look)."""
    if config.split and dynamic_partitions:
        raise ConfigError(
            "split does not combine with dynamic partition overwrite; write the "
            "parts with write_mode overwrite (static) or to a new output."
        )


def split_and_resample(df: DataFrame, config: JobConfig) -> tuple[Split, Resampled]:
    """Split ``df`` as ``config.split`` says, then resample the part :func:`resample_part` with
    the split's seed (so that the seed in the report replays the whole run)."""
    divided = split_with_plan(
        df,
        config.label_col,
        dict(config.split or {}),
        seed=config.seed,
        group_by=config.group_by,
        key_cols=config.key_cols,
    )
    part = divided.parts[resample_part(config)]
    return divided, resample_for_config(part, dataclasses.replace(config, seed=divided.plan.seed))


def outputs(config: JobConfig, result: Resampled, divided: Split | None) -> list[Output]:
    """What the job writes: the resampled frame, and with a split every other part."""
    if divided is None:
        return [Output(None, result.df, result.plan.counts_after)]
    part = resample_part(config)
    return [Output(part, result.df, result.plan.counts_after)] + [
        Output(name, frame, divided.plan.part_counts(name))
        for name, frame in divided.parts.items()
        if name != part
    ]


def report_section(config: JobConfig, result: Resampled, divided: Split) -> dict[str, Any]:
    """The report's ``split``: the fractions, the part resampled, rows per part (read and
    written) and the first :data:`~spark_upsample.job.report.MAX_REPORT_CELLS` cells' sizes."""
    part = resample_part(config)
    plan = divided.plan.to_dict(max_cells=MAX_REPORT_CELLS)
    written = {
        name: result.plan.rows_after if name == part else rows
        for name, rows in divided.plan.part_rows.items()
    }
    return {
        "fractions": plan["fractions"],
        "resample_part": part,
        "parts": {
            name: {
                "path": f"{config.output.rstrip('/')}/{name}" if config.output else None,
                "rows": rows,
                "rows_written": written[name],
            }
            for name, rows in divided.plan.part_rows.items()
        },
        "cells": plan["cells"],
    }


def summary_lines(config: JobConfig, result: Resampled, divided: Split) -> str:
    """One line per part for the summary: its rows, and what resampling made of its part."""
    part = resample_part(config)
    return "\n".join(
        f"part {name}: {rows:,} rows"
        + (f", {config.method}d to {result.plan.rows_after:,}" if name == part else "")
        for name, rows in divided.plan.part_rows.items()
    )
