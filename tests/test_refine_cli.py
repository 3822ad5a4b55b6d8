"""`pav refine` end to end, in subprocesses: the offline default booster (`smollm2-video`) once, the cheaper `smollm2` (one
greedy generation a prompt) where the test is about something else; bad input in process."""
import json

import pytest

from prompt_a_video.cli import main


def test_refine_one_prompt_offline(pav, offline_env):
    r = pav("refine", "a corgi running on a beach", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.strip()
    assert out.lower().startswith("a corgi running on a beach,") and len(out.split()) > 12
    assert out[-1] in ".!?", out                                   # cut off at its token limit, yet ends a sentence
    assert sum(c.isascii() for c in out) / len(out) > 0.95           # English
    assert "Loading weights" not in r.stderr


def test_refine_file_json_out_negative_and_target(pav, offline_env, tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("a red kite over a hill\n\na cup of coffee on a table\n", encoding="utf-8")
    out = tmp_path / "refined.jsonl"
    r = pav("refine", "--file", str(f), "--json", "--out", str(out), "--negative", "fixed", "--target", "tiny",
            "--booster", "smollm2", env=offline_env)      # one greedy generation a prompt: the default's rerank is tested above
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["prompt"] for x in rows] == ["a red kite over a hill", "a cup of coffee on a table"]
    assert all(x["refined"][0].lower().startswith(x["prompt"]) for x in rows)
    assert all("low quality" in x["negative"] for x in rows)
    assert [json.loads(l) for l in out.read_text().splitlines()] == rows
    from prompt_a_video.video import VideoGenerator
    count = VideoGenerator.from_target("tiny", cache=False).count_tokens
    assert all(c <= 226 for c in count([x["refined"][0] for x in rows]))


@pytest.mark.parametrize("case,message", [
    ("blank", "prompt 0 is blank"),
    ("missing", "does not exist"),
    ("empty", "has no prompts"),
    ("latin1", "not valid UTF-8"),
    ("too_long", "is too long"),
    ("booster", "unknown booster 'gpt-9'"),
    ("target", "unknown target 'sora'"),
    ("none", "no prompts given"),
    ("best_of_zero", "--best-of must be at least 1"),
    ("best_of_no_target", "name the video model with --target"),
    ("best_of_cap", "more than --max-renders 64"),
    ("best_of_n", "leave --n at 1"),
    ("candidates", "at least 1 candidate"),
])
def test_refine_bad_input(tmp_path, capsys, case, message):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("\n \n")
    latin.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    args = {"blank": ["   "], "missing": ["--file", str(tmp_path / "nope.txt")], "empty": ["--file", str(empty)],
            "latin1": ["--file", str(latin)], "too_long": ["word " * 9000],
            "booster": ["a cat", "--booster", "gpt-9"], "target": ["a cat", "--target", "sora"], "none": [],
            "best_of_zero": ["a cat", "--best-of", "0"], "best_of_no_target": ["a cat", "--best-of", "2"],
            "best_of_cap": ["a cat", "a dog", "--best-of", "40", "--target", "sandbox"],
            "best_of_n": ["a cat", "--best-of", "2", "--target", "sandbox", "--n", "2", "--temperature", "0.7"],
            "candidates": ["a cat", "--guard", "strict", "--candidates", "0"]}[case]
    code, (stdout, err) = main(["refine", *args, "--out", str(out)]), capsys.readouterr()
    assert code == 1, (stdout, err[-2000:])
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_refine_json_has_the_guard_record(pav, offline_env):
    r = pav("refine", "two kids flying a kite in a park", "--json", "--booster", "smollm2", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    [row] = [json.loads(l) for l in r.stdout.splitlines()]
    [rec] = row["guard"]
    assert rec["mode"] == "check" and set(rec["passed"]) == {"keeps_subjects", "keeps_actions", "keeps_objects", "adds_no_subject"}
    from prompt_a_video.booster import check_candidate
    assert rec == {"mode": "check", **check_candidate(row["prompt"], row["refined"][0])}     # the record of what was printed
    assert rec["passed"]["keeps_subjects"] and 0.5 < rec["fidelity"] <= 1                     # prefilled: the kids are kept


@pytest.mark.parametrize("target,suite,dim", [("sandbox", "sandbox", "ALIGN"), ("tiny", "offline", "NIQE")])
def test_refine_best_of_renders_and_ranks(pav, offline_env, tmp_path, target, suite, dim):
    out = tmp_path / "best.jsonl"
    r = pav("refine", "a red kite over a green hill", "--best-of", "3", "--target", target, "--suite", suite, "--json",
            "--out", str(out), "--booster", "smollm2", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    [row] = [json.loads(l) for l in r.stdout.splitlines()]
    ranked = row["ranked"]
    assert 2 <= len(ranked) <= 3 and len({x["refined"] for x in ranked}) == len(ranked)       # distinct candidates, each rendered
    scores = [x["score"] for x in ranked]
    assert scores == sorted(scores, reverse=True) and row["refined"] == [ranked[0]["refined"]] and row["score"] == scores[0]
    assert all(dim in x["scores"] and set(x["guard"]["passed"]) >= {"keeps_subjects", "adds_no_subject"} for x in ranked)
    assert 0 in [x["candidate"] for x in ranked]                                             # the booster's own output is among them
    assert [json.loads(l) for l in out.read_text().splitlines()] == [row]
