"""`pav grpo --preset tiny` end to end on the sandbox: GRPO from a tiny SFT booster trains (the adapter moves, the card
and curves are written), and a run SIGKILLed after a checkpoint resumes to the adapter of an uninterrupted run with no
rewrite rendered twice. Bad input in process."""
import json
import os
import signal
from pathlib import Path

import pytest
from safetensors.torch import load_file

from prompt_a_video.cli import main

PROMPTS = ["a red kite over a green hill", "a sailboat at dawn", "a corgi running on a beach"]


@pytest.fixture(scope="module")
def sft_dir(pav, tmp_path_factory):
    d = tmp_path_factory.mktemp("grpo") / "sft"
    r = pav("sft", "--preset", "tiny", "--out", str(d))
    assert r.returncode == 0, r.stderr[-3000:]
    return d


def own_cache(offline_env, tmp_path, name):
    "A video cache of its own (every rewrite renders), sharing the prepared assets."
    root = tmp_path / name
    root.mkdir()
    (root / "assets").symlink_to(Path(offline_env["PAV_CACHE"]) / "assets")
    return dict(offline_env, PAV_CACHE=str(root))


def grpo(pav, sft_dir, tmp_path, out, env, kill_at=None):
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    return pav("grpo", "--booster", str(sft_dir), "--prompts", str(tmp_path / "prompts.txt"), "--target", "sandbox",
               "--suite", "sandbox", "--preset", "tiny", "--out", str(out), env=env, kill_at=kill_at)


def renders(env):
    return (Path(env["PAV_CACHE"]) / "videos" / "renders.log").read_text().split()


def test_grpo_trains_and_a_killed_run_resumes_to_the_same_adapter(pav, sft_dir, tmp_path, offline_env):
    ref_env = own_cache(offline_env, tmp_path, "ref-cache")
    r = grpo(pav, sft_dir, tmp_path, tmp_path / "ref", ref_env)
    assert r.returncode == 0, r.stderr[-3000:]
    ref = tmp_path / "ref"
    m = json.loads((ref / "metrics.json").read_text())
    assert m["steps"] == 4 and m["rewrites_scored_this_run"] == 4 * 2 * 4, m
    assert json.loads((ref / "booster.json").read_text())["base"] == "asset:tiny-lm"
    assert "GRPO on rendered rewards" in (ref / "README.md").read_text() and (ref / "training_curves.png").is_file()
    a, b = load_file(str(sft_dir / "adapter_model.safetensors")), load_file(str(ref / "adapter_model.safetensors"))
    assert max(float(b[k][:, a[k].shape[1]:].abs().max()) for k in a if k.endswith("lora_B.weight")) > 0   # the new LoRA moved
    assert len(renders(ref_env)) == len(set(renders(ref_env))) == 4 * 2 * 4

    env, run = own_cache(offline_env, tmp_path, "cache"), tmp_path / "run"
    r = grpo(pav, sft_dir, tmp_path, run, env, kill_at="grpo_checkpoint:1")          # killed right after step 2's checkpoint
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    assert not (run / "booster.json").exists()                                      # no half-written booster
    r = grpo(pav, sft_dir, tmp_path, run, env)                                      # the same command: resume
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["rewrites_scored_this_run"] == 2 * 2 * 4   # steps 3 and 4 only
    done = renders(env)
    assert len(done) == len(set(done)) == 4 * 2 * 4                                 # no rewrite rendered twice, none lost
    wa, wb = load_file(str(run / "adapter_model.safetensors")), load_file(str(ref / "adapter_model.safetensors"))
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) == 0.0               # resumed exactly where it stopped


@pytest.mark.parametrize("args,message,status", [
    (["--booster", "NOPE"], "is not a trained booster", 1),
    (["--group", "1"], "group must be at least 2", 1),
    (["--fidelity-min", "3"], "fidelity_min is a cosine", 1),
    (["--preset", "huge"], "invalid choice: 'huge'", 2),
])
def test_grpo_bad_input(tmp_path, capsys, args, message, status):
    (tmp_path / "p.txt").write_text("a cat\n")
    argv = ["grpo", "--prompts", str(tmp_path / "p.txt"), "--target", "sandbox", "--suite", "sandbox", "--out", str(tmp_path / "out"),
            *(["--booster", str(tmp_path / "missing")] if "--booster" not in args else [])]
    argv = [x if x != "NOPE" else str(tmp_path / "missing") for x in argv + args]
    assert main(argv) == status
    err = capsys.readouterr().err
    assert message in err and (status == 2 or err.count("\n") == 1), err
    assert not (tmp_path / "out").exists()                                          # no half-written output
