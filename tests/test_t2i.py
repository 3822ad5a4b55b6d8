"""Text-to-image targets and token budgets: `pav refine --target` never prints a prompt over the target's real
token budget, `pav generate --target tiny-sd` writes pictures, and budget reports are exact."""
import json
import re

import pytest

from prompt_a_video.cli import main


@pytest.fixture(scope="module")
def clip():
    from transformers import AutoTokenizer
    from prompt_a_video.assets import clip_tokenizer_dir
    return AutoTokenizer.from_pretrained(clip_tokenizer_dir())


@pytest.fixture(scope="module")
def t5():
    from transformers import AutoTokenizer
    from prompt_a_video.assets import t5_tokenizer_dir
    return AutoTokenizer.from_pretrained(t5_tokenizer_dir())


USERS = ["a bowl of ramen with steam rising"]             # SmolLM2 writes about 150 CLIP tokens for it


def test_refine_sd15_fits_77_clip_tokens_and_unfitted_would_not(pav, offline_env, clip):
    """SmolLM2's answers, stopped at the budget: each fits 77 CLIP tokens; the same booster without a target runs over."""
    room = ("--max-new-tokens", "150", "--booster", "smollm2")     # a video-length answer (the released boosters allow 256),
                                                                    # one greedy generation (the default's four are tested elsewhere)
    fitted = pav("refine", *USERS, *room, "--target", "sd-1.5", "--json", env=offline_env)
    free = pav("refine", *USERS, *room, "--json", env=offline_env)
    assert fitted.returncode == 0 and free.returncode == 0, fitted.stderr[-2000:] + free.stderr[-2000:]
    fit = [json.loads(l)["refined"][0] for l in fitted.stdout.splitlines()]
    raw = [json.loads(l)["refined"][0] for l in free.stdout.splitlines()]
    assert all(len(clip(t).input_ids) <= 77 for t in fit), [len(clip(t).input_ids) for t in fit]
    assert any(len(clip(t).input_ids) > 77 for t in raw)          # the test can fail: unfitted output is too long
    for u, t in zip(USERS, fit):
        assert t.lower().startswith(u) and t[-1] in ".!?", t       # the subject stays; it ends a sentence


def test_refine_cogvideox_fits_226_t5_tokens_whole_words(pav, offline_env, t5):
    """Any booster (here the original prompt itself) is fitted: never over 226 T5 tokens, never cut inside a word."""
    long = " ".join(f"A corgi number {w} runs along the beach at sunset, its ears flapping in the wind." for w in
                    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                     "thirteen", "fourteen", "fifteen", "sixteen"])
    assert len(t5(long).input_ids) > 226
    r = pav("refine", long, "--booster", "identity", "--target", "cogvideox-5b", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.strip()
    assert 150 < len(t5(out).input_ids) <= 226, len(t5(out).input_ids)
    words = set(re.findall(r"[\w']+", long.lower()))
    assert set(re.findall(r"[\w']+", out.lower())) <= words         # whole words of the prompt only
    assert "corgi number one runs" in out.lower()


def test_refine_target_errors(capsys):
    code, err = main(["refine", "a cat", "--booster", "identity", "--target", "sdxxl"]), capsys.readouterr().err
    assert code == 1 and "unknown target 'sdxxl'" in err and "sd-1.5" in err


def test_generate_tiny_sd_writes_png_and_caches(pav, offline_env, tmp_path):
    from pathlib import Path
    from prompt_a_video.t2i import tiny_sd_dir
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))       # a fresh picture cache, the shared tiny pipeline
    (tmp_path / "cache" / "assets").mkdir(parents=True)
    (tmp_path / "cache" / "assets" / "tiny-sd-v1").symlink_to(Path(tiny_sd_dir()))
    out = tmp_path / "pics"
    args = ("generate", "a red fox in the snow", "a blue boat", "--target", "tiny-sd", "--seed", "3", "--out", str(out))
    r = pav(*args, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [p.suffix for p in sorted(out.iterdir())] == [".png", ".png"]
    from PIL import Image
    assert Image.open(rows[0]["path"]).size == (64, 64)
    again = [json.loads(l) for l in pav(*args, env=env).stdout.splitlines()]
    assert [x["cached"] for x in rows] == [False, False] and [x["cached"] for x in again] == [True, True]


def test_budget_report_is_exact(clip):
    """kept + dropped is the prompt; the kept text is what CLIP's truncation passes on; fits agrees with counts."""
    from prompt_a_video.budget import token_budget
    b = token_budget("sdxl")
    text = "word " * 40 + "sunlight glitters " * 30
    for c in b.report(text):
        assert c.kept + c.dropped == text and c.limit == 77 and c.tokens == len(clip(text).input_ids)
        ids = clip(text, truncation=True, max_length=77).input_ids[1:-1]
        assert clip(c.kept, add_special_tokens=False).input_ids[:len(ids) - 1] == ids[:-1]
    assert not b.fits(text) and b.fits("a red fox")
    assert [c.dropped for c in b.report("a red fox")] == ["", ""]


def test_eval_on_an_image_target_with_the_image_suite(pav, offline_env, tmp_path, capsys):
    """`pav eval --target tiny-sd --suite image`: pictures scored with NIQE, FIDELITY and SEEN, ranked with the image weights."""
    out = tmp_path / "eval"
    r = pav("eval", "--target", "tiny-sd", "--suite", "image", "--methods", "identity", "--prompts",
            "paper-vbench-100", "--limit", "2", "--out", str(out), env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["weights"] == {"SEEN": 2.0, "FIDELITY": 1.0, "NIQE": -0.1}
    seen = res["per_prompt"]["identity"]["SEEN"]
    # the original prompt, read whole: a self-cosine; measured |x - 1| <= 2.4e-7 (1 thread), 1.8e-7 (2 threads) over
    # all 100 paper-vbench-100 prompts: 1e-5 is a 40x margin
    assert len(seen) == 2 and all(abs(x - 1.0) < 1e-5 for x in seen)
    assert all(x > 0 for x in res["per_prompt"]["identity"]["NIQE"])
    assert main(["score", str(tmp_path / "x.png"), "--prompt", "a cat", "--suite", "image"]) == 1
    assert "--suite image" in capsys.readouterr().err
