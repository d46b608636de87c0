"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per resource."""

import os

from hypothesis import settings as hypothesis_settings

# Nothing in the test run may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Hypothesis: no per-example deadline (a timed assertion would depend on the machine's speed),
# no example database in the working tree (shared by concurrent runs, kept across them), and
# the same examples on every run, so a failure found once is found again.
hypothesis_settings.register_profile("project", deadline=None, database=None, derandomize=True)
hypothesis_settings.load_profile("project")

pytest_plugins = [
    "tests.fixtures.hermetic",
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_proxy",
    "tests.fixtures.emulator",
    "tests.fixtures.studio",
    "tests.fixtures.models",
    "tests.fixtures.bot",
    "tests.fixtures.render",
]
