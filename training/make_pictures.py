"""Side-by-side crops (blurry | deblurred | sharp) from each held-out set, for the model card and the README.

The deblurred images come from the product: `streamdeblur eval --dir <set> --save <dir>` writes them. The pair is
not hand-picked: it is the one whose gain for the first model given is the set's median, and the crop is the most
detailed window of it (the highest mean gradient of the sharp image), so the picture shows a typical result.

  dotnet src/StreamDeblur/bin/Release/net10.0/streamdeblur.dll eval --dir out/heldout/bsds-clean \\
      --model models/deblur-fast.json --json out/eval/fast-bsds-clean.json --save out/eval/fast-bsds-clean
  /usr/bin/python3 training/make_pictures.py --out docs/images/heldout-bsds-clean.png \\
      --set out/heldout/bsds-clean --model fast=out/eval/fast-bsds-clean.json [--model quality=...]
"""
import argparse
import json
import os

import cv2
import numpy as np

CROP = 160


def median_pair(results):
    gains = sorted(results, key=lambda r: r["output_psnr"] - r["blurry_psnr"])
    return gains[len(gains) // 2]["name"]


def detailed_window(sharp, size):
    g = cv2.cvtColor(sharp, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    box = cv2.boxFilter(mag, -1, (size, size), normalize=True, borderType=cv2.BORDER_CONSTANT)
    h, w = g.shape
    half = size // 2
    inner = box[half:h - half, half:w - half]
    y, x = np.unravel_index(np.argmax(inner), inner.shape)
    return y, x


def label(img, text):
    out = cv2.copyMakeBorder(img, 22, 0, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True, help="the held-out folder (NNN_sharp.png, NNN_blurry.png)")
    ap.add_argument("--model", action="append", required=True,
                    help="name=eval.json (its results; the --save folder of the same name sits beside it or in out/eval)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=int, default=2, help="nearest-neighbour enlargement, so that detail shows")
    a = ap.parse_args()
    models = []
    for spec in a.model:
        name, path = spec.split("=", 1)
        with open(path) as f:
            # the --save folder: beside the JSON, or in out/eval/<the JSON's folder name> (bench/model_quality.sh)
            saved = os.path.splitext(path)[0]
            if not os.path.isdir(saved):
                saved = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "out", "eval",
                                     os.path.basename(os.path.dirname(os.path.abspath(path))), os.path.basename(saved))
            models.append((name, json.load(f), saved))
    pair = median_pair(models[0][1]["results"])
    sharp = cv2.imread(os.path.join(a.set, pair + "_sharp.png"))
    blurry = cv2.imread(os.path.join(a.set, pair + "_blurry.png"))
    y, x = detailed_window(sharp, CROP)
    cut = lambda im: cv2.resize(im[y:y + CROP, x:x + CROP], None, fx=a.scale, fy=a.scale,  # noqa: E731
                                interpolation=cv2.INTER_NEAREST)
    by_name = {r["name"]: r for r in models[0][1]["results"]}
    panels = [label(cut(blurry), f"blurry {by_name[pair]['blurry_psnr']:.2f} dB")]
    for name, result, folder in models:
        r = {q["name"]: q for q in result["results"]}[pair]
        out = cv2.imread(os.path.join(folder, pair + "_deblurred.png"))
        panels.append(label(cut(out), f"{name} {r['output_psnr']:.2f} dB"))
    panels.append(label(cut(sharp), "sharp"))
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    row = panels[0]
    for p in panels[1:]:
        row = np.hstack([row, gap, p])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    cv2.imwrite(a.out, row)
    print(f"{a.out}: pair {pair} of {a.set} (the median gain of {models[0][0]}), crop at ({x}, {y})")


if __name__ == "__main__":
    main()
