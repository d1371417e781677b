"""Shared fixtures: the real speech data beside the project, and the slow-test switch.

Tests that need `../shared/data` skip with one line saying what is missing and where it comes from when
it is absent (a fresh clone on a user's machine); under CI (CI=true), which has the data, they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FSDD = Path(os.environ.get("AUDIO_RNN_FSDD", ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
SPEECH_COMMANDS = Path(os.environ.get("AUDIO_RNN_SPEECH_COMMANDS", ROOT.parent / "shared" / "data" / "speech_commands"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def need_data(path: Path, what: str, env: str) -> Path:
    """`path` if it exists; else skip (fail under CI) with one line on what is missing and where it comes from."""
    if path.exists():
        return path
    msg = (f"{what} not found at {path}: the tests that need it run where ../shared/data sits beside the "
           f"project (as in CI), or set {env}")
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """The real FSDD recordings (../shared/data/fsdd/recordings, Free Spoken Digit Dataset)."""
    return need_data(FSDD, "FSDD recordings", "AUDIO_RNN_FSDD")


@pytest.fixture(scope="session")
def speech_commands_dir() -> Path:
    """The real Speech Commands clips (../shared/data/speech_commands, 162 speakers)."""
    need_data(SPEECH_COMMANDS / "yes", "Speech Commands clips", "AUDIO_RNN_SPEECH_COMMANDS")
    return SPEECH_COMMANDS
