"""`pav evolve` end to end: offline operators, fault injection, kill -9 and resume, bad input."""
import json
import signal
import sqlite3
from pathlib import Path

import pytest
from conftest import candidate_rows

from prompt_a_video.assets import smollm2_dir
from prompt_a_video.cli import main
from prompt_a_video.testing import rewrite_server, serve_pattern

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


def evolve(pav, run_dir, prompts_file, operator, env, *extra, timeout=900):
    "`pav evolve` on the tiny target and the offline suite, in a subprocess (the shared `pav` fixture)."
    return pav("evolve", "--prompts", str(prompts_file), "--out", str(run_dir), "--operator", operator,
               "--target", "tiny", "--suite", "offline", *extra, env=env, timeout=timeout)


def prompts_file(tmp_path, prompts=PROMPTS):
    f = tmp_path / "prompts.txt"
    f.write_text("\n".join(prompts) + "\n")
    return f


def rows(run_dir):
    return candidate_rows(run_dir)


def renders(env):
    f = Path(env["PAV_CACHE"]) / "videos" / "renders.log"
    return f.read_text().split() if f.exists() else []


def test_offline_run_with_local_smollm2(pav, env, tmp_path):
    run = tmp_path / "run"
    r = evolve(pav, run, prompts_file(tmp_path, PROMPTS[:1]), "local", env, "--preset", "small_operator",
               "--iterations", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["llm_calls"] >= 2 and s["completion_tokens"] > 0 and s["cost_usd"] == 0
    assert s["candidates"] >= 2                       # the original plus at least one SmolLM2 rewrite, rendered and scored
    hist = json.loads((run / "history.json").read_text())
    assert hist[0][0][0]["prompt"] == PROMPTS[0] and len(hist[0]) == 2
    assert all(c["scores"]["FIDELITY"] > 0.5 for c in hist[0][1])   # measured: MiniLM cosine to the original
    assert (run / "best_per_iteration.png").stat().st_size > 1000


def test_offline_run_through_transformers_serve(pav, env, tmp_path, transformers_serve):
    run = tmp_path / "run"
    r = evolve(pav, run, prompts_file(tmp_path, PROMPTS[:1]), f"{transformers_serve}#{smollm2_dir()}", env, "--preset", "tiny",
               "--iterations", "1", "--candidates", "2", "--max-asks", "1", "--max-tokens", "48", "--timeout", "600")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["llm_calls"] >= 1 and s["prompt_tokens"] > 100 and s["completion_tokens"] > 0   # real usage from the server
    assert s["llm_failed_calls"] == 0
    assert s["candidates"] >= 1 and s["sources"]


def test_fault_injection(pav, env, tmp_path):
    good = rewrite_server()
    import urllib.request

    def relay(req):   # a correct answer, from the deterministic rewrite server
        data = json.dumps(req).encode()
        with urllib.request.urlopen(urllib.request.Request(good.url + "/chat/completions", data,
                                                           {"content-type": "application/json"})) as f:
            return json.loads(f.read())["choices"][0]["message"]["content"]
    two_tags = lambda req: "<PROMPT>" + relay(req).split("<PROMPT>")[1].split("</PROMPT>")[0] + "</PROMPT>"
    pattern = ["OK", 429, 500, "timeout", "empty", "Sorry, I can only describe it in words.", two_tags] + [relay] * 40
    # "OK": the one-token question `pav evolve` asks before the run (OpenAIChat.check) to know the operator is there
    # the 'timeout' reply comes after 60 s, the client gives up after 5 s (--timeout 5): even a client starved for
    # a minute between sending and reading still sees a timeout, and a loopback relay slowed 5 s by a loaded machine
    # is still an answer; nothing waits for the late reply (daemon threads)
    srv = serve_pattern(pattern, delay=60)
    try:
        run = tmp_path / "run"
        r = evolve(pav, run, prompts_file(tmp_path, PROMPTS[:1]), srv.url + "#gpt-4o", env, "--preset", "paper",
                   "--iterations", "2", "--timeout", "5", "--max-asks", "6")
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


# Each named kill point, visited in turn by one run directory: a render cut mid-denoising, a batch of
# two videos cut between its files, videos cached but not scored, scores stored but the next round
# not started, an operator reply received but not stored. Then the same command finishes the run.
KILL_POINTS = ["mid_render:3", "mid_batch:3", "after_render:1", "between_iterations:1", "operator_call:1"]


def test_kill_at_every_point_and_resume_matches_uninterrupted(pav, env, tmp_path):
    srv = rewrite_server()
    try:
        pf = prompts_file(tmp_path)
        args = ("--preset", "tiny", "--iterations", "2", "--candidates", "2", "--batch-size", "2")
        ref_env = dict(env, PAV_CACHE=str(tmp_path / "ref-cache"))
        (tmp_path / "ref-cache").mkdir(); (tmp_path / "ref-cache" / "assets").symlink_to(Path(env["PAV_CACHE"]) / "assets")
        ref = evolve(pav, tmp_path / "ref", pf, srv.url + "#gpt-4o", ref_env, *args)
        assert ref.returncode == 0, ref.stderr[-3000:]
        run = tmp_path / "killed"
        for point in KILL_POINTS:
            r = evolve(pav, run, pf, srv.url + "#gpt-4o", dict(env, PAV_KILL_AT=point), *args)
            assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr[-2000:])   # died at that point
        r = evolve(pav, run, pf, srv.url + "#gpt-4o", env, *args)          # the same command: resume
        assert r.returncode == 0, r.stderr[-3000:]
        assert rows(run) == rows(tmp_path / "ref")                            # same candidates, seeds and scores
        assert len(rows(run)) == 2 * (1 + 2 * 2)
        done = renders(env)
        assert len(done) == len(set(done)) == len(renders(ref_env)) == 10      # no video rendered twice, none lost
        assert json.loads((run / "history.json").read_text()) == json.loads((tmp_path / "ref" / "history.json").read_text())
        assert not list((Path(env["PAV_CACHE"]) / "videos" / ".pending").iterdir())   # nothing left half-settled
    finally:
        srv.shutdown()


def test_cache_hook_and_digit_filter_from_the_command_line(pav, env, tmp_path):
    srv = rewrite_server()
    try:
        pf = prompts_file(tmp_path, ["a corgi running on a beach", "a calendar showing 2024 on a wall"])
        run = tmp_path / "run"
        r = evolve(pav, run, pf, srv.url + "#gpt-4o", env, "--preset", "tiny", "--iterations", "1",
                   "--cache-hook", "pab")
        assert r.returncode == 0, r.stderr[-3000:]
        db = sqlite3.connect(run / "run.sqlite")
        settings = json.loads(db.execute("SELECT value FROM meta WHERE key='settings'").fetchone()[0])
        srcs = [x[0] for x in db.execute("SELECT prompt FROM sources")]
        db.close()
        assert settings["generation"]["cache_hook"] == "pab"
        assert srcs == ["a corgi running on a beach"]                 # 4 digits: dropped, as in the released data
        r = evolve(pav, tmp_path / "keep", pf, srv.url + "#gpt-4o", env, "--preset", "tiny", "--iterations", "1",
                   "--no-skip-digit-prompts")
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads((tmp_path / "keep" / "summary.json").read_text())["sources"] == {"active": 2}
    finally:
        srv.shutdown()


@pytest.mark.parametrize("args,message,status", [
    (["--prompts", "MISSING"], "does not exist", 1),
    (["--prompts", "EMPTY"], "has no prompts", 1),
    (["--operator", "claude-9"], "unknown operator 'claude-9'", 1),
    (["--operator", "gpt-4o"], "set the environment variable OPENAI_API_KEY", 1),
    (["--prompts", "vbench:colour"], "unknown VBench dimension 'colour'", 1),
    (["--iterations", "0"], "iterations must be at least 1", 1),
    (["--parser", "loose"], "invalid choice: 'loose'", 2),
    (["--target", "sora"], "invalid choice: 'sora'", 2),
    (["--setting", "paper", "--num-frames", "12"], "must be 8k+1", 1),
])
def test_evolve_bad_input(env, tmp_path, monkeypatch, capsys, args, message, status):
    "In process: the status, a one-line message naming the problem, and no run folder."
    pf = prompts_file(tmp_path)
    empty = tmp_path / "empty.txt"; empty.write_text("\n")
    run = tmp_path / "run"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("PAV_CACHE", env["PAV_CACHE"])
    base = {"--prompts": str(pf), "--operator": "http://127.0.0.1:9/v1"}
    for i in range(0, len(args), 2): base[args[i]] = args[i + 1]
    base["--prompts"] = {"MISSING": str(tmp_path / "nope.txt"), "EMPTY": str(empty)}.get(base["--prompts"], base["--prompts"])
    argv = ["evolve", "--out", str(run), "--suite", "offline"] + [x for kv in base.items() for x in kv]
    try: code = main(argv)
    except SystemExit as e: code = e.code
    err = capsys.readouterr().err
    assert code == status, err[-2000:]
    assert message in err and "Traceback" not in err
    assert not run.exists()
