"""`pav score` end to end on real video, in subprocesses; bad input in process."""
import json

import numpy as np
import pytest

from prompt_a_video.assets import sample_video_path
from prompt_a_video.cli import main
from prompt_a_video.media import Video, load_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    "A short real clip, the same clip frozen, and the clip with burned-in text."
    import cv2
    d = tmp_path_factory.mktemp("clips")
    v = load_video(sample_video_path(), max_frames=24)
    small = np.stack([cv2.resize(f, (320, 180)) for f in v.frames])
    texted = small.copy()
    for f in texted: cv2.putText(f, "BIG SALE TODAY", (10, 100), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 3)
    paths = {}
    for name, fr in [("clip", small), ("frozen", np.repeat(small[:1], 24, 0)), ("texted", texted)]:
        paths[name] = str(Video(fr, fps=v.fps).save(d / f"{name}.mp4"))
    return paths


def test_score_offline_table_and_json(pav, offline_env, clips, tmp_path):
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    vids = [clips["clip"], clips["frozen"], clips["texted"]]
    r = pav("score", *vids, "--prompt", "a bunny in a meadow", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rows = {json.loads(l)["video"]: json.loads(l) for l in r.stdout.splitlines()}
    assert rows[clips["frozen"]]["MOTION"] < 0.01 < rows[clips["clip"]]["MOTION"]   # measured 0.0003 and 0.0945 (1 and 2 threads)
    assert rows[clips["texted"]]["TEXT"] > rows[clips["clip"]]["TEXT"]
    assert all(not x["failed"] for x in rows.values())
    # the table form, answered from the score cache this time
    r = pav("score", *vids, "--prompt", "a bunny in a meadow", env=env)
    head = r.stdout.splitlines()[0].split()
    assert head == ["video", "NIQE", "MOTION", "TEMPORAL", "TEXT", "FIDELITY", "failed"]
    assert len(list((tmp_path / "cache" / "scores").rglob("*.json"))) == 3


def test_score_candidate_prompts_change_fidelity(pav, offline_env, clips, tmp_path):
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    r = pav("score", clips["clip"], clips["clip"], "--prompt", "a corgi running on a beach",
            "--candidate", "a small dog runs along the seashore", "--candidate", "a tax form on a desk", "--json", env=env)
    assert r.returncode == 0, r.stderr
    fid = [json.loads(l)["FIDELITY"] for l in r.stdout.splitlines()]
    assert fid[0] > fid[1] + 0.3                                        # measured 0.61 apart (1 and 2 threads)


@pytest.mark.parametrize("args,message", [
    (["--prompt", "a", "--prompt", "b"], "2 --prompts for 1 videos"),
    (["--prompt", " "], "prompt 0 is blank"),
    (["--prompt", "a", "--suite", "paper"], "needs mps="),
])
def test_score_bad_input(clips, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setenv("PAV_CACHE", str(tmp_path / "cache"))
    code, err = main(["score", clips["clip"], *args]), capsys.readouterr().err
    assert code == 1 and message in err, err
    assert "Traceback" not in err


def test_score_unreadable_and_single_frame(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PAV_CACHE", str(tmp_path / "cache"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    assert main(["score", str(junk), "--prompt", "a"]) == 1 and "cannot read video" in capsys.readouterr().err
    one = Video(np.full((1, 64, 64, 3), 128, np.uint8)).save(tmp_path / "one.mp4")
    assert main(["score", str(one), "--prompt", "a grey square"]) == 1 and "needs at least 2" in capsys.readouterr().err
    assert main(["score", "--prompt", "a"]) == 2                # usage: VIDEO is required
    assert "VIDEO" in capsys.readouterr().err
