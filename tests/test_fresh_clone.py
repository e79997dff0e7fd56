"""The README's quick start and dry run, run literally in a fresh clone of this repository
by tests/fresh_clone.py (which says how): what a newcomer types works and prints what the
README says. It clones what is committed, so it tests the last commit."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.processes import ROOT

TIMEOUT_SECONDS = 900


def namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--net", "--pid", "--fork", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


pytestmark = pytest.mark.skipif(
    not os.getenv("CI") and not ((ROOT / ".git").exists() and namespaces_allowed()),
    reason="needs a git checkout and root for unshare (network and PID namespaces)",
)


def test_the_readme_quick_start_and_dry_run_work_in_a_fresh_clone():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fresh_clone.py"), "--timeout", "840"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "quick start and dry run: 5 outputs as the README says" in done.stdout
