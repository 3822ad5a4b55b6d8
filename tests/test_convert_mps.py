"""`pav assets --convert-mps`: the released MPS file (a pickled model object) becomes a .safetensors state dict without
running any code from the pickle; hostile pickles are refused with exit 1, no output file and no side effect."""
import os
import pickle

import pytest
import torch

from prompt_a_video.cli import main
from prompt_a_video.rewards.mps import save_mps_standin


class _Evil:
    "An object whose unpickling calls `fn(*args)`."
    def __init__(self, fn, *args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)


def test_convert_standin(tmp_path, capsys):
    import safetensors.torch
    src = save_mps_standin(tmp_path / "MPS_overall_checkpoint.pth")
    out = tmp_path / "converted" / "mps.safetensors"
    assert main(["assets", "--convert-mps", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert '"object": "trainer.models.clip_model.CLIPModel"' in printed and str(out) in printed
    sd = safetensors.torch.load_file(out)
    assert any(k.startswith("cross_model.layers.0.0.fn.") for k in sd) and "model.logit_scale" in sd
    assert main(["assets", "--convert-mps", str(src)]) == 0                       # default: beside the file
    assert (tmp_path / "MPS_overall_checkpoint.safetensors").is_file()


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_hostile_refused(tmp_path, capsys, how):
    marker, out = tmp_path / "PWNED", tmp_path / "out.safetensors"
    evil = _Evil(os.system, f"touch {marker}")
    src = tmp_path / "evil.pth"
    src.write_bytes(pickle.dumps(evil)) if how == "pickle" else torch.save({"w": torch.ones(2), "x": evil}, src)
    assert main(["assets", "--convert-mps", str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"calls {os.system.__module__}.system" in err and "refused" in err
    assert not marker.exists() and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.pth"]


def test_bad_input(tmp_path, capsys):
    assert main(["assets", "--out", str(tmp_path / "x.safetensors")]) == 1
    assert "give --convert-mps FILE too" in capsys.readouterr().err
    assert main(["assets", "--convert-mps", str(tmp_path / "missing.pth")]) == 1
    assert "no file at" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a pickle")
    assert main(["assets", "--convert-mps", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o.safetensors")]) == 1
    assert "could not be read" in capsys.readouterr().err and not (tmp_path / "o.safetensors").exists()
