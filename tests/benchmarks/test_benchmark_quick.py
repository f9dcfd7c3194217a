"""The benchmark harnesses keep working: ``benchmarks/run.py --quick`` (asynq only, small N),
and ``benchmarks/deep_queue.py --quick``.

No timing is asserted here; the numbers come from the benchmark's own command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_and_prints_a_table_with_an_asynq_row(tmp_path: Path) -> None:
    output = tmp_path / "quick"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    lines = result.stdout.splitlines()
    assert any(line.startswith("| system | concurrency |") for line in lines), result.stdout
    rows = [line for line in lines if line.startswith("| **asynq** |")]
    assert len(rows) == 1, result.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert all(c and c != "—" for c in cells[2:7]), rows[0]  # enqueue, enqueue_many, processed, p50, p99
    assert output.with_suffix(".md").read_text().count("| **asynq** |") == 1
    (run,) = [r for r in json.loads(output.with_suffix(".json").read_text())["runs"] if r["system"] == "asynq"]
    # enqueue/s from the producers taking turns; the solo run that loads the queue, kept beside it
    assert run["enqueue_rate"] > 0 and run["enqueue_alone_rate"] > 0 and not run["errors"]
    # Redis's own CPU time per task, enqueue (alone) and processing together
    assert 0 < run["redis_cpu_enqueue_us_per_task"] < run["redis_cpu_us_per_task"]


def test_quick_deep_queue_benchmark_runs_and_reports_memory_per_task(tmp_path: Path) -> None:
    output = tmp_path / "deep"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "deep_queue.py"), "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    assert "bytes per pending task" in result.stdout, result.stdout
    assert output.with_suffix(".md").exists() and output.with_suffix(".json").exists()

