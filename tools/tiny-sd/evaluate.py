#!/usr/bin/env python3
"""Quick check of a checkpoint in torch (the SDK's own measurement is the `tiny-sd` benchmark suite): DDIM with the
exported scheduler's settings (trailing spacing, eta 0), classifier-free guidance against the empty prompt, decode,
and the project's digit classifier on the centre 28x28 of the channel mean.

Usage: python3 tools/tiny-sd/evaluate.py [--per-digit 5] [--guidance 5] [--steps 20]"""
import argparse
import json
import os

import numpy as np
import torch

import common as C
from classifier import OnnxClassifier
from clip_bpe import ClipBpe
from export import load_trained


@torch.no_grad()
def sample(text, unet, vae, scaling, bpe, prompts, seeds, steps=20, guidance=5.0, negative=""):
    ac = C.alphas_cumprod().double()
    ts = (np.round(np.arange(C.NUM_TRAIN_TIMESTEPS, 0, -C.NUM_TRAIN_TIMESTEPS / steps)).astype(np.int64) - 1)
    cond = text(torch.tensor([bpe.frame(p) for p in prompts]))[0]
    uncond = text(torch.tensor([bpe.frame(negative)] * len(prompts)))[0]
    x = torch.stack([torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    for i, t in enumerate(ts):
        e = unet(torch.cat([x, x]), torch.tensor(float(t)), encoder_hidden_states=torch.cat([uncond, cond])).sample
        eu, ec = e.chunk(2)
        eps = eu + guidance * (ec - eu)
        a = float(ac[t])
        a_prev = float(ac[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return vae.decode(x / scaling).sample


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=os.path.join(C.ROOT, ".scratch", "tiny-sd"))
    ap.add_argument("--per-digit", type=int, default=5)
    ap.add_argument("--guidance", type=float, nargs="+", default=[5.0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--scaling", type=float, default=None)
    ap.add_argument("--grid", default=None, help="write a PNG grid (one row per digit) of the last guidance")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scaling = args.scaling or json.load(open(os.path.join(C.HERE, "results", "training.json")))["scaling_factor"]
    vae, text, unet = load_trained(args.work, scaling)
    clf = OnnxClassifier(os.path.join(C.ROOT, "models", "classifier", "model.onnx"))
    bpe = ClipBpe(C.TOKENIZER)
    digits = [d for d in range(10) for _ in range(args.per_digit)]
    seeds = [1000 + i for i in range(len(digits))]
    for w in args.guidance:
        img = sample(text, unet, vae, scaling, bpe, [f"a handwritten {d}" for d in digits], seeds, args.steps, w)
        pred = clf.logits(C.to_digit(img)).argmax(1).numpy()
        acc = (pred == np.array(digits)).mean()
        per = [(pred[np.array(digits) == d] == d).mean() for d in range(10)]
        print(f"guidance {w}: accuracy {acc:.3f}  per digit {np.round(per, 2).tolist()}", flush=True)
    if args.grid:
        import importlib.util  # the digits model's PNG helpers (its module is also called common)
        spec = importlib.util.spec_from_file_location("digits_common", os.path.join(C.ROOT, "tools", "digits-model", "common.py"))
        digits_common = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(digits_common)
        make_grid, write_png_gray = digits_common.make_grid, digits_common.write_png_gray
        g = C.to_digit(img)[:, 0].numpy()
        write_png_gray(args.grid, make_grid(g, 10, args.per_digit))


if __name__ == "__main__":
    main()
