"""The Ray farm on a local CPU cluster with logical GPUs: the same store whatever the number of workers (evolution,
DPO sampling, evaluation, GRPO's rewards), a worker killed mid-run restarts and its batch runs again (counted), a failing item fails
once, and `pav evolve --ray` killed at each of the driver's named points resumes to the same store.

One cluster for the module (3 logical GPUs and 4 logical CPUs, a worker holding one of each): Ray's start is seconds, so it is shared. The sandbox target
and suite render and score in milliseconds; the operator is the deterministic loopback `rewrite_server`."""
import json
import logging
import math
import signal
import time

import pytest
from conftest import candidate_rows

from prompt_a_video.evolution import Evolution, EvolutionConfig
from prompt_a_video.farm import RayFarm, WorkItem, start_ray
from prompt_a_video.llm import OpenAIChat
from prompt_a_video.sandbox import sandbox_suite
from prompt_a_video.testing import rewrite_server
from prompt_a_video.video import VideoGenerator

SOURCES = ["a corgi running on a beach", "a red kite over a green hill", "a sailboat at dawn"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = start_ray(num_gpus=3, num_cpus=4)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def operator():
    srv = rewrite_server()
    yield srv
    srv.shutdown()


def rows(run_dir):
    return candidate_rows(run_dir, "failed", "rendered")


def evolve(run_dir, operator, farm=None):
    "A tiny evolution of the three sources, two of them rendered per round; on `farm` or in this process."
    gen = VideoGenerator.from_target("sandbox")
    cfg = EvolutionConfig.preset("tiny", batch_prompts=2)
    evo = Evolution(gen, None if farm else sandbox_suite(cache=False), OpenAIChat(base_url=operator.url), cfg,
                    run_dir=run_dir, farm=farm)
    return evo.run(SOURCES, progress=False)


def fresh_cache(monkeypatch, tmp_path, name):
    "A video cache of its own for each run (the workers get PAV_CACHE from the driver), so every run renders."
    monkeypatch.setenv("PAV_CACHE", str(tmp_path / name))


@pytest.fixture
def farm(ray_cluster):
    "Start Ray farms of n workers; each is closed after the test, so its GPUs go back to the module's cluster."
    made = []
    def make(workers):
        made.append(RayFarm(VideoGenerator.from_target("sandbox").settings, lambda: sandbox_suite(cache=False), workers=workers))
        return made[-1]
    yield make
    for f in made: f.close()


def test_same_store_with_1_and_3_workers(farm, operator, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path, "ref-cache")
    ref = evolve(tmp_path / "local", operator)
    assert ref["candidates"] == 3 * (1 + 2 * 2) and ref["videos_rendered"] == 15
    for n in (1, 3):            # 2 workers: the kill test below compares its store with the local one too
        fresh_cache(monkeypatch, tmp_path, f"cache-{n}")
        f = farm(n)
        s = evolve(tmp_path / f"ray-{n}", operator, f)
        f.close()                                                                # 3 workers need every GPU
        assert rows(tmp_path / f"ray-{n}") == rows(tmp_path / "local"), n       # candidates, seeds, scores, render flags
        assert (json.loads((tmp_path / f"ray-{n}" / "history.json").read_text())
                == json.loads((tmp_path / "local" / "history.json").read_text()))
        assert s["farm"]["batches"] == 15 and s["farm"].get("retries", 0) == 0, s["farm"]


def test_worker_killed_mid_run_restarts_and_its_batch_runs_again(farm, operator, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path, "ref-cache")
    evolve(tmp_path / "local", operator)
    fresh_cache(monkeypatch, tmp_path, "cache")
    # the first worker process to start its 3rd batch SIGKILLs itself there (a named point, not a sleep); its
    # restarted process finds the marker and runs on
    monkeypatch.setenv("PAV_KILL_AT", "farm_run:3")
    monkeypatch.setenv("PAV_KILL_ONCE", str(tmp_path / "killed"))
    f = farm(2)
    pids = {w["pid"] for w in f.workers}
    s = evolve(tmp_path / "killed-run", operator, f)
    assert (tmp_path / "killed").exists()                                       # a worker did die
    assert rows(tmp_path / "killed-run") == rows(tmp_path / "local")            # and the store is the same
    assert s["farm"]["retries"] == 1 and s["farm"]["batches"] == 15, s["farm"]
    f._info = None
    assert {w["pid"] for w in f.workers} != pids                                # a new process took the dead one's place
    log = (tmp_path / "cache" / "videos" / "renders.log").read_text().split()
    assert len(log) == len(set(log)) == 15                                      # the killed batch had not rendered


def test_a_failing_item_fails_once_and_the_rest_go_on(farm, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path, "cache")
    f = farm(2)
    items = [WorkItem("a red fox", 1, "a red fox"), WorkItem("a bad seed", -2, "a fox"), WorkItem("a blue boat", 3, "a boat")]
    out = f.run(items)
    assert [r.error is None for r in out] == [True, False, True]
    assert all(math.isnan(v) for v in out[1].scores.values()) and "non-negative" in out[1].error
    assert not out[0].scores.failed and not out[2].scores.failed
    assert f.stats["failed_items"] == 1 and f.stats.get("retries", 0) == 0
    assert f.errors == [{"text": "a bad seed", "seed": -2, "error": out[1].error}]


def test_too_many_workers_is_a_clear_error(ray_cluster):
    from prompt_a_video.core import PavError
    with pytest.raises(PavError, match="3 GPU\\(s\\) and a worker needs 2: 1 worker\\(s\\) fit, 2 asked"):
        RayFarm(VideoGenerator.from_target("sandbox").settings, sandbox_suite, workers=2, gpus_per_worker=2)
    with pytest.raises(PavError, match="above 1 must be a whole number"):                 # Ray's rule, said before any actor starts
        RayFarm(VideoGenerator.from_target("sandbox").settings, sandbox_suite, gpus_per_worker=1.5)


# The driver's own named points (the others are visited in the workers): videos cached and scored but the scores
# not stored, a round stored but the next not started, an operator reply received but not stored.
DRIVER_POINTS = ["after_render:1", "between_iterations:1", "operator_call:1"]


def test_pav_evolve_ray_driver_killed_at_each_point_resumes(ray_cluster, pav, operator, tmp_path, offline_env):
    """`pav evolve --ray ADDRESS` (joining the module's cluster, one worker) SIGKILLed at each of the driver's named
    points, then `--ray auto` (a cluster of its own) finishes the run with the store of an uninterrupted local run."""
    (tmp_path / "prompts.txt").write_text("\n".join(SOURCES[:2]) + "\n")
    args = ["evolve", "--prompts", str(tmp_path / "prompts.txt"), "--target", "sandbox", "--suite", "sandbox",
            "--operator", operator.url + "#gpt-4o", "--preset", "tiny", "--out"]
    ref = pav(*args, str(tmp_path / "local"), env=dict(offline_env, PAV_CACHE=str(tmp_path / "ref-cache")))
    assert ref.returncode == 0, ref.stderr[-3000:]
    env, run = dict(offline_env, PAV_CACHE=str(tmp_path / "cache")), [*args, str(tmp_path / "run")]
    address = ray_cluster.get_runtime_context().gcs_address
    for point in DRIVER_POINTS:
        r = pav(*run, "--ray", address, "--gpus-per-worker", "3", env=env, kill_at=point)
        assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr[-2000:])      # died at that point
    r = pav(*run, "--ray", "auto", env=env)                                                    # resume, on a cluster of its own
    assert r.returncode == 0, r.stderr[-3000:]
    assert candidate_rows(tmp_path / "run", "failed") == candidate_rows(tmp_path / "local", "failed")
    assert (json.loads((tmp_path / "run" / "history.json").read_text())
            == json.loads((tmp_path / "local" / "history.json").read_text()))
    done = (tmp_path / "cache" / "videos" / "renders.log").read_text().split()
    assert len(done) == len(set(done)) == 2 * 5                                  # no video rendered twice, none lost
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["candidates"] == 2 * 5 and s["farm"]["batches"] >= 1 and not s["farm"].get("failed_items"), s
    deadline = time.monotonic() + 120                                            # Ray reaps a dead driver's workers
    while ray_cluster.available_resources().get("GPU") != 3 and time.monotonic() < deadline: time.sleep(0.5)
    assert ray_cluster.available_resources().get("GPU") == 3                      # the killed drivers' workers are gone


def tiny_booster():
    "The tiny random LM as an SFT booster (loaded from the shared asset cache, before a test moves PAV_CACHE)."
    from prompt_a_video.booster import PromptBooster
    return PromptBooster.from_pretrained("asset:tiny-lm", template="official", temperature=1.0, max_new_tokens=20)


def test_build_dpo_on_ray_matches_local(farm, tmp_path, monkeypatch):
    from prompt_a_video.data import DPODataConfig, build_dpo_triples
    booster, cfg = tiny_booster(), DPODataConfig.tiny()
    fresh_cache(monkeypatch, tmp_path, "cache-local")
    ds, counts, _ = build_dpo_triples(booster, SOURCES, VideoGenerator.from_target("sandbox"), sandbox_suite(cache=False),
                                      tmp_path / "local", cfg, progress=False)
    fresh_cache(monkeypatch, tmp_path, "cache-ray")
    f = farm(2)
    ds2, counts2, _ = build_dpo_triples(booster, SOURCES, VideoGenerator.from_target("sandbox"), None, tmp_path / "ray", cfg,
                                        progress=False, farm=f)
    assert rows(tmp_path / "ray") == rows(tmp_path / "local") and len(rows(tmp_path / "local")) == 3 * cfg.candidates
    assert counts2 == counts and ds2["chosen"] == ds["chosen"] and ds2["rejected"] == ds["rejected"]
    assert f.stats["batches"] == 3 * cfg.candidates and sum(f.done.values()) == 3 * cfg.candidates     # all rendered on Ray


def test_pav_eval_ray_matches_local(ray_cluster, tmp_path, monkeypatch, caplog):
    "`pav eval --ray auto` in this process joins the module's cluster (3 workers) and reports what the local run does."
    from prompt_a_video.cli import main
    (tmp_path / "prompts.txt").write_text("\n".join(SOURCES) + "\n")
    args = ["eval", "--prompts", str(tmp_path / "prompts.txt"), "--methods", "identity", "--seeds", "0", "1",
            "--target", "sandbox", "--suite", "sandbox", "--vbench-export"]
    fresh_cache(monkeypatch, tmp_path, "cache-local")
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    fresh_cache(monkeypatch, tmp_path, "cache-ray")
    with caplog.at_level(logging.INFO, logger="prompt_a_video"):
        assert main([*args, "--out", str(tmp_path / "ray"), "--ray", "auto"]) == 0
    assert "videos per worker: w0 " in caplog.text                                       # the per-worker counts are logged
    local, ray = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("local", "ray"))
    assert ray["rows"] == local["rows"] and ray["per_prompt"] == local["per_prompt"]
    assert len((tmp_path / "cache-ray" / "videos" / "renders.log").read_text().split()) == 2 * len(SOURCES)   # rendered on Ray
    for p in SOURCES:                                                                      # the VBench files, from the cache
        assert (tmp_path / "ray" / "vbench" / "identity" / f"{p}-1.mp4").read_bytes() == \
               (tmp_path / "local" / "vbench" / "identity" / f"{p}-1.mp4").read_bytes()


def test_pav_grpo_on_ray_matches_local(ray_cluster, tmp_path, monkeypatch):
    "`pav grpo --ray auto` (in this process: the module's cluster, 3 workers) trains the adapter the local run trains."
    import os
    from pathlib import Path
    from safetensors.torch import load_file
    from prompt_a_video.cli import main
    assets = Path(os.environ.get("PAV_CACHE") or Path.home() / ".cache" / "prompt_a_video") / "assets"
    assert main(["sft", "--preset", "tiny", "--out", str(tmp_path / "sft")]) == 0
    (tmp_path / "prompts.txt").write_text("\n".join(SOURCES) + "\n")
    args = ["grpo", "--booster", str(tmp_path / "sft"), "--prompts", str(tmp_path / "prompts.txt"), "--target", "sandbox",
            "--suite", "sandbox", "--preset", "tiny", "--out"]
    for name in ("local", "ray"):
        fresh_cache(monkeypatch, tmp_path, f"cache-{name}")
        (tmp_path / f"cache-{name}").mkdir(); (tmp_path / f"cache-{name}" / "assets").symlink_to(assets)   # the tiny LM
        assert main([*args, str(tmp_path / name), *(["--ray", "auto"] if name == "ray" else [])]) == 0
    a, b = (load_file(str(tmp_path / d / "adapter_model.safetensors")) for d in ("local", "ray"))
    assert sorted(a) == sorted(b) and all(torch_equal(a[k], b[k]) for k in a)          # the same training, bitwise
    assert (tmp_path / "ray" / "rewrites.jsonl").read_text() == (tmp_path / "local" / "rewrites.jsonl").read_text()
    log = (tmp_path / "cache-ray" / "videos" / "renders.log").read_text().split()
    assert len(log) == len(set(log)) == 4 * 2 * 4                                         # every rewrite rendered on Ray, once


def torch_equal(x, y):
    import torch
    return torch.equal(x, y)
