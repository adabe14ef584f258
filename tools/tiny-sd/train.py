#!/usr/bin/env python3
"""Trains the tiny text-to-image model on the 10,000 digits and writes it in the Optimum ONNX layout.

Phases (all in one run, resumable from the checkpoints in --work):
  1. VAE (diffusers' AutoencoderKL, 32x32x3 -> 4x8x8): MSE reconstruction + a small KL term.
  2. Latents of every digit (posterior mean and std); scaling_factor = 1 / std of posterior samples, as SD measured its own.
  3. Text encoder (text_encoder.py) and UNet (diffusers' UNet2DConditionModel) jointly: epsilon prediction, SD's
     scaled-linear schedule, captions from captions.py (10 % empty), Adam with warm-up and cosine decay, EMA.
  4. Export (export.py) of the EMA weights into models/tiny-sd/.
One thread (torch.set_num_threads(1)); every random draw comes from the seed, so a rerun on the same machine
reproduces the files.

Usage: OMP_NUM_THREADS=1 python3 tools/tiny-sd/train.py [--vae-steps N --unet-steps N]
"""
import argparse
import csv
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import common as C
from captions import attributes, training_caption
from clip_bpe import ClipBpe
from text_encoder import TinyClipTextModel


def log(msg, t0):
    print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)


def lr_at(step, total, peak, warmup, cosine=True):
    """Linear warm-up, then cosine decay to 1e-5 (VAE) or constant (UNet: so that a run stopped by the time limit
    after K steps is exactly the run of --unet-steps K)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if not cosine:
        return peak
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_vae(args, x, t0):
    AutoencoderKL, _ = C.diffusers_models()
    torch.manual_seed(args.seed)
    vae = AutoencoderKL(**C.VAE)
    opt = torch.optim.Adam(vae.parameters(), lr=args.vae_lr)
    g = torch.Generator().manual_seed(args.seed + 1)
    rows = []
    n = x.shape[0]
    for step in range(args.vae_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.vae_steps, args.vae_lr, 100)
        idx = torch.randint(0, n, (args.vae_batch,), generator=g)
        batch = x[idx]
        post = vae.encode(batch).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        mse = F.mse_loss(rec, batch)
        kl = 0.5 * (post.mean ** 2 + post.var - 1.0 - post.logvar).mean()
        loss = mse + args.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rows.append((step + 1, float(mse), float(kl), time.time() - t0))
        if (step + 1) % args.log_every == 0:
            m = np.mean([r[1] for r in rows[-args.log_every:]])
            log(f"vae step {step + 1}/{args.vae_steps} mse {m:.5f} kl {float(kl):.3f}", t0)
    return vae, rows


@torch.no_grad()
def encode_all(vae, x):
    means, stds = [], []
    for i in range(0, x.shape[0], 500):
        post = vae.encode(x[i:i + 500]).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


def train_unet(args, mean, std, scaling, labels, attrs, bpe, t0):
    _, UNet2DConditionModel = C.diffusers_models()
    torch.manual_seed(args.seed + 2)
    text = TinyClipTextModel(**C.TEXT)
    unet = UNet2DConditionModel(**C.UNET)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    ema = [p.detach().clone() for p in params]
    ac = C.alphas_cumprod()
    g = torch.Generator().manual_seed(args.seed + 3)
    rng = np.random.default_rng(args.seed + 4)
    token_cache = {}

    def ids_of(caption):
        if caption not in token_cache:
            token_cache[caption] = bpe.frame(caption)
        return token_cache[caption]

    n = mean.shape[0]
    rows = []
    for step in range(args.unet_steps):
        if args.max_seconds and time.time() - t0 > args.max_seconds:
            log(f"time limit reached after {step} steps: rerun with --unet-steps {step} to repeat this run", t0)
            save_ema(args, text, unet, params, ema)
            break
        lr = lr_at(step, args.unet_steps, args.lr, 200, cosine=False)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n, (args.batch,), generator=g)
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g)) * scaling
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, C.NUM_TRAIN_TIMESTEPS, (args.batch,), generator=g)
        a = ac[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        caps = [training_caption(rng, labels[i], attrs["weight"][i], attrs["size"][i], attrs["slant"][i]) for i in idx.tolist()]
        # encode each distinct caption of the batch once (there are at most 271 captions in all)
        unique = sorted(set(caps))
        where = torch.tensor([unique.index(c) for c in caps])
        hidden = text(torch.tensor([ids_of(c) for c in unique], dtype=torch.int64))[0][where]
        pred = unet(zt, t, encoder_hidden_states=hidden).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        rows.append((step + 1, float(loss), lr, time.time() - t0))
        if (step + 1) % args.log_every == 0:
            m = np.mean([r[1] for r in rows[-args.log_every:]])
            log(f"unet step {step + 1}/{args.unet_steps} loss {m:.5f} lr {lr:.2e}", t0)
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.unet_steps:
            save_ema(args, text, unet, params, ema)
    return rows


def save_ema(args, text, unet, params, ema):
    """Writes the EMA weights (the ones exported) to the work folder."""
    live = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, e in zip(params, ema):
            p.copy_(e)
    torch.save({"text": text.state_dict(), "unet": unet.state_dict()}, os.path.join(args.work, "text_unet_ema.pt"))
    with torch.no_grad():
        for p, l in zip(params, live):
            p.copy_(l)


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in r])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(C.ROOT, ".scratch", "data", "mnist10k.npz"))
    ap.add_argument("--work", default=os.path.join(C.ROOT, ".scratch", "tiny-sd"))
    ap.add_argument("--results", default=os.path.join(C.HERE, "results"))
    ap.add_argument("--seed", type=int, default=3030)
    ap.add_argument("--vae-steps", type=int, default=250)
    ap.add_argument("--vae-batch", type=int, default=32)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--kl-weight", type=float, default=1e-4)
    ap.add_argument("--unet-steps", type=int, default=3000)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop the UNet phase after this many seconds of the run (0: none)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--skip-export", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(1)
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    C.seed_everything(args.seed)
    images, labels, x = C.load_images(args.data)
    attrs = attributes(images, labels)
    bpe = ClipBpe(C.TOKENIZER)

    vae_file = os.path.join(args.work, "vae.pt")
    if os.path.exists(vae_file):
        AutoencoderKL, _ = C.diffusers_models()
        vae = AutoencoderKL(**C.VAE)
        vae.load_state_dict(torch.load(vae_file))
        log("vae loaded from the work folder", t0)
    else:
        vae, rows = train_vae(args, x, t0)
        torch.save(vae.state_dict(), vae_file)
        write_csv(os.path.join(args.results, "vae_loss.csv"), ["step", "mse", "kl", "seconds"], rows)
    vae.eval()
    mean, std = encode_all(vae, x)
    g = torch.Generator().manual_seed(args.seed + 5)
    sample = mean + std * torch.randn(mean.shape, generator=g)
    scaling = float(1.0 / sample.flatten().std())
    with torch.no_grad():
        rec = vae.decode(mean[:1000]).sample
    rec_mse = float(F.mse_loss(rec, x[:1000]))
    log(f"latents {tuple(mean.shape)}: std {float(sample.std()):.4f}, scaling_factor {scaling:.5f}, reconstruction mse {rec_mse:.5f}", t0)
    stats = {"scaling_factor": scaling, "latent_std": float(sample.std()), "latent_mean": float(sample.mean()),
             "vae_reconstruction_mse_first_1000": rec_mse, "seed": args.seed, "vae_steps": args.vae_steps,
             "unet_steps": args.unet_steps, "batch": args.batch}

    rows = train_unet(args, mean, std, scaling, labels, attrs, bpe, t0)
    stats["unet_steps_done"] = len(rows)
    write_csv(os.path.join(args.results, "unet_loss.csv"), ["step", "loss", "lr", "seconds"], rows)
    stats["seconds"] = time.time() - t0
    with open(os.path.join(args.results, "training.json"), "w") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    if not args.skip_export:
        import export
        export.export_all(args.work, scaling)
    log("done", t0)


if __name__ == "__main__":
    main()
