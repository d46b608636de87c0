"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per resource."""

import os

# Nothing in the test run may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = [
    "tests.fixtures.hermetic",
    "tests.fixtures.redis_server",
    "tests.fixtures.emulator",
    "tests.fixtures.studio",
    "tests.fixtures.models",
    "tests.fixtures.bot",
    "tests.fixtures.render",
]
