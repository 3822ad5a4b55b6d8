"""`pav sft` / `pav dpo` end to end on the tiny model: the smoke path, kill -9 and resume; bad input in process."""
import json
import signal
from pathlib import Path

import pytest
from safetensors.torch import load_file

from prompt_a_video.cli import main


def adapter(d):
    return load_file(str(Path(d) / "adapter_model.safetensors"))


def same_adapter(a, b):
    wa, wb = adapter(a), adapter(b)
    assert sorted(wa) == sorted(wb)
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.fixture(scope="module")
def sft_dir(pav, tmp_path_factory):
    "One uninterrupted tiny SFT run on the built-in pairs, shared by the tests below."
    import os
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    d = tmp_path_factory.mktemp("train") / "sft"
    r = pav("sft", "--preset", "tiny", "--out", str(d), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return d


def test_sft_smoke_path_makes_a_booster(pav, offline_env, sft_dir):
    m = json.loads((sft_dir / "metrics.json").read_text())
    assert m["last_logged_loss"] < m["first_logged_loss"] - 0.25, m          # the loss falls; measured by 0.444 (1 and 2 threads)
    w = adapter(sft_dir)
    assert any(k.endswith("lora_B.weight") and v.abs().max() > 0 for k, v in w.items())   # B starts at zero
    assert json.loads((sft_dir / "booster.json").read_text())["base"] == "asset:tiny-lm"
    card = (sft_dir / "README.md").read_text()
    assert card.startswith("---\nbase_model: asset:tiny-lm") and "| pairs | 16 |" in card
    r = pav("refine", "--booster", str(sft_dir), "a cat on a sofa", "--json", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["prompt"] == "a cat on a sofa"


def test_sft_killed_after_a_checkpoint_resumes_to_the_same_adapter(pav, offline_env, sft_dir, tmp_path):
    d = tmp_path / "sft"
    r = pav("sft", "--preset", "tiny", "--out", str(d), env=offline_env, kill_at="sft_checkpoint:3")
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    assert not (d / "booster.json").exists()                        # no half-written booster
    state = json.loads((d / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    r = pav("sft", "--preset", "tiny", "--out", str(d), env=offline_env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert same_adapter(d, sft_dir) < 1e-6            # measured 0 (bitwise equal, 1 and 2 threads) on weights up to 0.19
    steps = [h["step"] for h in json.loads((d / "log_history.json").read_text()) if "loss" in h]
    assert steps == sorted(set(steps)) and steps[0] == 1                  # nothing repeated, nothing lost


def test_dpo_smoke_and_resume(pav, offline_env, sft_dir, tmp_path):
    full, killed = tmp_path / "dpo", tmp_path / "dpo-killed"
    r = pav("dpo", "--preset", "tiny", "--sft", str(sft_dir), "--out", str(full), env=offline_env)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((full / "metrics.json").read_text())
    assert m["margin_last"] > m["margin_first"] and m["accuracy_last"] >= m["accuracy_first"], m
    ranks = {k.split(".")[-3]: v.shape[0] for k, v in adapter(full).items() if k.endswith("lora_A.weight")}
    assert set(ranks.values()) == {8 + 8} and len(ranks) == 7            # the SFT and DPO adapters (r8 each) in one
    r = pav("dpo", "--preset", "tiny", "--sft", str(sft_dir), "--out", str(killed), env=offline_env,
            kill_at="dpo_checkpoint:2")
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    r = pav("dpo", "--preset", "tiny", "--sft", str(sft_dir), "--out", str(killed), env=offline_env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert same_adapter(killed, full) < 1e-6          # measured 0 (bitwise equal, 1 and 2 threads) on weights up to 0.32
    r = pav("refine", "--booster", str(full), "a red kite", env=offline_env)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_folder_holding_another_run_is_refused(sft_dir, capsys):
    code, err = main(["sft", "--preset", "tiny", "--lr", "0.5", "--out", str(sft_dir)]), capsys.readouterr().err
    assert code == 1 and "holds another training run (different recipe)" in err, err[-1000:]


@pytest.mark.parametrize("case,message", [
    ("empty", "data set is empty"),
    ("blank", "pair 1 has a blank refined prompt"),
    ("notlist", "expected a list of [original, refined] pairs"),
])
def test_bad_sft_data(tmp_path, capsys, case, message):
    f = tmp_path / "pairs.json"
    f.write_text(json.dumps({"empty": [], "blank": [["a cat", "A cat."], ["a dog", " "]], "notlist": {"a": "b"}}[case]))
    out = tmp_path / "out"
    code, err = main(["sft", "--preset", "tiny", "--data", str(f), "--out", str(out)]), capsys.readouterr().err
    assert code == 1 and message in err, err[-1000:]
    assert not out.exists()


def test_bad_dpo_input(sft_dir, tmp_path, capsys):
    sft_prompt = json.loads((sft_dir / "train_prompts.json").read_text())[0]
    for triples, message in [([{"prompt": sft_prompt, "chosen": "A b.", "rejected": "c"}], "were SFT prompts"),
                             ([{"prompt": "a new one", "chosen": "A b.", "rejected": "a  B."}], "same chosen and rejected"),
                             ([], "no DPO triples")]:
        f = tmp_path / "t.json"
        f.write_text(json.dumps(triples))
        code = main(["dpo", "--preset", "tiny", "--sft", str(sft_dir), "--data", str(f), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 1 and message in err, (message, err[-1000:])
    # an adapter made for another base model: the SFT folder claims SmolLM2 as its base
    other = tmp_path / "other-sft"
    other.mkdir()
    for p in sft_dir.iterdir():
        if p.is_file(): (other / p.name).write_bytes(p.read_bytes())
    (other / "booster.json").write_text(json.dumps({"base": "asset:smollm2", "template": "official", "prefill": False}))
    code, err = main(["dpo", "--preset", "tiny", "--sft", str(other), "--out", str(tmp_path / "o2")]), capsys.readouterr().err
    assert code == 1 and "was made for another base model" in err, err[-1500:]


def test_build_dpo_killed_after_sampling_resumes_without_repeats(pav, offline_env, sft_dir, tmp_path):
    "Candidates are sampled, rendered and scored through the run store: kill -9 after the first prompt, rerun, nothing repeats."
    import sqlite3
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "assets").symlink_to(Path(offline_env["PAV_CACHE"]) / "assets")
    run = tmp_path / "dpo-run"
    args = ["build-dpo", "--booster", str(sft_dir), "a red kite over a green hill", "rain on a window at night",
            "--preset", "tiny", "--target", "tiny", "--suite", "offline", "--out", str(run)]
    r = pav(*args, env=env, kill_at="dpo_sampled:1")
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    db = sqlite3.connect(run / "run.sqlite")
    first = db.execute("SELECT text, seed FROM candidates ORDER BY id").fetchall()
    db.close()
    assert len(first) == 4 and not (run / "triples.json").exists()
    r = pav(*args, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    db = sqlite3.connect(run / "run.sqlite")
    rows = db.execute("SELECT text, seed, scores FROM candidates ORDER BY id").fetchall()
    db.close()
    assert [x[:2] for x in rows[:4]] == first and len(rows) == 8 and all(x[2] for x in rows)
    renders = (tmp_path / "cache" / "videos" / "renders.log").read_text().split()
    assert len(renders) == len(set(renders)) == len({(t, s) for t, s, _ in rows})      # every video rendered once
    report = json.loads((run / "triples_report.json").read_text())
    assert report["rules"]["mode"] == "relative" and report["counts"]["prompts"] == 2
    r2 = pav(*args, env=env)                                    # a third run renders nothing
    assert r2.returncode == 0 and (tmp_path / "cache" / "videos" / "renders.log").read_text().split() == renders
