"""`pav evolve` end to end: offline operators, fault injection, kill -9 and resume, bad input."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prompt_a_video.assets import ASSETS, smollm2_dir
from prompt_a_video.evolution import rewrite_server
from prompt_a_video.llm import serve_pattern

PROMPTS = ["a corgi running on a beach", "a red kite over a green hill"]


@pytest.fixture
def env(offline_env, tmp_path):
    "A fresh video/score cache per test, reusing the prepared read-only assets."
    e = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    src = Path(offline_env["PAV_CACHE"]) / "assets"
    if src.is_dir():
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "assets").symlink_to(src)
    return e


def evolve(pav_bin, run_dir, prompts_file, operator, env, *extra, timeout=900):
    return subprocess.run([pav_bin, "evolve", "--prompts", str(prompts_file), "--out", str(run_dir), "--operator", operator,
                           "--target", "tiny", "--suite", "offline", *extra], capture_output=True, text=True, env=env,
                          timeout=timeout)


def prompts_file(tmp_path, prompts=PROMPTS):
    f = tmp_path / "prompts.txt"
    f.write_text("\n".join(prompts) + "\n")
    return f


def rows(run_dir):
    db = sqlite3.connect(Path(run_dir) / "run.sqlite")
    out = db.execute("SELECT s.prompt, c.iteration, c.idx, c.text, c.seed, c.scores FROM candidates c "
                     "JOIN sources s ON s.id = c.source_id ORDER BY s.prompt, c.iteration, c.idx").fetchall()
    db.close()
    return out


def renders(env):
    f = Path(env["PAV_CACHE"]) / "videos" / "renders.log"
    return f.read_text().split() if f.exists() else []


def test_offline_run_with_local_smollm2(pav_bin, env, tmp_path):
    run = tmp_path / "run"
    r = evolve(pav_bin, run, prompts_file(tmp_path, PROMPTS[:1]), "local", env, "--preset", "small_operator",
               "--iterations", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["llm_calls"] >= 2 and s["completion_tokens"] > 0 and s["cost_usd"] == 0
    assert s["candidates"] >= 2                       # the original plus at least one SmolLM2 rewrite, rendered and scored
    hist = json.loads((run / "history.json").read_text())
    assert hist[0][0][0]["prompt"] == PROMPTS[0] and len(hist[0]) == 2
    assert all(c["prompt"].startswith(PROMPTS[0] + ",") for c in hist[0][1])      # prefilled rewrites
    assert (run / "best_per_iteration.png").stat().st_size > 1000


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_offline_run_through_transformers_serve(pav_bin, env, tmp_path):
    port = _free_port()
    hub = tmp_path / "hub"; hub.mkdir()
    senv = dict(env, HF_HUB_CACHE=str(hub))
    serve = Path(sys.executable).parent / "transformers"
    srv = subprocess.Popen([str(serve), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=senv, start_new_session=True)
    try:
        import urllib.request
        for _ in range(120):
            try: urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2); break
            except Exception: time.sleep(1)
        else: pytest.fail("transformers serve did not start: " + srv.stderr.read1().decode()[-2000:])
        run = tmp_path / "run"
        op = f"http://127.0.0.1:{port}/v1#{smollm2_dir()}"
        r = evolve(pav_bin, run, prompts_file(tmp_path, PROMPTS[:1]), op, env, "--preset", "tiny", "--iterations", "1",
                   "--candidates", "2", "--timeout", "300")
        assert r.returncode == 0, r.stderr[-3000:]
        s = json.loads((run / "summary.json").read_text())
        assert s["llm_calls"] >= 1 and s["prompt_tokens"] > 100 and s["completion_tokens"] > 0   # real usage from the server
        assert s["llm_failed_calls"] == 0
        assert s["candidates"] >= 1 and s["sources"]
    finally:
        os.killpg(srv.pid, signal.SIGKILL); srv.wait()


def test_fault_injection(pav_bin, env, tmp_path):
    good = rewrite_server()
    import urllib.request

    def relay(req):   # a correct answer, from the deterministic rewrite server
        data = json.dumps(req).encode()
        with urllib.request.urlopen(urllib.request.Request(good.url + "/chat/completions", data,
                                                           {"content-type": "application/json"})) as f:
            return json.loads(f.read())["choices"][0]["message"]["content"]
    two_tags = lambda req: "<PROMPT>" + relay(req).split("<PROMPT>")[1].split("</PROMPT>")[0] + "</PROMPT>"
    pattern = [429, 500, "timeout", "empty", "Sorry, I can only describe it in words.", two_tags] + [relay] * 40
    srv = serve_pattern(pattern, delay=2.5)
    try:
        run = tmp_path / "run"
        r = evolve(pav_bin, run, prompts_file(tmp_path, PROMPTS[:1]), srv.url + "#gpt-4o", env, "--preset", "paper",
                   "--iterations", "2", "--timeout", "1", "--max-asks", "6")
        assert r.returncode == 0, r.stderr[-3000:]
        s = json.loads((run / "summary.json").read_text())
        f = s["faults"]
        for kind in ["transport_http_429", "transport_http_500", "transport_no_response", "reply_no_tags", "reply_too_few"]:
            assert f.get(kind, 0) >= 1, (kind, f)
        assert f.get("bad_response", 0) + f.get("empty", 0) >= 1, f               # the empty body
        assert s["sources"] == {"active": 1} and s["candidates"] == 1 + 2 * 3        # nothing lost: every round full
        assert s["cost_usd"] > 0 and s["llm_failed_calls"] >= 1
        assert "faults:" in r.stdout
    finally:
        srv.shutdown(); good.shutdown()


def _wait_scored(run_dir, n, proc, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        try:
            db = sqlite3.connect(f"file:{run_dir}/run.sqlite?mode=ro", uri=True)
            k = db.execute("SELECT COUNT(*) FROM candidates WHERE scores IS NOT NULL").fetchone()[0]
            db.close()
            if k >= n: return k
        except sqlite3.Error: pass
        time.sleep(0.05)
    return None


def test_kill_and_resume_matches_uninterrupted(pav_bin, env, offline_env, tmp_path):
    srv = rewrite_server()
    try:
        pf = prompts_file(tmp_path)
        args = ("--preset", "tiny", "--iterations", "2", "--candidates", "2")
        ref_env = dict(env, PAV_CACHE=str(tmp_path / "ref-cache"))
        (tmp_path / "ref-cache").mkdir(); (tmp_path / "ref-cache" / "assets").symlink_to(Path(env["PAV_CACHE"]) / "assets")
        ref = evolve(pav_bin, tmp_path / "ref", pf, srv.url + "#gpt-4o", ref_env, *args)
        assert ref.returncode == 0, ref.stderr[-3000:]
        run = tmp_path / "killed"
        kills = 0
        for n in (1, 4, 7):                    # kill -9 after the 1st, 4th and 7th scored candidate
            p = subprocess.Popen([pav_bin, "evolve", "--prompts", str(pf), "--out", str(run), "--operator",
                                  srv.url + "#gpt-4o", "--target", "tiny", "--suite", "offline", *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if _wait_scored(run, n, p) is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL); kills += 1
            p.wait()
        assert kills >= 2
        r = evolve(pav_bin, run, pf, srv.url + "#gpt-4o", env, *args)          # the same command: resume
        assert r.returncode == 0, r.stderr[-3000:]
        assert rows(run) == rows(tmp_path / "ref")                            # same candidates, seeds and scores
        assert len(rows(run)) == 2 * (1 + 2 * 2)
        done = renders(env)
        assert len(done) == len(set(done)) == len(renders(ref_env)) == 10      # no video rendered twice
        hist_a = json.loads((run / "history.json").read_text())
        assert hist_a == json.loads((tmp_path / "ref" / "history.json").read_text())
    finally:
        srv.shutdown()


@pytest.mark.parametrize("args,message", [
    (["--prompts", "MISSING"], "does not exist"),
    (["--prompts", "EMPTY"], "has no prompts"),
    (["--operator", "claude-9"], "unknown operator 'claude-9'"),
    (["--operator", "gpt-4o"], "set the environment variable OPENAI_API_KEY"),
    (["--prompts", "vbench:colour"], "unknown VBench dimension 'colour'"),
    (["--iterations", "0"], "--iterations must be at least 1"),
    (["--target", "sora"], "unknown target 'sora'"),
])
def test_evolve_bad_input(pav_bin, env, tmp_path, args, message):
    pf = prompts_file(tmp_path)
    empty = tmp_path / "empty.txt"; empty.write_text("\n")
    run = tmp_path / "run"
    e = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    base = {"--prompts": str(pf), "--operator": "http://127.0.0.1:9/v1"}
    for i in range(0, len(args), 2): base[args[i]] = args[i + 1]
    base["--prompts"] = {"MISSING": str(tmp_path / "nope.txt"), "EMPTY": str(empty)}.get(base["--prompts"], base["--prompts"])
    cmd = [pav_bin, "evolve", "--out", str(run), "--suite", "offline"] + [x for kv in base.items() for x in kv]
    r = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr[-2000:])
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not run.exists()
