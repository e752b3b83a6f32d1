"""How much of the blur in a held-out set is recoverable at all? Non-blind deconvolution with the TRUE kernel.

An upper reference for the blind network, not a method the product could use (it never knows the kernel): each
blurry image of a set made by heldout.py is deconvolved with the very kernel that blurred it, by a Wiener filter with
a gradient prior (Tikhonov on the image's x and y differences), in linear light where heldout.py blurred it, with
reflected borders as it blurred them:

    X = conj(K) Y / (|K|^2 + lambda (|Dx|^2 + |Dy|^2))

PSNR is taken as the product's ImageQuality takes it: 8-bit BGR, all channels, whole image. Every lambda asked for is
reported (no choice made on the test images), by blur type and extent as model_quality_table.py splits them.

  /usr/bin/python3 training/oracle_deconv.py --set out/heldout/bsds-clean --lambdas 3e-4,1e-3,3e-3
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import degrade as D  # noqa: E402  (the sRGB curve, as a table)
import heldout  # noqa: E402  (to_display: back to 8-bit sRGB as the sets were written)


def psf2otf(k, shape):
    """The kernel's transfer function on a grid of `shape`, its centre moved to the origin (true convolution)."""
    pad = np.zeros(shape)
    kh, kw = k.shape
    pad[:kh, :kw] = k
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def wiener(blurry_u8, k, lam):
    margin = k.shape[0]
    lin = D.SRGB_TO_LINEAR[torch.from_numpy(blurry_u8).long()].double().numpy()
    padded = cv2.copyMakeBorder(lin, margin, margin, margin, margin, cv2.BORDER_REFLECT)
    h, w = padded.shape[:2]
    K = psf2otf(k, (h, w))
    Dx = psf2otf(np.array([[0, 0, 0], [0, -1, 1], [0, 0, 0]], float), (h, w))
    Dy = psf2otf(np.array([[0, 0, 0], [0, -1, 0], [0, 1, 0]], float), (h, w))
    denominator = np.abs(K) ** 2 + lam * (np.abs(Dx) ** 2 + np.abs(Dy) ** 2)
    out = np.empty_like(padded)
    for c in range(padded.shape[2]):
        out[..., c] = np.real(np.fft.ifft2(np.conj(K) * np.fft.fft2(padded[..., c]) / denominator))
    return heldout.to_display(out[margin:-margin, margin:-margin])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def extent_bin(e):
    return "<8 px" if e < 8 else "8-16 px" if e < 16 else ">=16 px"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True, help="a held-out folder written by heldout.py (its manifest.json names the kernels)")
    ap.add_argument("--lambdas", default="3e-4,1e-3,3e-3")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    name = os.path.basename(os.path.normpath(a.set))
    with open(os.path.join(HERE, "heldout", f"{name}.json")) as f:
        record = json.load(f)
    kernels = np.load(os.path.join(os.path.dirname(HERE), record["kernels"].split(" ")[0]))
    lambdas = [float(v) for v in a.lambdas.split(",")]
    rows = []
    for pair in record["pairs"]:
        sharp = cv2.imread(os.path.join(a.set, pair["sharp"]))
        blurry = cv2.imread(os.path.join(a.set, pair["blurry"]))
        k = kernels[f"arr_{pair['kernel']}"].astype(np.float64)
        k /= k.sum()
        row = {"id": pair["id"], "type": pair["degradation"]["type"], "extent": pair["degradation"]["extent"],
               "blurry": psnr(blurry, sharp)}
        for lam in lambdas:
            row[f"{lam:g}"] = psnr(wiener(blurry, k, lam), sharp)
        rows.append(row)
    print(f"{name}: {len(rows)} pairs, blurry {np.mean([r['blurry'] for r in rows]):.2f} dB")
    summary = {}
    for lam in lambdas:
        key = f"{lam:g}"
        gain = {"all": float(np.mean([r[key] - r["blurry"] for r in rows]))}
        for group, keyf in (("type", lambda r: r["type"]), ("extent", lambda r: extent_bin(r["extent"]))):
            for g in sorted({keyf(r) for r in rows}):
                gain[g] = float(np.mean([r[key] - r["blurry"] for r in rows if keyf(r) == g]))
        summary[key] = gain
        print(f"  lambda {key}: gain {gain['all']:+.2f} dB   " + "  ".join(f"{g} {v:+.2f}" for g, v in gain.items() if g != "all"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"set": name, "lambdas": summary, "pairs": rows}, f, indent=1)


if __name__ == "__main__":
    main()
