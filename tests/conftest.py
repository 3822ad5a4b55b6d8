import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pav_bin():
    "The `pav` console script of the environment running the tests."
    exe = Path(sys.executable).parent / "pav"
    assert exe.exists(), f"pav is not installed in {sys.prefix}; run `make venv`"
    return str(exe)


@pytest.fixture
def offline_env(tmp_path):
    "Environment for subprocesses: offline, with the shared asset cache unless a test overrides it."
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("PAV_CACHE", str(Path.home() / ".cache" / "prompt_a_video"))
    return env
