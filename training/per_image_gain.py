"""Does the model gain on images it never saw as much as on the images it trained on?

Every image of a split gets `--pairs` fresh pairs from the training degradation (degrade.py, a fixed seed, no
identity or clean pairs), so that no pair was seen in training; the pairs' errors are pooled into one gain per image,
and the figure is the median over images (a few flat images make a mean meaningless). A gap between the train
images and the val or test images is then about the images themselves: the version 2 model gained +3.9 dB on new
blur of its training pictures and +0.5 to +1.2 dB on unseen ones, because it had learned 127 images by heart.

  /usr/bin/python3 training/per_image_gain.py --ckpt training/checkpoints/fast/best.pt --datasets ../shared/datasets

The test split is bsds500/test and the Debian images behind tests/data/eval; the train split is sampled
(`--train-images`, spread over every set), since it has over a thousand images and frames.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import degrade  # noqa: E402
import sources  # noqa: E402
from model import build  # noqa: E402


def pooled_gain(out, blurry, sharp):
    """dB gain of an image's pairs pooled: 10 log10 of the ratio of mean squared errors."""
    mse_in = float(((blurry - sharp) ** 2).mean())
    mse_out = float(((out - sharp) ** 2).mean())
    return 10 * np.log10(max(mse_in, 1e-12) / max(mse_out, 1e-12))


@torch.no_grad()
def image_gain(model, image, pairs, crop, seed):
    d = degrade.Degradation(identity=0.0, clean=0.0)
    gen = degrade.PairGenerator([image], crop, seed, d, bank=image_gain.bank)
    sharp, blurry, _ = gen.batch(0, pairs)
    x = torch.from_numpy(blurry).permute(0, 3, 1, 2).float() / 255
    t = torch.from_numpy(sharp).permute(0, 3, 1, 2).float() / 255
    y = (model(x).clamp(0, 1) * 255).round() / 255
    return pooled_gain(y, x, t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--datasets", default=sources.DEFAULT_DATASETS)
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--train-images", type=int, default=150)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.ckpt, map_location="cpu")
    model = build(ck["config"])
    model.load_state_dict(ck["ema"])
    model.eval()
    image_gain.bank = degrade.KernelBank(99)
    all_sources = sources.collect(a.datasets)
    rng = np.random.default_rng(0)
    print(f"{a.ckpt} (step {ck.get('step')}): median gain per image on fresh pairs, {a.pairs} pairs of {a.crop} px each")
    for split in ("train", "val", "test"):
        chosen = [s for s in all_sources if s.split == split and s.set not in ("highway",)]
        loaded = sources.load_images(chosen, video_every=60)
        if split == "train" and len(loaded) > a.train_images:
            loaded = [loaded[i] for i in sorted(rng.choice(len(loaded), a.train_images, replace=False))]
        by_set = {}
        for i, (s, _, im) in enumerate(loaded):
            if min(im.shape[:2]) < degrade.PairGenerator([im], a.crop, 0, bank=image_gain.bank).big:
                continue
            by_set.setdefault(s.set, []).append(image_gain(model, im, a.pairs, a.crop, 1000 + i))
        every = [g for v in by_set.values() for g in v]
        parts = "  ".join(f"{k} {np.median(v):+.2f} (n={len(v)})" for k, v in sorted(by_set.items()))
        print(f"{split:5s} median {np.median(every):+.2f} dB (n={len(every)})   {parts}", flush=True)


if __name__ == "__main__":
    main()
