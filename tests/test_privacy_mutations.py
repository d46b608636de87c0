"""The mutation check in the test suite: one violation of each kind makes a privacy test fail.

`scripts/mutate_privacy.py` (run it alone for all ten mutations, and a clean run) patches the
shipped code at runtime in a child pytest; here three representative mutations run: a native
write of the headshot to the temp dir, an embedding in Redis that expires within a second, and
a key named by sha256 of the user id that /delete leaves behind.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.render_support import ROOT

REPRESENTATIVE = ["imwrite-headshot-tmp", "embedding-f16-expiring", "sha256-user-id-key"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_violation_of_each_kind_is_caught() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mutate_privacy.py"), *REPRESENTATIVE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    for name in REPRESENTATIVE:
        assert any(line.split()[:2] == [name, "caught"] for line in done.stdout.splitlines())
