import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pav_bin():
    "The `pav` console script of the environment running the tests."
    exe = Path(sys.executable).parent / "pav"
    assert exe.exists(), f"pav is not installed in {sys.prefix}; run `make venv`"
    return str(exe)


def offline_environ() -> dict:
    "This process's environment, offline, with the shared asset cache unless PAV_CACHE is set."
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("PAV_CACHE", str(Path.home() / ".cache" / "prompt_a_video"))
    return env


@pytest.fixture
def offline_env(tmp_path):
    "Environment for subprocesses: offline, with the shared asset cache unless a test overrides it."
    return offline_environ()


@pytest.fixture(scope="session")
def pav(pav_bin):
    """Run the `pav` console script in a subprocess, as a user does: `pav(*args, env=None, timeout=900, kill_at=None)`
    returns the `CompletedProcess` (stdout and stderr as text). `env`: the offline environment unless given;
    `kill_at`: a kill point (PAV_KILL_AT) where the process SIGKILLs itself. Error paths are tested in process
    (`prompt_a_video.cli.main`), not here."""
    def run(*args, env=None, timeout=900, kill_at=None):
        env = dict(offline_environ() if env is None else env, **({"PAV_KILL_AT": kill_at} if kill_at else {}))
        return subprocess.run([pav_bin, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return run


def candidate_rows(run_dir, *extra: str) -> list[tuple]:
    "An evolution store's candidates in a stable order: source prompt, round, index, text, seed, scores, then `extra` columns."
    import sqlite3
    cols = ", ".join(["s.prompt", "c.iteration", "c.idx", "c.text", "c.seed", "c.scores"] + [f"c.{x}" for x in extra])
    db = sqlite3.connect(Path(run_dir) / "run.sqlite")
    try: return db.execute(f"SELECT {cols} FROM candidates c JOIN sources s ON s.id = c.source_id "
                           "ORDER BY s.prompt, c.iteration, c.idx").fetchall()
    finally: db.close()


def free_port() -> int:
    "A loopback port nothing listens on now (bound, then closed)."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@contextlib.contextmanager
def serve_transformers(env: dict, hub: Path):
    """A real `transformers serve` on loopback (CPU) with its own empty hub cache `hub`: yields its base URL (`.../v1`),
    waits until `/v1/models` answers (a deadline, not a count of tries: a busy machine only waits longer), and kills
    the server's process group on exit."""
    port = free_port()
    srv = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1", "--port",
                            str(port), "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=dict(env, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_CACHE=str(hub)),
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while True:
            try: urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30); break
            except Exception:
                if srv.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("transformers serve did not start: " + srv.stderr.read1().decode()[-2000:])
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(srv.pid, signal.SIGKILL); srv.wait()


@pytest.fixture(scope="session")
def transformers_serve(tmp_path_factory):
    "One real `transformers serve` on loopback (CPU) for a test worker's whole session: its base URL (`.../v1`)."
    with serve_transformers(offline_environ(), tmp_path_factory.mktemp("serve-hub")) as url: yield url
