"""Score a checkpoint on held-out folders in PyTorch, broken down by blur type and extent: a quick look during
training. The figures that the model card quotes come from the product (`streamdeblur eval`), not from here.

  /usr/bin/python3 training/evaluate.py --ckpt training/checkpoints/fast/last.pt \\
      out/heldout/bsds-clean out/heldout/bsds-noisy out/heldout/vtest-shake tests/data/eval

For every folder: mean PSNR and SSIM of the blurry input and of the output against the sharp image (uint8 BGR,
skimage.metrics, as eval.py), the gain by blur type and by extent (under 8 px, 8-16, 16 and over), and the identity
PSNR (the sharp image fed in, against itself).
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402


def load(ckpt, threads=2):
    torch.set_num_threads(threads)
    ck = torch.load(ckpt, map_location="cpu")
    model = build(ck["config"])
    model.load_state_dict(ck["ema"])
    return model.eval(), ck


@torch.no_grad()
def restore(model, img, reference=None):
    """uint8 HWC BGR -> uint8 HWC BGR, padded by replication to the model's multiple as the product does."""
    m = getattr(model, "pad_multiple", 32)
    h, w = img.shape[:2]
    ph, pw = (-h) % m, (-w) % m
    def tensor(a):
        a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0
    out = model(tensor(img), tensor(reference)) if reference is not None else model(tensor(img))
    return (out[0, :, :h, :w].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def extent_bin(e):
    return "<8 px" if e < 8 else "8-16 px" if e < 16 else ">=16 px"


def score(model, folder, identity=True, every=1):
    manifest = {}
    path = os.path.join(folder, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            manifest = {p["id"]: p for p in json.load(f).get("pairs", [])}
    names = sorted(n[:-len("_sharp.png")] for n in os.listdir(folder) if n.endswith("_sharp.png"))[::every]
    rows = []
    for name in names:
        sharp = cv2.imread(os.path.join(folder, name + "_sharp.png"))
        blurry = cv2.imread(os.path.join(folder, name + "_blurry.png"))
        out = restore(model, blurry)
        deg = manifest.get(name, {}).get("degradation", {})
        row = {"id": name, "type": deg.get("type", "?"), "extent": deg.get("extent", deg.get("length", 0.0)),
               "psnr_in": peak_signal_noise_ratio(sharp, blurry, data_range=255),
               "psnr_out": peak_signal_noise_ratio(sharp, out, data_range=255),
               "ssim_in": structural_similarity(sharp, blurry, channel_axis=2, data_range=255),
               "ssim_out": structural_similarity(sharp, out, channel_axis=2, data_range=255)}
        if identity:
            row["identity"] = peak_signal_noise_ratio(sharp, restore(model, sharp), data_range=255)
        rows.append(row)
    return rows


def summarise(folder, rows):
    mean = lambda k, rs: float(np.mean([r[k] for r in rs]))  # noqa: E731
    lines = [f"{folder}: {len(rows)} pairs  PSNR {mean('psnr_in', rows):.2f} -> {mean('psnr_out', rows):.2f} "
             f"({mean('psnr_out', rows) - mean('psnr_in', rows):+.2f} dB)  SSIM {mean('ssim_in', rows):.4f} -> "
             f"{mean('ssim_out', rows):.4f}" + (f"  identity {mean('identity', rows):.2f} dB" if "identity" in rows[0] else "")]
    for key, group in (("type", lambda r: r["type"]), ("extent", lambda r: extent_bin(r["extent"]))):
        parts = {}
        for r in rows:
            parts.setdefault(group(r), []).append(r)
        lines.append("  by " + key + ": " + ", ".join(
            f"{g} {mean('psnr_out', rs) - mean('psnr_in', rs):+.2f} dB / {mean('ssim_out', rs) - mean('ssim_in', rs):+.3f} (n={len(rs)})"
            for g, rs in sorted(parts.items())))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--json", default=None)
    ap.add_argument("--limit", type=int, default=0, help="score only every k-th pair (quick looks)")
    ap.add_argument("--no-identity", action="store_true")
    ap.add_argument("folders", nargs="+")
    a = ap.parse_args()
    model, ck = load(a.ckpt)
    print(f"{a.ckpt}: step {ck.get('step')}")
    results = {}
    for folder in a.folders:
        rows = score(model, folder, not a.no_identity, max(1, a.limit))
        results[folder] = rows
        print(summarise(folder, rows), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ckpt": a.ckpt, "step": ck.get("step"), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
