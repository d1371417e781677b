"""Shared fixtures: the real FSDD speech beside the project, and the slow-test switch."""

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


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """The real FSDD recordings (../shared/data/fsdd/recordings); CI has them too."""
    if not FSDD.is_dir():
        pytest.fail(f"FSDD recordings not found at {FSDD} (set AUDIO_RNN_FSDD)")
    return FSDD


@pytest.fixture(scope="session")
def speech_commands_dir() -> Path:
    """The real Speech Commands clips (../shared/data/speech_commands, 162 speakers); CI has them too."""
    if not (SPEECH_COMMANDS / "yes").is_dir():
        pytest.fail(f"Speech Commands clips not found at {SPEECH_COMMANDS} (set AUDIO_RNN_SPEECH_COMMANDS)")
    return SPEECH_COMMANDS
