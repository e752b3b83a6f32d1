"""Ablation of the degradation model: what each ingredient does on the held-out sets.

Every arm branches from one common checkpoint of the fast run and trains the same short decay (same steps, crop,
seed and batches), with exactly one degradation switch changed (train.py --degrade); the control changes none. Each
arm's EMA weights are then scored on the held-out folders (evaluate.py), and the table gives every arm's gain minus
the control's, per set. A negative figure means that turning the ingredient off cost that much: the ingredient
helped there.

  nice -n 10 /usr/bin/python3 training/ablation.py --from training/checkpoints/fast/resume.pt \\
      --datasets ../shared/datasets --out training/checkpoints/ablation --json training/results/ablation.json

Arms already trained (their last.pt exists) are only scored again, so the command resumes after an interruption;
`--only` runs some arms (two processes can share the work).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluate  # noqa: E402

# One arm per ingredient of issue 12's degradation list, each switched off (degrade.Degradation's names).
ARMS = {
    "control": [],
    "no-linear-light": ["linear_light=0"],
    "no-highlights": ["highlights=0"],
    "no-rotation": ["rotation=0"],
    "no-objects": ["objects=0"],
    "kernels-to-21px": ["max_extent_px=21"],
    "no-noise": ["noise=false"],
    "no-h264": ["h264=0"],
    "no-clean-pairs": ["clean=0"],
    "no-identity-pairs": ["identity=0"],
}

FOLDERS = ["out/heldout/bsds-clean", "out/heldout/bsds-noisy", "out/heldout/vtest-shake", "tests/data/eval"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", required=True, help="the common resume.pt")
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=400, help="each arm's decay")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    root = os.path.dirname(HERE)
    results = {}
    if a.json and os.path.exists(a.json):
        with open(a.json) as f:
            results = json.load(f).get("arms", {})
    for arm, switches in ARMS.items():
        if a.only is not None and arm not in a.only:
            continue
        out = os.path.join(a.out, arm)
        if not os.path.exists(os.path.join(out, "last.pt")):
            cmd = [sys.executable, os.path.join(HERE, "train.py"), "--branch", a.source, "--decay-steps", str(a.steps),
                   "--datasets", a.datasets, "--out", out, "--threads", str(a.threads), "--set", f"crop={a.crop}"]
            cmd += [x for s in switches for x in ("--degrade", s)]
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
        model, ck = evaluate.load(os.path.join(out, "last.pt"), a.threads)
        scores = {}
        for folder in FOLDERS:
            rows = evaluate.score(model, os.path.join(root, folder), identity=True)
            mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
            scores[os.path.basename(folder)] = {"gain_db": mean("psnr_out") - mean("psnr_in"),
                                                "ssim_gain": mean("ssim_out") - mean("ssim_in"),
                                                "identity_db": mean("identity"), "pairs": len(rows)}
        results[arm] = {"switches": switches, "step": ck.get("step"), "scores": scores}
        print(arm, json.dumps(scores), flush=True)
        if a.json:  # re-read first: another process may have added its arms
            merged = {}
            if os.path.exists(a.json):
                with open(a.json) as f:
                    merged = json.load(f).get("arms", {})
            merged[arm] = results[arm]
            results = merged
            with open(a.json, "w") as f:
                json.dump({"from": a.source, "steps": a.steps, "crop": a.crop, "arms": results}, f, indent=1)
    print(table(results))


def table(results):
    """Markdown: each arm's gain minus the control's, per held-out set (dB), and its identity PSNR."""
    if "control" not in results:
        return "(no control arm yet)"
    sets = [os.path.basename(f) for f in FOLDERS]
    control = results["control"]["scores"]
    lines = ["| arm | " + " | ".join(sets) + " | identity (bsds-clean) |", "|---" * (len(sets) + 2) + "|"]
    for arm in ARMS:
        if arm not in results:
            continue
        s = results[arm]["scores"]
        if arm == "control":
            cells = [f"{s[k]['gain_db']:+.2f} dB (gain)" for k in sets]
        else:
            cells = [f"{s[k]['gain_db'] - control[k]['gain_db']:+.2f}" for k in sets]
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {s['bsds-clean']['identity_db']:.1f} dB |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
