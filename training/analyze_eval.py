"""Break down training/results/final.json by degradation type / length, and measure
how much the model alters already-sharp frames (model(sharp) vs sharp).

  /usr/bin/python3 training/analyze_eval.py [--ckpt training/checkpoints/final/best.pt] [--res training/results/final.json]
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval as E  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ckpt", default="training/checkpoints/final/best.pt")
ap.add_argument("--res", default="training/results/final.json")
a = ap.parse_args()
r = json.load(open(a.res))
m = json.load(open(os.path.join(E.EVAL_DIR, "manifest.json")))
b = r["methods"]["blurry"]["per_pair_psnr"]
o = r["methods"]["model"]["per_pair_psnr"]
rows = []
for p, bb, oo in zip(m["pairs"], b, o):
    d = p["degradation"]
    rows.append((d["type"], d.get("length", d.get("radius")), oo - bb))
for t in ["shake", "linear", "defocus"]:
    g = [x[2] for x in rows if x[0] == t]
    print(f"{t}: n={len(g)} mean PSNR gain {np.mean(g):.2f} dB")
lo = [x[2] for x in rows if x[0] != "defocus" and x[1] < 10]
hi = [x[2] for x in rows if x[0] != "defocus" and x[1] >= 10]
print(f"motion <10px: n={len(lo)} gain {np.mean(lo):.2f} dB; >=10px: n={len(hi)} gain {np.mean(hi):.2f} dB")
print(f"per-pair gain min {min(x[2] for x in rows):.2f} max {max(x[2] for x in rows):.2f} dB")
S = [cv2.imread(os.path.join(E.EVAL_DIR, p["sharp"])) for p in m["pairs"]]
outs, _ = E.run_model(a.ckpt, S)
ps = [E.metrics(x, s) for x, s in zip(outs, S)]
print(f"sharp input -> model: PSNR {np.mean([x[0] for x in ps]):.2f} dB, SSIM {np.mean([x[1] for x in ps]):.4f}")
