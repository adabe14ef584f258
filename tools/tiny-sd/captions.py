"""Measured attributes of each digit, and the captions built from them (stated, reproducible rules).

For a 28x28 digit with intensities p in [0, 1] (ink = 1):
  * stroke weight: ink mass m = sum(p). Within its own digit class, m at or above the class's 75th percentile is
    "bold", at or below the 25th percentile "thin" (so a bold 1 and a bold 8 are each bold for their kind).
  * slant: with the ink as weights, x to the right and y downwards, s = -cov(x, y) / var(y): the horizontal shift per
    row going up, positive when the top leans right. "leaning right" when s > 0 and s is at or above the class's 75th
    percentile; "leaning left" when s < 0 and s is at or below the class's 25th percentile (both need the sign, so a
    class that leans right throughout has few "left" digits).
  * size: the box around the pixels with p >= 0.5; its area (height x width) at or above the class's 80th percentile
    is "large", at or below the 20th "small".
Caption: "a [bold|thin] [small|large] handwritten N [leaning left|leaning right]". During training every attribute a
digit has is kept with probability 1/2 (so "a handwritten N" is the class as a whole), and 10 % of the captions are
empty (the unconditional case for classifier-free guidance)."""
import numpy as np

WEIGHT_Q, SLANT_Q, SIZE_Q = (25, 75), (25, 75), (20, 80)


def measure(images_uint8):
    """images uint8 [N,28,28] -> dict of float arrays: mass, slant, area."""
    p = images_uint8.astype(np.float64) / 255.0
    n, h, w = p.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    mass = p.sum(axis=(1, 2))
    mx = (p * xs).sum(axis=(1, 2)) / mass
    my = (p * ys).sum(axis=(1, 2)) / mass
    dx, dy = xs[None] - mx[:, None, None], ys[None] - my[:, None, None]
    cov_xy = (p * dx * dy).sum(axis=(1, 2)) / mass
    var_y = (p * dy * dy).sum(axis=(1, 2)) / mass
    slant = -cov_xy / var_y
    ink = p >= 0.5
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = h - np.argmax(rows, 1) - np.argmax(rows[:, ::-1], 1)
    width = w - np.argmax(cols, 1) - np.argmax(cols[:, ::-1], 1)
    return {"mass": mass, "slant": slant, "area": (height * width).astype(np.float64)}


def attributes(images_uint8, labels):
    """Per digit: weight in {'', 'bold', 'thin'}, size in {'', 'small', 'large'}, slant in {'', 'leaning left', 'leaning right'};
    plus the per-class thresholds used."""
    m = measure(images_uint8)
    n = len(labels)
    weight, size, slant = np.full(n, "", object), np.full(n, "", object), np.full(n, "", object)
    thresholds = {}
    for d in range(10):
        i = labels == d
        wl, wh = np.percentile(m["mass"][i], WEIGHT_Q)
        sl, sh = np.percentile(m["slant"][i], SLANT_Q)
        al, ah = np.percentile(m["area"][i], SIZE_Q)
        thresholds[d] = {"mass": [wl, wh], "slant": [sl, sh], "area": [al, ah]}
        weight[i & (m["mass"] >= wh)] = "bold"
        weight[i & (m["mass"] <= wl)] = "thin"
        slant[i & (m["slant"] >= sh) & (m["slant"] > 0)] = "leaning right"
        slant[i & (m["slant"] <= sl) & (m["slant"] < 0)] = "leaning left"
        size[i & (m["area"] >= ah)] = "large"
        size[i & (m["area"] <= al)] = "small"
    return {"weight": weight, "size": size, "slant": slant, "measures": m, "thresholds": thresholds}


def caption(digit, weight="", size="", slant=""):
    words = ["a"] + [w for w in (weight, size) if w] + ["handwritten", str(int(digit))] + ([slant] if slant else [])
    return " ".join(words)


def training_caption(rng, digit, weight, size, slant, empty_rate=0.1, keep=0.5):
    """The caption of one training example: empty with probability empty_rate, else each attribute kept with probability keep."""
    if rng.random() < empty_rate:
        return ""
    w = weight if weight and rng.random() < keep else ""
    z = size if size and rng.random() < keep else ""
    s = slant if slant and rng.random() < keep else ""
    return caption(digit, w, z, s)
