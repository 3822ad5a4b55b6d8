"""No silent failures: sampling settings checked in every command that takes them; an operator that cannot answer at
all stops `pav evolve` / `pav eval` with one line before anything renders; a rerun retries the source prompts that
stalled on operator faults; library chatter goes to the run folder's pav.log, `-v` brings it back. Real servers only:
`transformers serve`, loopback servers from `prompt_a_video.testing`, and an address where nothing listens."""
import json
import os
from pathlib import Path

import pytest

from prompt_a_video.assets import smollm2_dir
from prompt_a_video.cli import main
from prompt_a_video.testing import sandbox_operator_server, serve_pattern

from conftest import free_port


@pytest.fixture
def cache(offline_env, tmp_path, monkeypatch):
    "A fresh video/score cache for in-process runs, reusing the prepared read-only assets."
    root = tmp_path / "cache"; root.mkdir()
    src = Path(offline_env["PAV_CACHE"]) / "assets"
    if src.is_dir(): (root / "assets").symlink_to(src)
    monkeypatch.setenv("PAV_CACHE", str(root))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return root


def pav(capsys, *argv):
    "`pav ARGV` in process: (status, stdout, stderr)."
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def evolve_args(run, operator, *extra):
    return ["evolve", "a corgi running on a beach", "--out", run, "--operator", operator, "--target", "tiny", "--suite",
            "offline", "--preset", "tiny", "--iterations", "1", "--candidates", "2", *extra]


@pytest.mark.parametrize("argv,message", [
    (["refine", "--temperature", "-1", "hello"], "temperature must be at least 0 (0: greedy decoding), got -1.0 (option --temperature)"),
    (["refine", "--max-new-tokens", "0", "hello"], "max_new_tokens must be at least 1, got 0 (option --max-new-tokens)"),
    (["evolve", "hello", "--temperature", "-0.5"], "EvolutionConfig.temperature must be at least 0"),
    (["evolve", "hello", "--max-tokens", "0"], "EvolutionConfig.max_tokens must be at least 1"),
    (["build-dpo", "hello", "--booster", "B", "--temperature", "-1"], "DPODataConfig.temperature must be at least 0"),
    (["build-dpo", "hello", "--booster", "B", "--max-new-tokens", "0"], "DPODataConfig.max_new_tokens must be at least 1"),
    (["grpo", "hello", "--booster", "B", "--temperature", "-1"], "GRPORecipe.temperature must be at least 0"),
    (["grpo", "hello", "--booster", "B", "--max-completion-length", "0"], "GRPORecipe.max_completion_length must be at least 1"),
    (["sft", "--preset", "tiny", "--decoding", '{"top_p": 1.5}'], "SFTRecipe.decoding.top_p must be in (0, 1]"),
    (["sft", "--preset", "tiny", "--decoding", '{"top_k": -1}'], "SFTRecipe.decoding.top_k must be at least 0"),
])
def test_sampling_settings_are_checked_in_every_command(cache, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    code, _, err = pav(capsys, *argv, *([] if argv[0] == "refine" else ["--out", out]))
    assert code == 1, err[-2000:]
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not out.exists()


def _stops_before_rendering(cache, out, code, err, says):
    assert code == 1, err[-2000:]
    assert err.count("\n") == 1 and says in err and "Traceback" not in err, err    # one line
    assert not out.exists()                                                          # no run folder, no log
    assert not (cache / "videos").exists()                                           # nothing rendered


def test_evolve_stops_when_nothing_listens(cache, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"                 # bound, then closed: nothing listens there
    run = tmp_path / "run"
    code, _, err = pav(capsys, *evolve_args(run, url + "#m"))
    _stops_before_rendering(cache, run, code, err, f"pav evolve: error: operator {url} (model 'm') cannot be reached: "
                                                    "connection refused (nothing listens there); start the server")


def test_evolve_stops_on_an_unknown_host(cache, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = pav(capsys, *evolve_args(run, "http://pav-no-such-host.invalid:8000/v1#m"))
    _stops_before_rendering(cache, run, code, err, "operator http://pav-no-such-host.invalid:8000/v1 (model 'm') "
                                                    "cannot be reached: unknown host")


@pytest.mark.parametrize("status,says", [(401, "refused the API key (HTTP 401)"), (403, "denied access (HTTP 403)"),
                                         (404, "the server has no such model or path (HTTP 404)")])
def test_evolve_stops_on_a_refusing_server(cache, tmp_path, capsys, status, says):
    srv = serve_pattern([status])
    try:
        run = tmp_path / "run"
        code, _, err = pav(capsys, *evolve_args(run, srv.url + "#m"))
        _stops_before_rendering(cache, run, code, err, says)
        assert len(srv.state["requests"]) == 1                   # one probe; 4xx are not retried
    finally: srv.shutdown()


def test_eval_stops_when_an_llm_rewrite_server_is_down(cache, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "eval"
    code, _, err = pav(capsys, "eval", "a corgi running on a beach", "--methods", f"identity,llm-rewrite:{url}#m",
                       "--target", "tiny", "--suite", "offline", "--out", out)
    _stops_before_rendering(cache, out, code, err, f"pav eval: error: operator {url} (model 'm') cannot be reached")


def test_transformers_serve_without_the_model_stops_evolve(cache, tmp_path, capsys, transformers_serve):
    run = tmp_path / "run"
    code, _, err = pav(capsys, *evolve_args(run, transformers_serve + "#" + str(tmp_path / "no-such-model")))
    _stops_before_rendering(cache, run, code, err, f"operator {transformers_serve} (model '{tmp_path / 'no-such-model'}') "
                                                    "answered HTTP 500 after every retry")


def test_transformers_serve_with_the_model_passes_the_check(transformers_serve):
    from prompt_a_video.llm import make_operator
    op = make_operator(f"{transformers_serve}#{smollm2_dir()}", timeout=600)
    op.check()                                                     # answers: no error
    assert op.transport_faults == {} and op.http == {}             # the probe is not counted as the run's


def test_rerun_retries_sources_that_stalled_on_faults_and_the_terminal_stays_quiet(cache, tmp_path, capsys):
    port, run = free_port(), tmp_path / "run"
    # the probe is answered, then every try of the round's one ask fails (HTTP 500, retried by the client): it stalls
    down = serve_pattern(["OK"] + [500] * 10, port=port)
    try: code, out, err = pav(capsys, *evolve_args(run, f"http://127.0.0.1:{port}/v1#gpt-4o", "--max-asks", "1"))
    finally: down.shutdown(); down.server_close()
    assert code == 0, err[-2000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["sources"] == {"stalled": 1} and s["candidates"] == 1 and s["faults"]["http_500"] == 1, s
    assert "stalled: 1 source prompt(s); rerun the same command" in out
    assert "HTTP Request" not in err and "HTTP Request: POST" in (run / "pav.log").read_text()   # chatter in the log only
    up = sandbox_operator_server(port=port)                           # the operator is back, at the same address
    try: code, out, err = pav(capsys, *evolve_args(run, f"http://127.0.0.1:{port}/v1#gpt-4o", "--max-asks", "1"))
    finally: up.shutdown(); up.server_close()
    assert code == 0, err[-2000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["sources"] == {"active": 1} and s["candidates"] == 1 + 2, s    # the stalled round asked again and rendered
    assert s["llm_failed_calls"] == 1 and s["faults"]["http_500"] == 1      # the earlier fault is still on record
    assert "retrying 1 source prompt(s) that stalled on operator faults" in err and "HTTP Request" not in err
    up = sandbox_operator_server(port=port)
    try: code, out, err = pav(capsys, "-v", *evolve_args(run, f"http://127.0.0.1:{port}/v1#gpt-4o", "--max-asks", "1"))
    finally: up.shutdown(); up.server_close()
    assert code == 0 and "HTTP Request: POST" in err                   # -v: the detail is back on the terminal
