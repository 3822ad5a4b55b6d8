"""Where VideoScore's time goes: image preprocessing vs the Idefics2-8B forward pass (random weights).

Times, for 16 frames of 480x720 per video and batches of 1 and 4 videos, the Idefics2 processor with
the PIL backend and with the torchvision backend (on the GPU), and the model forward alone.
Ratios are against the PIL processor at batch 1, from the same run. Needs a CUDA GPU.

    PAV_BENCH_TOKENIZER=<tokenizer folder> python benchmarks/videoscore_preprocessing.py
"""
import os
import time

import numpy as np
import torch
from PIL import Image

from prompt_a_video.core import format_table
from prompt_a_video.benchmarking import IDEFICS2_8B
from prompt_a_video.rewards.videoscore import VideoScoreModel, videoscore_prompt, idefics2_pil_processor_cls


def timed(fn, n=3):
    fn(); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n): out = fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n, out


def main():
    from transformers import AutoTokenizer, Idefics2Config, Idefics2Processor
    tok = AutoTokenizer.from_pretrained(os.environ["PAV_BENCH_TOKENIZER"])
    size = {"longest_edge": 980, "shortest_edge": 378}
    pil = Idefics2Processor(image_processor=idefics2_pil_processor_cls()(do_image_splitting=False, size=size),
                            tokenizer=tok, image_seq_len=64)
    procs = {"PIL": pil}
    try:
        from transformers import Idefics2ImageProcessor
        tok2 = AutoTokenizer.from_pretrained(os.environ["PAV_BENCH_TOKENIZER"])
        procs["torchvision"] = Idefics2Processor(image_processor=Idefics2ImageProcessor(do_image_splitting=False, size=size),
                                                 tokenizer=tok2, image_seq_len=64)
    except Exception as e:
        print("no torchvision image processor:", e)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        cfg = Idefics2Config(**{**IDEFICS2_8B, "text_config": {**IDEFICS2_8B["text_config"], "vocab_size": len(tok)}},
                             image_token_id=pil.image_token_id)
        model = VideoScoreModel(cfg).eval()
    torch.set_default_dtype(torch.float32)
    rng = np.random.default_rng(0)
    frames = [[Image.fromarray(rng.integers(0, 255, (480, 720, 3), dtype=np.uint8)) for _ in range(16)] for _ in range(4)]
    rows = []
    for b in (1, 4):
        texts = [videoscore_prompt("a corgi running on a beach at sunset", 16)] * b
        for name, proc in procs.items():
            kw = {"device": "cuda"} if name == "torchvision" else {}
            t_proc, enc = timed(lambda: proc(text=texts, images=frames[:b], return_tensors="pt", padding=True, **kw))
            enc = {k: v.to("cuda") for k, v in enc.items()}
            enc["pixel_values"] = enc["pixel_values"].to(torch.bfloat16)
            with torch.inference_mode():
                t_model, _ = timed(lambda: model(**enc))
            rows.append({"batch": b, "processor": name, "preprocess s/video": round(t_proc / b, 3),
                         "forward s/video": round(t_model / b, 3), "total s/video": round((t_proc + t_model) / b, 3),
                         "tokens/video": enc["input_ids"].shape[1]})
    base = rows[0]["total s/video"]
    for r in rows: r["speed-up"] = round(base / r["total s/video"], 2)
    print(torch.cuda.get_device_name(), "| transformers", __import__("transformers").__version__)
    print(format_table(rows))


if __name__ == "__main__":
    main()
