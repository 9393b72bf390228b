"""The single-machine peers, each run in a subprocess of ``jobs/benchmark.py peer ...``.

This module does not import PySpark: the subprocess loads only what its peer needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.config import K_NEIGHBORS, LABEL

ENTRY = Path(__file__).resolve().parent.parent / "benchmark.py"
POLL_SECONDS = 0.05
MIB = 1 << 20
SMOTE_PEER = "imblearn-smote"  # the imblearn method of a SMOTE case


def peer_main(argv: list[str]) -> int:
    """Run one peer, ``METHOD INPUT OUTPUT TARGETS SEED``: read ``INPUT`` with pyarrow, resample
    to ``TARGETS`` (a JSON file of label -> count), write ``OUTPUT/part-0.parquet``. METHOD is
    ``numpy``, ``imblearn`` (``RandomOverSampler``) or ``imblearn-smote`` (``SMOTE`` with
    ``k_neighbors`` = :data:`K_NEIGHBORS` on every column but the label, as float64)."""
    import numpy as np
    import pyarrow.parquet as pq

    method, source, target_dir, targets_file, seed = argv
    targets = {int(c): t for c, t in json.loads(Path(targets_file).read_text()).items()}
    table = pq.read_table(source)
    if method == "numpy":
        labels = table.column(LABEL).to_numpy()
        order = np.argsort(labels, kind="stable")
        classes, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
        rng = np.random.default_rng(int(seed))
        picks = []
        for c, start, size in zip(classes.tolist(), starts, sizes, strict=True):
            members = order[start : start + size]
            picks.append(members if targets[c] == size else rng.choice(members, targets[c]))
        result = table.take(np.concatenate(picks))
    elif method == SMOTE_PEER:
        result = imblearn_smote(table, targets, int(seed))
    else:
        import pyarrow as pa
        from imblearn.over_sampling import RandomOverSampler

        frame = table.to_pandas()
        del table
        sampler = RandomOverSampler(sampling_strategy=targets, random_state=int(seed))
        x, y = sampler.fit_resample(frame.drop(columns=LABEL), frame[LABEL])
        del frame
        x[LABEL] = y.to_numpy()
        result = pa.Table.from_pandas(x, preserve_index=False)
    Path(target_dir).mkdir(parents=True)
    pq.write_table(result, f"{target_dir}/part-0.parquet")
    return 0


def imblearn_smote(table: Any, targets: dict[int, int], seed: int) -> Any:
    """imbalanced-learn's ``SMOTE`` on a pyarrow table: features as one float64 array, the
    resampled rows back as a table with the same columns."""
    import numpy as np
    import pyarrow as pa
    from imblearn.over_sampling import SMOTE

    features = [c for c in table.column_names if c != LABEL]
    x = np.column_stack([table.column(c).to_numpy() for c in features]).astype(np.float64)
    y = table.column(LABEL).to_numpy()
    del table
    sampler = SMOTE(sampling_strategy=targets, k_neighbors=K_NEIGHBORS, random_state=seed)
    x_new, y_new = sampler.fit_resample(x, y)
    del x
    return pa.table({c: x_new[:, i] for i, c in enumerate(features)} | {LABEL: y_new})


def missing_peer_packages() -> list[str]:
    """The ``bench`` extra's packages that are not importable."""
    needed = ("pyarrow", "imblearn", "pandas", "psutil")
    return [m for m in needed if importlib.util.find_spec(m) is None]


def run_peer(
    method: str,
    source: Path,
    out: Path,
    seed: int,
    limit: int,
    targets: Path,
    seconds: float | None = None,
) -> int:
    """Run a peer on ``source`` in a subprocess; returns the peak RSS (bytes) of its process tree.

    Raises RuntimeError when it fails, passes ``limit`` bytes or runs past ``seconds`` (it is
    then killed; the message starts with "killed")."""
    import psutil

    cmd = [sys.executable, str(ENTRY), "peer", method, str(source), str(out), str(targets)]
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen([*cmd, str(seed)], stdout=subprocess.DEVNULL, stderr=stderr)
        peak, killed, late = 0, False, False
        proc = psutil.Process(child.pid)
        deadline = time.monotonic() + seconds if seconds is not None else None
        while child.poll() is None:
            rss = tree_rss(proc)
            peak = max(peak, rss)
            late = deadline is not None and time.monotonic() > deadline
            if (rss > limit or late) and not killed:
                for p in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                killed = True
            time.sleep(POLL_SECONDS)
        stderr.seek(0)
        err = stderr.read()
    if killed and late:
        raise RuntimeError(
            f"killed after {seconds:,.0f} s, the time limit (peak RSS seen {peak / MIB:,.0f} MiB)"
        )
    if killed:
        gib, seen = limit / (1 << 30), peak / MIB
        raise RuntimeError(f"killed at {gib:.0f} GiB of RSS (peak seen {seen:,.0f} MiB)")
    if child.returncode != 0:
        last = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        raise RuntimeError(f"failed: {last}")
    return peak


def tree_rss(proc: Any) -> int:
    """RSS of a psutil process and all its descendants (0 for those gone meanwhile)."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total
