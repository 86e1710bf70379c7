"""The benchmark script runs end to end (a smoke run: its figures are not checked, only that it produces them)."""

from __future__ import annotations

import os
import re
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
    assert rows[0].startswith("| measure |") and len(rows) == 11
    assert "lesson page, visitor" in rows[1] and rows[1].endswith(" % |")
    assert "stylesheet, fingerprinted" in rows[2] and rows[2].endswith(" % |")
    paced = [row for row in rows if "users reading" in row]
    assert len(paced) == 3 and all(re.search(r" ms \([\d.]+–[\d.]+, 2 runs\) \|", row) for row in paced)
    assert "nginx serves the same bytes" in result.stdout
    assert re.search(r"largest \d+ MB", result.stdout)
    assert re.search(r"median of 2\): .* on a lesson page after [\d.]+ s \([\d.]+–[\d.]+\)", result.stdout)
    # Reports per second on both databases: every report a teacher sent is a case, none met an error.
    sqlite, postgresql = rows[-2:]
    assert "SQLite, synchronous=FULL" in sqlite and ", 0 errors, 0 \"database is locked\" in every run" in sqlite
    assert re.search(r"\| [\d,]+ \([\d,]+–[\d,]+, 2 runs\) \|", sqlite)  # the median run, with the range
    assert "PostgreSQL" in postgresql
    if os.environ.get("CI") or "not measured" not in postgresql:
        assert ", 0 errors, 0 \"database is locked\"" in postgresql


@pytest.mark.skipif(not (shutil.which("wrk") and shutil.which("nginx")) and not os.environ.get("CI"),
                    reason="wrk and nginx are not installed (apt-get install wrk nginx)")
def test_the_benchmark_measures_only_the_pages_asked_for():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only", "case file"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 2 and rows[1].startswith("| case file, 32 users reading |")
    assert "reports filed" not in result.stdout and "restart" not in result.stdout


def test_the_scale_benchmark_seeds_both_databases_and_prints_its_table(tmp_path):
    """bench/scale.py on a few hundred cases: SQLite and, where PostgreSQL answers, a database of its own (the
    script drops its schema, so never the test suite's)."""
    from conftest import PG_URL, _postgres_ready

    from portal.testing import drop_database, fresh_database

    args = [sys.executable, str(ROOT / "bench" / "scale.py"), "--smoke"]
    database = fresh_database(PG_URL, "scale_smoke") if _postgres_ready() else None
    args += ["--postgres", database] if database else ["--no-postgres"]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        if database:
            drop_database(database)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| measure | SQLite median |")
    measures = {row.split(" | ")[0].lstrip("| ") for row in rows[1:]}
    assert {"inbox, first page of open cases", "inbox, next page (keyset)", "school admin's dashboard",
            "district dashboard", "`portal tick --force` (new process)"} <= measures
    if "--postgres" in args:
        assert all(" – |" not in row for row in rows[1:])  # a PostgreSQL figure on every row
