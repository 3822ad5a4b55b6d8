"""The `pav` CLI end to end, in subprocesses, as a user runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_a_video.assets import ASSETS
from prompt_a_video.cli import main


def test_help_lists_subcommands(pav):
    r = pav("--help")
    assert r.returncode == 0
    assert "assets" in r.stdout and "COMMAND" in r.stdout


def test_subcommand_help(pav):
    r = pav("assets", "--help")
    assert r.returncode == 0
    assert "--prepare" in r.stdout and "--json" in r.stdout


def test_version(pav):
    import prompt_a_video
    r = pav("--version")
    assert r.returncode == 0 and prompt_a_video.__version__ in r.stdout


def test_unknown_subcommand_fails_helpfully(capsys):
    assert main(["frobnicate"]) == 2
    out, err = capsys.readouterr()
    assert "invalid choice: 'frobnicate'" in err
    assert "assets" in err               # the message lists the valid subcommands
    assert out == ""


def test_no_subcommand_is_a_usage_error(capsys):
    assert main([]) == 2 and "COMMAND" in capsys.readouterr().err


def test_assets_prepare_then_list(pav, offline_env):
    r = pav("assets", "--prepare", env=offline_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["name", "status", "size", "path"]
    rows = {l.split()[0]: l.split() for l in lines[2:]}
    assert set(rows) == set(ASSETS)
    assert all(row[1] == "ready" for row in rows.values()), r.stdout
    # paths are shortened: the home folder to ~, site-packages and the working folder dropped; a cache elsewhere
    # (PAV_CACHE outside both) shows in full
    shown = ("~/", "site-packages/", ".pav-cache/", offline_env["PAV_CACHE"].rstrip("/") + "/")
    assert all(row[-1].startswith(shown) for row in rows.values()), r.stdout
    js = pav("assets", "--json", env=offline_env, timeout=300)
    for j in map(json.loads, js.stdout.splitlines()):   # the JSON keeps full paths: each exists
        assert Path(j["path"]).exists(), j
    r = pav("assets", "--json", env=offline_env)
    assert r.returncode == 0
    js = [json.loads(l) for l in r.stdout.splitlines()]
    assert [j["name"] for j in js] == list(ASSETS) and {j["status"] for j in js} == {"ready"}


def test_assets_in_fresh_cache_are_not_prepared(pav, offline_env, tmp_path):
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    r = pav("assets", "--json", env=env)
    assert r.returncode == 0, r.stderr
    st = {j["name"]: j["status"] for j in map(json.loads, r.stdout.splitlines())}
    assert st["tiny-lm"] == "not prepared" and st["smollm2"] == "not prepared"
    assert st["vbench-prompts"] == "ready"          # used in place from its package
    assert not (tmp_path / "cache" / "assets" / "tiny-lm-v1").exists()   # listing prepares nothing


def test_unknown_asset_name(capsys):
    assert main(["assets", "--prepare", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown asset(s) ['nope']" in err and "tiny-cogvideox" in err
    assert "Traceback" not in err


def test_missing_package_names_install_command(pav_bin, offline_env):
    """An asset whose package is not installed: status row and loader both name the pip command."""
    from prompt_a_video.assets import Asset, AssetError, asset_status, package_dir
    ASSETS["not-here"] = Asset("not-here", "an asset whose package is absent",
                               lambda: package_dir("pav_absent_pkg", "pav-absent-pkg==9.9"), "pav-absent-pkg==9.9",
                               "pav_absent_pkg")
    try:
        row = asset_status("not-here")
        assert row["status"] == "missing package"
        assert row["path"] == "pip install --no-deps pav-absent-pkg==9.9"
        with pytest.raises(AssetError, match=r"pip install --no-deps pav-absent-pkg==9\.9"):
            ASSETS["not-here"].get()
    finally:
        del ASSETS["not-here"]


def test_concurrent_prepare_is_safe(tmp_path, offline_env):
    """Two processes building the same asset into an empty cache both succeed; one entry, no temp left."""
    env = dict(offline_env, PAV_CACHE=str(tmp_path / "cache"))
    code = "from prompt_a_video.assets import tiny_cogvideox_dir as f; print(f())"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    entries = os.listdir(tmp_path / "cache" / "assets")
    assert entries == [ASSETS["tiny-cogvideox"].cache_key], entries
    from diffusers import CogVideoXPipeline
    CogVideoXPipeline.from_pretrained(paths.pop())   # complete and loadable
