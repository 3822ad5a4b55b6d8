"""Booster generation speed: Llama-3-8B + LoRA (random weights), 600-token instruction + 128 new tokens.

Variants, one process, same inputs: the released code's loop (PEFT adapter unmerged, plain `generate`),
the adapter merged into the weights, and merged + static KV cache (which generate compiles). Batch 1 and 64.
Reports new tokens/s, prompts/s, the speed-up over the released loop at the same batch, and the share
of the memory-bandwidth floor (weights read once per decoding step, at the copy bandwidth measured
in the same run). Needs a CUDA GPU.

    python benchmarks/booster_generation.py [--batches 1 64] [--no-compile]
"""
import argparse
import time

import torch

from prompt_a_video.core import format_table

LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192,
                 rms_norm_eps=1e-5, bos_token_id=128000, eos_token_id=128009)


def copy_bandwidth() -> float:
    "Device-to-device copy, bytes read + written per second."
    x = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
    for _ in range(3): y.copy_(x)
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(10): y.copy_(x)
    torch.cuda.synchronize()
    bw = 10 * 2 * x.numel() / (time.perf_counter() - t0)
    del x, y; torch.cuda.empty_cache()
    return bw


def timed_generate(model, ids, new_tokens, **kw):
    torch.cuda.synchronize(); t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=True, temperature=1.0, top_p=1.0, top_k=50,
                             pad_token_id=0, **kw)
    torch.cuda.synchronize()
    assert out.shape[1] == ids.shape[1] + new_tokens
    return time.perf_counter() - t0


def main():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--prompt-tokens", type=int, default=600)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    bw = copy_bandwidth()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        base = LlamaForCausalLM(LlamaConfig(**LLAMA3_8B)).eval()
    torch.set_default_dtype(torch.float32)
    lora = LoraConfig(r=16, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                      init_lora_weights=False)
    model = get_peft_model(base, lora).eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in base.parameters())
    floor1 = (bw / 2) / weight_bytes                       # tokens/s at batch 1 if decoding only reads the weights once
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | copy {bw / 1e12:.2f} TB/s | "
          f"weights {weight_bytes / 1e9:.2f} GB | batch-1 floor {floor1:.0f} tokens/s")
    ids = {b: torch.randint(1000, 100000, (b, a.prompt_tokens), device="cuda") for b in a.batches}
    rows = []

    def run(name, m, **kw):
        for b in a.batches:
            timed_generate(m, ids[b][:, :64], 8, **kw)        # warm-up (compiles where compiled)
            if kw.get("cache_implementation") == "static": timed_generate(m, ids[b], 8, **kw)
            s = timed_generate(m, ids[b], a.new_tokens, **kw)
            tps = b * a.new_tokens / s
            rows.append({"variant": name, "batch": b, "seconds": round(s, 2), "new tokens/s": round(tps, 1),
                         "prompts/s": round(b / s, 2), "share of floor": f"{100 * tps / (floor1 * b):.0f}%",
                         "peak GB": round(torch.cuda.max_memory_allocated() / 1e9, 1)})
            print(rows[-1], flush=True)

    run("released loop (adapter unmerged)", model)
    merged = model.merge_and_unload().eval()
    run("adapter merged", merged)
    if not a.no_compile:        # with a static cache, transformers' generate compiles the decoding step itself
        try: run("merged + static cache (compiled)", merged, cache_implementation="static")
        except Exception as e: print(f"static cache + compile failed: {type(e).__name__}: {str(e)[:300]}")
    for r in rows:
        ref = next(x for x in rows if x["batch"] == r["batch"])
        r["speed-up"] = round(r["new tokens/s"] / ref["new tokens/s"], 2)
    print(format_table(rows))


if __name__ == "__main__":
    main()
