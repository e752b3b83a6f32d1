#!/usr/bin/python3
"""Markdown tables from the `streamdeblur eval` JSONs that bench/model_quality.sh writes.

  /usr/bin/python3 bench/model_quality_table.py bench/results/model-quality-<date>

Table 1: per model and variant, per held-out set, the blurry and deblurred PSNR (gain) and SSIM (gain), and the
identity PSNR (the sharp images fed in, against themselves). Table 2: the FP32 gains by blur type and by extent.
"""
import glob
import json
import os
import sys

SETS = ["eval", "bsds-clean", "bsds-noisy", "vtest-shake"]
TITLES = {"eval": "tests/data/eval", "bsds-clean": "bsds500/test clean", "bsds-noisy": "bsds500/test noisy + H.264",
          "vtest-shake": "vtest shake"}


def load(folder):
    runs = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        name = os.path.basename(path)[:-5]
        for s in SETS:
            if name.endswith("-" + s):
                model, variant = name[:-len(s) - 1].rsplit("-", 1)
                with open(path) as f:
                    runs[(model, variant, s)] = json.load(f)
    return runs


def main():
    folder = sys.argv[1]
    runs = load(folder)
    models = sorted({(m, v) for m, v, _ in runs}, key=lambda mv: (mv[0], mv[1] != "fp32"))
    print("| model | " + " | ".join(f"{TITLES[s]}: PSNR dB (gain) / SSIM (gain)" for s in SETS) + " | identity (eval / bsds / vtest) |")
    print("|---" * (len(SETS) + 2) + "|")
    for m, v in models:
        cells, ident = [], []
        for s in SETS:
            r = runs.get((m, v, s))
            if r is None:
                cells.append("—")
                continue
            cells.append(f"{r['blurry_psnr']:.2f} → {r['output_psnr']:.2f} (**{r['psnr_gain']:+.2f}**) / "
                         f"{r['output_ssim']:.4f} ({r['ssim_gain']:+.4f})")
            if s != "bsds-noisy":
                ident.append(f"{r['identity_psnr']:.1f}")
        print(f"| {m} {v.upper()} | " + " | ".join(cells) + f" | {' / '.join(ident)} dB |")
    print()
    print("| model | set | gain by blur type (PSNR dB / SSIM) | gain by extent (PSNR dB / SSIM) |")
    print("|---|---|---|---|")
    for m, v in models:
        if v != "fp32":
            continue
        for s in SETS:
            r = runs.get((m, v, s))
            if r is None or not r.get("by_type"):
                continue
            fmt = lambda gs: ", ".join(f"{g['group'].split(': ')[-1]} {g['psnr_gain']:+.2f} / {g['ssim_gain']:+.3f} (n={g['pairs']})" for g in gs)  # noqa: E731
            print(f"| {m} | {TITLES[s]} | {fmt(r['by_type'])} | {fmt(r['by_extent'])} |")


if __name__ == "__main__":
    main()
