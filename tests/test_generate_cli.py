"""`pav generate` end to end on the tiny target, in subprocesses."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from prompt_a_video.assets import ASSETS
from prompt_a_video.media import load_video


def pav(pav_bin, *args, env=None):
    return subprocess.run([pav_bin, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def env(offline_env, tmp_path):
    return dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))


def _link_tiny(env, offline_env):
    "Reuse the prepared tiny pipeline so each test does not rebuild it (the asset is read-only)."
    key = ASSETS["tiny-cogvideox"].cache_key
    src = Path(offline_env["PAV_CACHE"]) / "assets" / key
    if src.is_dir():
        dst = Path(env["PAV_CACHE"]) / "assets"
        dst.mkdir(parents=True, exist_ok=True)
        (dst / key).symlink_to(src)


def test_generate_writes_videos_and_json_lines(pav_bin, env, offline_env, tmp_path):
    _link_tiny(env, offline_env)
    out = tmp_path / "out"
    r = pav(pav_bin, "generate", "a red cat", "a dog on grass", "--seed", "7", "9", "--out", str(out),
            "--frames", "17", "--height", "48", "--width", "80", env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [(x["prompt"], x["seed"], x["cached"]) for x in rows] == [("a red cat", 7, False), ("a dog on grass", 9, False)]
    assert all(x["seconds"] > 0 for x in rows)
    vids = [load_video(x["path"]) for x in rows]
    assert [v.frames.shape for v in vids] == [(17, 48, 80, 3)] * 2
    assert not np.array_equal(vids[0].frames, vids[1].frames)
    assert sorted(p.name for p in out.iterdir()) == ["000-a-red-cat-seed7.mp4", "001-a-dog-on-grass-seed9.mp4"]
    # rerun: answered from the cache, same pixels
    r2 = pav(pav_bin, "generate", "a red cat", "a dog on grass", "--seed", "7", "9", "--out", str(out),
             "--frames", "17", "--height", "48", "--width", "80", env=env)
    rows2 = [json.loads(l) for l in r2.stdout.splitlines()]
    assert [x["cached"] for x in rows2] == [True, True]
    # the cache holds the exact frames (lossless FFV1); the mp4s are lossy copies, and x264's output is not
    # the same from one process to the next, so a re-export matches the first one closely, not bit for bit
    assert len(list((Path(env["PAV_CACHE"]) / "videos").glob("*/*.mkv"))) == 2
    d = lambda a, b: np.abs(a.frames.astype(int) - b.frames).mean()
    again = [load_video(x["path"]) for x in rows2]
    assert [v.frames.shape for v in again] == [(17, 48, 80, 3)] * 2
    assert d(again[0], vids[0]) < 0.1 * d(vids[0], vids[1]) and d(again[1], vids[1]) < 0.1 * d(vids[0], vids[1])


def test_generate_from_file(pav_bin, env, offline_env, tmp_path):
    _link_tiny(env, offline_env)
    f = tmp_path / "prompts.txt"
    f.write_text("a red cat\n\n  a blue bird  \n", encoding="utf-8")
    r = pav(pav_bin, "generate", "--file", str(f), "--out", str(tmp_path / "o"), "--steps", "2", env=env)
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)["prompt"] for l in r.stdout.splitlines()] == ["a red cat", "a blue bird"]


@pytest.mark.parametrize("args,message,status", [
    ([], "no prompts given", 1),
    (["  "], "prompt 0 is blank", 1),
    (["a cat", "--target", "sora"], "invalid choice: 'sora' (choose from 'cogvideox-2b', 'cogvideox-5b'", 2),  # argparse usage error
    (["a cat", "--width", "100"], "width=100 is invalid for target 'tiny': it must be a positive multiple of 16", 1),
    (["a cat", "--frames", "10"], "num_frames=10 is invalid", 1),
    (["a cat", "a dog", "--seed", "1", "2", "3"], "3 seeds for 2 prompts", 1),
    (["a cat", "--target", "cogvideox-2b", "--frames", "97"], "at most 49", 1),
    (["a cat", "--dtype", "fp12"], "unknown dtype 'fp12'", 1),
    (["a cat", "--setting", "fast"], "invalid choice: 'fast'", 2),
    (["a cat", "--target", "cogvideox-2b", "--scheduler", "euler"], "invalid choice: 'euler'", 2),
])
def test_generate_bad_input(pav_bin, env, tmp_path, args, message, status):
    out = tmp_path / "out"
    r = pav(pav_bin, "generate", *args, "--out", str(out), env=env)
    assert r.returncode == status, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()                           # nothing written
    assert not (tmp_path / "cache" / "videos").exists()


def test_generate_bad_files(pav_bin, env, tmp_path):
    empty, binary = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("\n\n")
    binary.write_bytes("caf\xe9 au lait".encode("latin-1"))
    for f, msg in [(tmp_path / "missing.txt", "does not exist"), (empty, "has no prompts"), (binary, "not valid UTF-8")]:
        r = pav(pav_bin, "generate", "--file", str(f), "--out", str(tmp_path / "o"), env=env)
        assert r.returncode == 1 and msg in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_generate_usage_errors(pav_bin, env, tmp_path):
    r = pav(pav_bin, "generate", "a cat", env=env)                  # --out is required
    assert r.returncode == 2 and "--out" in r.stderr
    r = pav(pav_bin, "generate", "a cat", "--out", str(tmp_path), "--cache-hook", "magic", env=env)
    assert r.returncode == 2 and "invalid choice: 'magic'" in r.stderr


def test_generate_with_a_booster_refines_first_then_renders_the_refined_prompt(pav_bin, offline_env, tmp_path):
    "`--booster`: each video is the sandbox's drawing of the refined prompt, and the original is reported beside it."
    from prompt_a_video.sandbox import render_sandbox
    out = tmp_path / "out"
    r = pav(pav_bin, "generate", "a red fox in a forest", "--booster", "smollm2", "--target", "sandbox", "--seed", "3",
            "--out", str(out), "--no-cache", env=offline_env)
    assert r.returncode == 0, r.stderr[-3000:]
    row = json.loads(r.stdout.splitlines()[0])
    assert row["original"] == "a red fox in a forest" and row["prompt"] != row["original"]
    assert row["prompt"].startswith("a red fox in a forest")                 # SmolLM2's preset prefills the prompt
    got = load_video(row["path"]).frames.astype(float)                       # mp4: lossy, so compare distances
    err = lambda text: np.abs(got - render_sandbox(text, seed=3).astype(float)).mean()
    assert err(row["prompt"]) < 8 and err(row["prompt"]) <= err(row["original"])
    r = pav(pav_bin, "generate", "a red fox", "--booster", "no-such-booster", "--target", "sandbox", "--out",
            str(tmp_path / "bad"), env=offline_env)
    assert r.returncode == 1 and "no-such-booster" in r.stderr and not (tmp_path / "bad").exists()
