"""The code stays ruff-clean."""

import shutil
import subprocess
import sys

from portal.config import PROJECT_ROOT


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(PROJECT_ROOT / ".venv" / "bin" / "ruff")
    result = subprocess.run([ruff, "check", "portal", "tests", "bench", "tools", "docs"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sys.version_info >= (3, 11)
