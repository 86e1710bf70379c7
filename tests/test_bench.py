"""The benchmark script runs end to end (a smoke run: its figures are not checked, only that it produces them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (shutil.which("wrk") and shutil.which("nginx")) and not os.environ.get("CI"),
                    reason="wrk and nginx are not installed (apt-get install wrk nginx)")
def test_the_benchmark_runs_and_prints_its_table():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| measure |") and len(rows) == 9
    assert "lesson page, visitor" in rows[1] and rows[1].endswith(" % |")
    assert "nginx serves the same bytes" in result.stdout
    # Reports per second on both databases: every report a teacher sent is a case, none met an error.
    sqlite, postgresql = rows[-2:]
    assert "SQLite, synchronous=FULL" in sqlite and ", 0 errors, 0 \"database is locked\"" in sqlite
    assert "PostgreSQL" in postgresql
    if os.environ.get("CI") or "not measured" not in postgresql:
        assert ", 0 errors, 0 \"database is locked\"" in postgresql
