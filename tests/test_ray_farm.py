"""The Ray farm on a local CPU cluster with logical GPUs: the same store whatever the number of workers, a worker
killed mid-run restarts and its batch runs again (counted), a failing item fails once, and `pav evolve --ray auto`.

One cluster for the module (3 logical GPUs and 4 logical CPUs, a worker holding one of each): Ray's start is seconds, so it is shared. The sandbox target
and suite render and score in milliseconds; the operator is the deterministic loopback `rewrite_server`."""
import json
import math

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


def test_same_store_with_1_2_and_3_workers(farm, operator, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path, "ref-cache")
    ref = evolve(tmp_path / "local", operator)
    assert ref["candidates"] == 3 * (1 + 2 * 2) and ref["videos_rendered"] == 15
    for n in (1, 2, 3):
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


def test_pav_evolve_ray_auto(pav, operator, tmp_path, offline_env):
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    (tmp_path / "prompts.txt").write_text("\n".join(SOURCES[:2]) + "\n")
    r = pav("evolve", "--prompts", str(tmp_path / "prompts.txt"), "--out", str(tmp_path / "run"), "--target", "sandbox",
            "--suite", "sandbox", "--operator", operator.url + "#gpt-4o", "--preset", "tiny", "--ray", "auto", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["candidates"] == 2 * 5 and s["farm"]["batches"] == 10, s
