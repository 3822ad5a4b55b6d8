"""`pav refine` end to end with the offline default booster (SmolLM2), in subprocesses; bad input in process."""
import json

import pytest

from prompt_a_video.cli import main


def test_refine_one_prompt_offline(pav, offline_env):
    r = pav("refine", "a corgi running on a beach", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.strip()
    assert out.lower().startswith("a corgi running on a beach,") and len(out.split()) > 12
    assert out[-1] in ".!?", out                                   # cut off at 90 tokens, yet ends a sentence
    assert sum(c.isascii() for c in out) / len(out) > 0.95           # English
    assert "Loading weights" not in r.stderr


def test_refine_file_json_out_negative_and_target(pav, offline_env, tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("a red kite over a hill\n\na cup of coffee on a table\n", encoding="utf-8")
    out = tmp_path / "refined.jsonl"
    r = pav("refine", "--file", str(f), "--json", "--out", str(out), "--negative", "fixed", "--target", "tiny",
            env=offline_env)
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
])
def test_refine_bad_input(tmp_path, capsys, case, message):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("\n \n")
    latin.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    args = {"blank": ["   "], "missing": ["--file", str(tmp_path / "nope.txt")], "empty": ["--file", str(empty)],
            "latin1": ["--file", str(latin)], "too_long": ["word " * 9000],
            "booster": ["a cat", "--booster", "gpt-9"], "target": ["a cat", "--target", "sora"], "none": []}[case]
    code, (stdout, err) = main(["refine", *args, "--out", str(out)]), capsys.readouterr()
    assert code == 1, (stdout, err[-2000:])
    assert message in err and "Traceback" not in err
    assert not out.exists()
