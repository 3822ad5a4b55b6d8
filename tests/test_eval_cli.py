"""`pav eval` end to end on the tiny target: the three outputs, resuming, bad input."""
import json
from pathlib import Path

import pytest

from prompt_a_video.cli import main


def test_eval_writes_report_results_and_figure(pav, offline_env, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--target", "tiny", "--methods", "identity,smollm2", "--prompts", "paper-vbench-100", "--limit", "2",
            "--seeds", "0", "1", "--out", str(out)]
    r = pav(*args, env=offline_env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {p.name for p in out.iterdir()} >= {"report.md", "results.json", "results.csv", "metrics.png", "refined.json"}
    res = json.loads((out / "results.json").read_text())
    assert res["spec"]["methods"] == ["identity", "smollm2"] and res["spec"]["seeds"] == [0, 1]
    originals = res["spec"]["prompts"]
    assert res["refined"]["identity"] == {p: p for p in originals}
    assert all(res["refined"]["smollm2"][p].lower().startswith(p.lower().rstrip(".")) for p in originals)   # prefilled
    rows = {(r["method"], r["metric"]): r for r in res["rows"]}
    # identity fidelity is a self-cosine: measured >= 0.99999982 (1 and 2 threads) over the 100 paper prompts
    assert rows[("identity", "fidelity")]["mean"] > 0.999 and rows[("smollm2", "words")]["mean"] > rows[("identity", "words")]["mean"]
    assert "| smollm2 |" in (out / "report.md").read_text()
    before = (out / "results.json").read_text()
    r = pav(*args, env=offline_env)                                        # resumes: same results
    assert r.returncode == 0 and (out / "results.json").read_text() == before
    r = pav(*args[:-1], str(out), "--seeds", "5", env=offline_env)         # the folder holds another evaluation
    assert r.returncode == 1 and "holds another evaluation" in r.stderr, r.stderr[-1000:]
    assert (out / "results.json").read_text() == before


@pytest.mark.parametrize("extra,code,message", [(["--methods", "identity,gpt-9"], 1, "unknown method 'gpt-9'"),
                                                (["--prompts", "vbench-200"], 1, "unknown prompt set 'vbench-200'"),
                                                (["--target", "sora"], 2, "invalid choice: 'sora'")])
def test_eval_bad_input(tmp_path, capsys, extra, code, message):
    args = ["eval", "--target", "tiny", "--methods", "identity", "--prompts", "paper-vbench-100", "--limit", "1",
            "--out", str(tmp_path / "e")]
    for i in range(0, len(extra), 2):
        j = args.index(extra[i]); args[j + 1] = extra[i + 1]
    status, err = main(args), capsys.readouterr().err
    assert status == code and message in err, (extra, err[-1000:])
    assert not (tmp_path / "e").exists()
