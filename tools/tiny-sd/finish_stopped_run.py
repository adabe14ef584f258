#!/usr/bin/env python3
"""Completes the results of a training run that was stopped after an EMA checkpoint (train.py writes them only at its
end): training.json (the scaling factor recomputed exactly as train.py computes it, from the saved VAE) and
unet_loss.csv from the run's log (mean loss of every 50 steps, as logged). The committed model came from such a run,
stopped after the checkpoint of step --steps; `train.py --unet-steps STEPS` repeats it (constant learning rate after
warm-up, so a run cut at step K and a run of K steps end in the same state).

Usage: python3 tools/tiny-sd/finish_stopped_run.py --steps 3000 [--log .scratch/tiny-sd/train.log]"""
import argparse
import csv
import json
import os
import re

import torch

import common as C
from train import encode_all


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--work", default=os.path.join(C.ROOT, ".scratch", "tiny-sd"))
    ap.add_argument("--log", default=os.path.join(C.ROOT, ".scratch", "tiny-sd", "train.log"))
    ap.add_argument("--data", default=os.path.join(C.ROOT, ".scratch", "data", "mnist10k.npz"))
    ap.add_argument("--seed", type=int, default=3030)
    ap.add_argument("--results", default=os.path.join(C.HERE, "results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    AutoencoderKL, _ = C.diffusers_models()
    vae = AutoencoderKL(**C.VAE)
    vae.load_state_dict(torch.load(os.path.join(args.work, "vae.pt")))
    vae.eval()
    _, _, x = C.load_images(args.data)
    mean, std = encode_all(vae, x)
    g = torch.Generator().manual_seed(args.seed + 5)
    sample = mean + std * torch.randn(mean.shape, generator=g)
    with torch.no_grad():
        rec_mse = float(torch.nn.functional.mse_loss(vae.decode(mean[:1000]).sample, x[:1000]))
    rows = []
    for line in open(args.log):
        m = re.match(r"\[\s*([\d.]+)s\] unet step (\d+)/\d+ loss ([\d.]+) lr ([\d.e+-]+)", line)
        if m and int(m.group(2)) <= args.steps:
            rows.append((int(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(1))))
    with open(os.path.join(args.results, "unet_loss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "mean_loss_last_50", "lr", "seconds"])
        w.writerows(rows)
    stats = {"scaling_factor": float(1.0 / sample.flatten().std()), "latent_std": float(sample.std()), "latent_mean": float(sample.mean()),
             "vae_reconstruction_mse_first_1000": rec_mse, "seed": args.seed, "vae_steps": 250, "unet_steps": args.steps, "batch": 32,
             "seconds_at_last_logged_step": rows[-1][3], "note": "run stopped after the EMA checkpoint of this step; loss rows from the log"}
    with open(os.path.join(args.results, "training.json"), "w") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
