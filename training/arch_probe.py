"""Export candidate architectures (random weights) to ONNX so that their speed can be timed
in ONNX Runtime before any training is spent on them (bench/OrtModelTiming times them).

Usage: /usr/bin/python3 training/arch_probe.py --out /tmp/probe
Writes <name>.onnx per candidate and prints params and GMAC per 1280x720 frame.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402
from count_macs import count  # noqa: E402

CANDIDATES = {
    "naf-current": dict(width=12, enc=[1, 1, 3], middle=4, dec=[1, 1, 1]),
    "dense-a": dict(arch="dense", widths=[16, 32, 64, 128], enc=[0, 1, 1], middle=2, dec=[0, 1, 1]),
    "dense-b": dict(arch="dense", widths=[16, 32, 64, 96], enc=[0, 1, 2], middle=2, dec=[0, 1, 1]),
    "dense-c": dict(arch="dense", widths=[12, 24, 48, 96], enc=[0, 1, 2], middle=3, dec=[0, 1, 1]),
    "dense-d": dict(arch="dense", widths=[16, 32, 64, 128, 128], enc=[0, 1, 1, 1], middle=2, dec=[0, 1, 1, 1]),
    "dense-e": dict(arch="dense", widths=[12, 32, 64, 128], enc=[0, 0, 1], middle=3, dec=[0, 1, 1]),
    "dense-f": dict(arch="dense", widths=[12, 24, 48, 96, 128], enc=[0, 1, 1, 1], middle=2, dec=[0, 1, 1, 1]),
    "dense-g": dict(arch="dense", widths=[16, 32, 64, 128], enc=[0, 0, 2], middle=2, dec=[0, 0, 1]),
    "dense-h": dict(arch="dense", widths=[16, 24, 64, 128], enc=[0, 1, 1], middle=2, dec=[0, 1, 1]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/probe")
    ap.add_argument("--only", default=None)
    ap.add_argument("--config", default=None, help="JSON config for a one-off candidate named 'custom'")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cands = dict(CANDIDATES)
    if a.config:
        cands = {"custom": json.loads(a.config)}
    for name, cfg in cands.items():
        if a.only and name not in a.only.split(","):
            continue
        m = build(cfg).eval()
        macs, params = count(m)
        x = torch.rand(1, 3, 64, 64)
        path = os.path.join(a.out, name + ".onnx")
        torch.onnx.export(m, x, path, opset_version=17, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}})
        print(f"{name:12s} params {params:8d}  GMAC/720p {macs/1e9:6.3f}  {path}", flush=True)


if __name__ == "__main__":
    main()
