"""Open-Sora 1.2 at full size with random weights on one GPU: seconds per video and peak memory.

Run on a CUDA machine from the repository root:  python benchmarks/opensora_speed.py
It builds STDiT3-XL/2 (1.1 B), the full Open-Sora VAE and a T5-v1.1-XXL encoder (4.7 B) with random weights
in bf16 (no checkpoint, no tokenizer: token ids are random), then renders one video per setting exactly
as `OpenSoraPipeline.__call__` does (T5 -> 30 guided rectified-flow steps -> VAE decode), timing each part.
Open-Sora's published figures (README of v1.2.0, "On a 80G H100 GPU, the generation speed and peak memory usage",
2 s videos): 480p 29 s, 31 GB; 720p 68 s, 41 GB.
"""
import math, sys, time
import torch

from prompt_a_video.opensora import (STDiT3, STDiT3Config, guidance_inputs, rflow_sample, rflow_timesteps)
from prompt_a_video.opensora_vae import OpenSoraVAE

DRY = "--dry" in sys.argv   # a CPU smoke test of this script with tiny sizes
dev, dt = (torch.device("cpu"), torch.float32) if DRY else (torch.device("cuda"), torch.bfloat16)
PUBLISHED_H100 = {"480p": (29.0, 31), "720p": (68.0, 41)}   # seconds, peak GB
SETTINGS = [("480p", 32, 48, 17), ("720p (paper)", 48, 64, 17)] if DRY else [("480p", 480, 848, 51), ("720p (paper)", 720, 1280, 51)]


def random_init_(model: torch.nn.Module, std: float = 0.02, seed: int = 0):
    "Materialise a meta-built model on the GPU with N(0, std) weights (norm weights 1, RoPE table exact)."
    model.to_empty(device=dev)
    torch.manual_seed(seed)
    with torch.no_grad():
        for n, p in list(model.named_parameters()) + list(model.named_buffers()):
            if n.endswith("rope.freqs"):
                d = p.numel() * 2
                p.copy_(1.0 / 10000 ** (torch.arange(0, d, 2, device=dev).float() / d))
            elif "norm" in n and n.endswith("weight"): p.fill_(1.0)
            elif p.is_floating_point(): p.normal_(0, std)
    return model


def t5_xxl():
    from transformers import T5Config, T5EncoderModel
    cfg = T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                   feed_forward_proj="gated-gelu", relative_attention_num_buckets=32)
    if DRY: cfg = T5Config(vocab_size=32128, d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4, feed_forward_proj="gated-gelu")
    with torch.device("meta"): m = T5EncoderModel(cfg)
    return random_init_(m, std=0.01).to(dt).eval()


def sync():
    if not DRY: torch.cuda.synchronize()

def sync_time(fn):
    sync(); t0 = time.perf_counter(); out = fn(); sync()
    return out, time.perf_counter() - t0


@torch.no_grad()
def render(tr, vae, te, h, w, f, steps=30, cfg=7.0, n_tokens=40):
    ids = torch.randint(0, 32128, (1, 300), device=dev)
    mask = torch.zeros(1, 300, dtype=torch.long, device=dev); mask[:, :n_tokens] = 1
    (y,), t_text = sync_time(lambda: (te(input_ids=ids, attention_mask=mask).last_hidden_state,))
    y = torch.randn(1, 300, tr.config.caption_channels, device=dev, dtype=dt)   # random T5 weights give no meaningful states
    y2, m2 = guidance_inputs(tr, y, mask)
    shape = (1, 4, *vae.get_latent_size([f, h, w]))
    z = torch.randn(shape, generator=torch.Generator().manual_seed(42)).to(dev, dt).float()
    fn = lambda zz, tt: tr(zz, tt, y2, m2, fps=24, height=h, width=w)
    z, t_loop = sync_time(lambda: rflow_sample(fn, z, rflow_timesteps(steps, h, w, f), cfg))
    x, t_vae = sync_time(lambda: vae.decode(z.to(dt), num_frames=f))
    assert x.shape == (1, 3, f, h, w), x.shape
    return t_text, t_loop, t_vae


def main():
    if DRY:
        torch.cuda.get_device_name = lambda: "cpu (dry run)"; torch.cuda.empty_cache = lambda: None
        torch.cuda.reset_peak_memory_stats = lambda: None; torch.cuda.memory_allocated = lambda: 0
        torch.cuda.max_memory_allocated = lambda: 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16, attention: "
          f"torch scaled_dot_product_attention (flash for self-attention; cross-attention with its key-padding mask "
          f"takes the memory-efficient kernel)")
    t0 = time.perf_counter()
    from prompt_a_video.opensora_vae import OpenSoraVAEConfig
    with torch.device("meta"): tr = STDiT3(STDiT3Config.tiny() if DRY else STDiT3Config.xl2())
    tr = random_init_(tr).to(dt).eval()
    vae = OpenSoraVAE(OpenSoraVAEConfig.tiny() if DRY else None).to(dev, dt).eval()
    te = t5_xxl()
    n = lambda m: sum(p.numel() for p in m.parameters()) / 1e9
    print(f"built in {time.perf_counter() - t0:.0f} s: STDiT3 {n(tr):.3f} B, VAE {n(vae):.3f} B, T5 {n(te):.3f} B parameters")
    render(tr, vae, te, 32, 32, 17, steps=2) if DRY else render(tr, vae, te, 240, 432, 17, steps=2)                 # warm-up (kernels, allocator)
    rows = []
    for name, h, w, f in SETTINGS:
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        tt, tl, tv = render(tr, vae, te, h, w, f)
        peak = torch.cuda.max_memory_allocated() / 2**30
        rows.append((name, h, w, f, tt, tl, tv, tt + tl + tv, peak, base / 2**30))
        print(f"{name}: text {tt:.2f} s, 30 steps {tl:.1f} s, VAE decode {tv:.1f} s", flush=True)
    print()
    print("| setting | size (HxW, frames) | T5 s | 30 steps x cfg s | VAE decode s | total s/video | peak GiB (weights GiB) | Open-Sora H100: s, peak GB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, h, w, f, tt, tl, tv, tot, peak, base in rows:
        pub = PUBLISHED_H100["480p" if name.startswith("480") else "720p"]
        print(f"| {name} | {h}x{w}, {f} | {tt:.2f} | {tl:.1f} | {tv:.1f} | {tot:.1f} | {peak:.1f} ({base:.1f}) | {pub[0]:.0f} s, {pub[1]} GB |")


if __name__ == "__main__":
    main()
