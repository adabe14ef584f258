#!/usr/bin/env python3
"""Draws results/loss.png from results/vae_loss.csv and results/unet_loss.csv (PIL only: no plotting package here).
Left: the VAE's reconstruction MSE per step; right: the UNet's ε-MSE (mean of each 50 steps). Log-scale y axes."""
import csv
import math
import os

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name, column):
    with open(os.path.join(HERE, "results", name)) as f:
        rows = list(csv.DictReader(f))
    return [(float(r["step"]), float(r[column])) for r in rows]


def panel(draw, box, points, title):
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline="black")
    xs = [p[0] for p in points]
    ys = [math.log10(p[1]) for p in points]
    lo, hi = math.floor(min(ys)), math.ceil(max(ys))
    sx = lambda x: x0 + (x - min(xs)) / (max(xs) - min(xs)) * (x1 - x0)
    sy = lambda y: y1 - (y - lo) / (hi - lo) * (y1 - y0)
    for decade in range(lo, hi + 1):
        draw.line([(x0, sy(decade)), (x1, sy(decade))], fill=(220, 220, 220))
        draw.text((x0 - 38, sy(decade) - 6), f"1e{decade}", fill="black")
    draw.line([(sx(x), sy(y)) for x, y in zip(xs, ys)], fill=(31, 119, 180), width=2)
    draw.text((x0, y0 - 16), title, fill="black")
    draw.text((x1 - 60, y1 + 4), f"step {int(max(xs))}", fill="black")


def main():
    img = Image.new("RGB", (900, 360), "white")
    draw = ImageDraw.Draw(img)
    panel(draw, (60, 40, 420, 320), read("vae_loss.csv", "mse"), "VAE reconstruction MSE (per step)")
    panel(draw, (510, 40, 870, 320), read("unet_loss.csv", "mean_loss_last_50"), "UNet epsilon MSE (mean of 50 steps)")
    img.save(os.path.join(HERE, "results", "loss.png"))


if __name__ == "__main__":
    main()
