"""The `pav` parser is built from dataclasses: each command function takes its filled arguments dataclass (with the
library configs it embeds), choices are usage errors, and user errors are one line with status 1. All in process
(`prompt_a_video.cli.main`), except the check that `pav --help` loads no model code, which needs a fresh process."""
import argparse
import inspect
import subprocess
import sys

import pytest

from prompt_a_video.cli import SUBCOMMANDS, Args, args_class, build_parser, from_options, main


def filled(*argv):
    "The dataclass `pav *argv` fills (parsed, not run)."
    ns = build_parser().parse_args(list(argv))
    return from_options(args_class(ns.pav_run), vars(ns))


def test_help_imports_no_model_code():
    code = ("import sys; from prompt_a_video.cli import main; main(['evolve', '--help'])\n"
            "bad = sorted(m for m in ('torch', 'transformers', 'diffusers', 'trl') if m in sys.modules)\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--iterations" in r.stdout, r.stderr[-2000:]


def test_every_command_takes_only_its_dataclass():
    for name, f in SUBCOMMANDS.items():
        cls = args_class(f)
        assert issubclass(cls, Args) and cls.command == name and cls.__doc__ and cls.about and cls.example
        assert len(inspect.signature(f).parameters) == 1, name


def test_filled_dataclasses_hold_typed_configs():
    from prompt_a_video.evolution import EvolutionConfig
    from prompt_a_video.video import GenerationSettings
    a = filled("evolve", "a cat", "--out", "run", "--preset", "tiny", "--candidates", "3", "--frames", "17",
               "--no-vae-tiling", "--suite", "sandbox", "--mps", "m.pt")
    assert isinstance(a.evolution, EvolutionConfig) and isinstance(a.generation, GenerationSettings)
    assert (a.evolution.candidates, a.evolution.iterations) == (3, EvolutionConfig.tiny().iterations)   # given, preset
    assert (a.generation.num_frames, a.generation.vae_tiling, a.generation.cpu_offload) == (17, False, False)
    assert (a.prompts.prompts, a.out.path, a.suite.name, a.checkpoints) == (["a cat"], "run", "sandbox", {"mps": "m.pt"})
    assert filled("generate", "x", "--out", "o", "--num-frames", "9").generation.num_frames == 9     # --frames is an alias
    g = filled("generate", "x", "--out", "o", "--seed", "1", "2", "--no-cache")
    assert (g.seed, g.no_cache, g.generation) == ([1, 2], True, GenerationSettings())
    s = filled("score", "v.mp4", "--prompt", "a", "--prompt", "b", "--candidate", "c")
    assert (s.videos, s.prompt, s.candidate, s.suite.name, s.checkpoints) == (["v.mp4"], ["a", "b"], ["c"], "offline", {})
    r = filled("refine", "a cat", "--negative", "icl", "--n", "2")
    assert (r.negative, r.n, r.booster, r.device, r.out) == ("icl", 2, "smollm2-video", "auto", None)
    assert (r.guard, r.candidates, r.best_of, r.max_renders, r.suite.name, r.farm.ray) == ("check", 4, 1, 64, "offline", None)


def test_presets_build_the_configs():
    from prompt_a_video.demo import DemoConfig
    from prompt_a_video.dpo import DPORecipe
    from prompt_a_video.sft import SFTRecipe
    assert filled("sft", "--out", "o", "--preset", "smollm2", "--lr", "0.01").recipe == SFTRecipe.smollm2().replace(lr=0.01)
    assert filled("dpo", "--sft", "s", "--out", "o").recipe == DPORecipe.paper()
    assert filled("demo", "--out", "d", "--preset", "quick", "--no-compare-sft").demo == DemoConfig.quick()
    assert filled("build-dpo", "a", "--booster", "b", "--out", "o", "--preset", "tiny").sampling.candidates == 4


@pytest.mark.parametrize("argv,bad", [
    (["generate", "a", "--out", "o", "--cache-hook", "magic"], "magic"),
    (["generate", "a", "--out", "o", "--target", "sora"], "sora"),
    (["eval", "a", "--out", "o", "--suite", "vbench"], "vbench"),
    (["refine", "a", "--negative", "sometimes"], "sometimes"),
    (["evolve", "a", "--out", "o", "--preset", "huge"], "huge"),
    (["evolve", "a", "--out", "o", "--parser", "greedy"], "greedy"),
    (["evolve", "a", "--out", "o", "--memory-plan", "spill"], "spill"),
    (["sft", "--out", "o", "--schedule", "cosine"], "cosine"),
    (["build-dpo", "a", "--booster", "b", "--out", "o", "--thresholds", "loose"], "loose"),
    (["dpo", "--sft", "s", "--out", "o", "--mode", "merged"], "merged"),
    (["demo", "--out", "o", "--target", "tiny-sd"], "tiny-sd"),
])
def test_choices_are_usage_errors(capsys, tmp_path, argv, bad):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{bad}'" in err and "usage: pav" in err


@pytest.mark.parametrize("argv,missing", [
    (["generate", "a cat"], "--out"),
    (["score", "--prompt", "a"], "VIDEO"),
    (["score", "v.mp4"], "--prompt"),
    (["build-dpo", "a", "--out", "o"], "--booster"),
    (["dpo", "--out", "o"], "--sft"),
])
def test_required_options(capsys, argv, missing):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required" in err and missing in err


@pytest.mark.parametrize("argv,message", [
    (["build-sft", "--out", "p.json"], "pav build-sft: error: give evolution RUN_DIRs or --released FILE (one of the two)"),
    (["build-sft", "r", "--released", "f.json", "--out", "p.json"], "give evolution RUN_DIRs or --released FILE"),
    (["refine", "a cat", "--booster", "identity", "--n", "0"], "pav refine: error: --n must be at least 1, got 0"),
    (["refine", "a cat", "--negative", "tuned"], "--negative tuned needs --booster ADAPTER_DIR"),
    (["refine", "a cat", "--booster", "identity", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["score", "v.mp4", "--prompt", "a", "--suite", "image"], "--suite image scores against a target's text encoders"),
    (["evolve", "a", "--out", "o", "--operator-prompt", "best"], "pav evolve: error: operator_prompt='best'"),
    (["dpo", "--sft", "s", "--out", "o"], "--data is required with --preset paper"),
])
def test_user_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "p.json").exists()


def test_version_verbose_and_help(capsys):
    from prompt_a_video import __version__
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"prompt_a_video {__version__}"
    assert main(["-v", "assets", "vbench-prompts", "--json"]) == 0 and '"ready"' in capsys.readouterr().out
    assert main(["evolve", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for title in ("evolution (default: the preset's value)", "generation (default: the target's recommendation",
                  "paper reward suite (checkpoints", "example: pav evolve"):
        assert title in out, title
    assert "--num-frames NUM_FRAMES, --frames NUM_FRAMES" in out and "--vae-tiling, --no-vae-tiling" in out
    assert "--suite {offline,paper,sandbox,image}" in out and "(default: offline)" in out


def test_an_option_declared_twice_is_refused():
    from dataclasses import dataclass
    from prompt_a_video.cli import config_options, part

    @dataclass(kw_only=True)
    class Twice(Args):
        "a device option clashing with the generation settings' --device"
        device: str = "cpu"  # where
        generation: dict = part("GenerationSettings")  # generation
    with pytest.raises(ValueError, match="two options would set 'device'"):
        config_options(argparse.ArgumentParser(), Twice, "")
