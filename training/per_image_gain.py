"""Where does the model gain? PSNR gain on fresh degradations of the train, val and test images, by source.

Each image gets 12 new 128 px pairs, made by online.py (no near-identity kernels, fixed seed), pooled into
one gain per image. The figures are medians over images, because a few flat images (gradients) make the
mean meaningless. No pair was seen in training, so a gap between train and val/test images is about the
images themselves.

  /usr/bin/python3 training/per_image_gain.py training/checkpoints/dense/best.pt
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402
from online import OnlineDegrader, kernel_bank, load_split_images  # noqa: E402


def pooled_gain(out, blurry, sharp):
    """dB gain of the image's 12 pairs pooled: 10 log10 of the ratio of mean squared errors."""
    mse_in = float(((blurry - sharp) ** 2).mean())
    mse_out = float(((out - sharp) ** 2).mean())
    return 10 * np.log10(max(mse_in, 1e-12) / max(mse_out, 1e-12))


def gains_by_source(model, images, bank, pairs=12):
    out = {}
    for group, image in images:
        degrader = OnlineDegrader([image], 128, bank, seed=7)
        sharp, blurry = degrader.batch(pairs)
        x = torch.from_numpy(blurry).permute(0, 3, 1, 2).float() / 255
        t = torch.from_numpy(sharp).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            y = model(x)
        out.setdefault(group.split(":")[0], []).append(pooled_gain(y, x, t))
    return out


def main():
    torch.set_num_threads(2)
    ckpt = torch.load(sys.argv[1], map_location="cpu")
    model = build(ckpt["config"])
    model.load_state_dict(ckpt["ema"])
    model.eval()
    cache = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache_v2")
    bank = kernel_bank(1000, 5)
    bank = bank[bank.max(axis=(1, 2)) < 0.9]  # no near-identity kernels: val and test have none
    for name in ("train", "val", "test"):
        by_source = gains_by_source(model, load_split_images(cache, name), bank)
        every = [g for v in by_source.values() for g in v]
        parts = "  ".join(f"{k} {np.median(v):+.2f} (n={len(v)})" for k, v in by_source.items())
        print(f"{name:5s} median over images {np.median(every):+.2f} dB (n={len(every)})   {parts}", flush=True)


if __name__ == "__main__":
    main()
