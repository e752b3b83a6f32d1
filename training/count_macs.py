"""Count conv/linear multiply-accumulates (MACs) for one 1x3x720x1280 frame with
forward hooks, and report the parameter count.

Usage: /usr/bin/python3 training/count_macs.py [--ckpt training/checkpoints/last.pt] [--json]
Only Conv2d and Linear MACs are counted (elementwise ops, norms, gates are not).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402


def count(model, h=720, w=1280):
    macs = [0]

    def conv_hook(m, i, o):
        k = m.kernel_size[0] * m.kernel_size[1]
        macs[0] += o.numel() * (m.in_channels // m.groups) * k

    def lin_hook(m, i, o):
        macs[0] += o.numel() * m.in_features

    hs = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hs.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hs.append(m.register_forward_hook(lin_hook))
    m = getattr(model, "pad_multiple", 16)  # the C# side pads to this multiple first
    h, w = -(-h // m) * m, -(-w // m) * m
    with torch.no_grad():
        frames = [torch.zeros(1, 3, h, w)] * getattr(model, "frames", 1)
        model(*frames)
    for hh in hs:
        hh.remove()
    params = sum(p.numel() for p in model.parameters())
    return macs[0], params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cfg = None
    if a.ckpt:
        cfg = torch.load(a.ckpt, map_location="cpu")["config"]
    m = build(cfg).eval()
    macs, params = count(m)
    res = {"params": params, "gmac_720p": round(macs / 1e9, 3), "config": m.config}
    print(json.dumps(res) if a.json else f"params={params}  GMAC per 1x3x720x1280 = {macs/1e9:.3f}  config={m.config}")


if __name__ == "__main__":
    main()
