"""Train the deblur-fast network on pre-generated (sharp, blurred) patch pairs.

Runs on CPU (2 threads, niced) or CUDA (--device auto picks CUDA when available).
The cosine learning-rate schedule is driven by wall-clock time when --minutes is
given (so the schedule completes exactly at the budget), otherwise by --steps.

Examples:
  nice -n 10 /usr/bin/python3 training/train.py --minutes 10 --out training/checkpoints/quick
  nice -n 10 /usr/bin/python3 training/train.py --minutes 50 --init training/checkpoints/quick/best.pt \
        --lr 6e-4 --out training/checkpoints/final
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CFG = dict(width=12, enc=[1, 1, 3], middle=4, dec=[1, 1, 1])


def psnr(a, b):
    mse = F.mse_loss(a, b, reduction="none").flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean().item()


def to_tensor(u8, device):
    return torch.from_numpy(u8).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def sample_batch(S, Y, bs, crop, rng):
    idx = rng.integers(0, len(S), bs)
    P = S.shape[1]
    y0 = rng.integers(0, P - crop + 1)
    x0 = rng.integers(0, P - crop + 1)
    s = S[idx, y0:y0 + crop, x0:x0 + crop]
    y = Y[idx, y0:y0 + crop, x0:x0 + crop]
    # geometric augmentation (consistent for the pair; the blur kernel transforms with it)
    if rng.random() < 0.5:
        s, y = s[:, :, ::-1], y[:, :, ::-1]
    if rng.random() < 0.5:
        s, y = s[:, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        s, y = s.transpose(0, 2, 1, 3), y.transpose(0, 2, 1, 3)
    return np.ascontiguousarray(s), np.ascontiguousarray(y)


def fft_loss(out, tgt):
    fo = torch.fft.rfft2(out)
    ft = torch.fft.rfft2(tgt)
    return (fo - ft).abs().mean()


@torch.no_grad()
def evaluate(model, VS, VY, device, bs=32):
    model.eval()
    ps_out, ps_in = [], []
    for i in range(0, len(VS), bs):
        s = to_tensor(VS[i:i + bs], device)
        y = to_tensor(VY[i:i + bs], device)
        o = model(y)
        ps_out.append(psnr(o, s) * len(s))
        ps_in.append(psnr(y, s) * len(s))
    model.train()
    return sum(ps_out) / len(VS), sum(ps_in) / len(VS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--out", default=os.path.join(HERE, "checkpoints", "run"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=0, help="time budget; 0 = use --steps")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="what --minutes counts: wall-clock, or this process's CPU time divided by --threads "
                         "(so the schedule stays whole when other jobs share the cores or the run is paused)")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--fft-weight", type=float, default=0.05)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--init", default=None, help="initialise weights from a checkpoint (new schedule)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=None, help="JSON model config")
    ap.add_argument("--online", type=int, default=0, metavar="KERNELS",
                    help="draw fresh pairs every step from the cache's training images (online.py), with a bank "
                         "of this many kernels; 0 = use the cache's fixed pairs")
    ap.add_argument("--synthetic", type=float, default=0.0,
                    help="with --online: the fraction of crops that are synthetic dead-leaves scenes")
    ap.add_argument("--colour-jitter", action="store_true",
                    help="with --online: new channel order, gamma and contrast for half the photographic crops")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    if a.device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        device = a.device
    os.makedirs(a.out, exist_ok=True)

    VS = np.load(os.path.join(a.cache, "val_sharp.npy"))
    VY = np.load(os.path.join(a.cache, "val_blur.npy"))
    if a.online:
        from online import OnlineDegrader, kernel_bank, load_train_images
        images = load_train_images(a.cache)
        degrader = OnlineDegrader(images, a.crop, kernel_bank(a.online, a.seed + 1), a.seed + 2,
                                  synthetic_fraction=a.synthetic, colour_jitter=a.colour_jitter)
        next_batch = lambda: degrader.batch(a.batch)  # noqa: E731
        print(f"online pairs from {len(images)} training images, {a.online} kernels  val pairs {len(VS)}  "
              f"device {device}", flush=True)
    else:
        S = np.load(os.path.join(a.cache, "train_sharp.npy"), mmap_mode="r")
        Y = np.load(os.path.join(a.cache, "train_blur.npy"), mmap_mode="r")
        S, Y = np.asarray(S), np.asarray(Y)
        next_batch = lambda: sample_batch(S, Y, a.batch, a.crop, rng)  # noqa: E731
        print(f"train pairs {len(S)}  val pairs {len(VS)}  device {device}", flush=True)

    cfg = json.loads(a.config) if a.config else DEFAULT_CFG
    if a.init:
        ck = torch.load(a.init, map_location="cpu")
        cfg = ck["config"]
    model = build(cfg).to(device)
    if a.init:
        model.load_state_dict(ck["ema"] if "ema" in ck else ck["model"])
        print("initialised from", a.init, flush=True)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd, betas=(0.9, 0.9))
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params {nparams}  config {cfg}", flush=True)

    def clock():
        return time.process_time() / a.threads if a.clock == "cpu" else time.time()

    t0 = clock()
    budget = a.minutes * 60.0
    best = -1.0
    log = open(os.path.join(a.out, "log.txt"), "a")
    step = 0
    run_loss = 0.0
    while True:
        elapsed = clock() - t0
        frac = (elapsed / budget) if budget > 0 else step / a.steps
        if frac >= 1.0:
            break
        lr = a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * frac))
        if step < a.warmup:
            lr *= (step + 1) / a.warmup
        for g in opt.param_groups:
            g["lr"] = lr
        s, y = next_batch()
        s, y = to_tensor(s, device), to_tensor(y, device)
        out = model(y)
        loss = F.l1_loss(out, s)
        if a.fft_weight > 0:
            loss = loss + a.fft_weight * fft_loss(out, s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        with torch.no_grad():
            d = min(a.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        run_loss += loss.item()
        step += 1
        if step % 50 == 0:
            print(f"step {step}  t {elapsed/60:.1f}m  lr {lr:.2e}  loss {run_loss/50:.4f}  "
                  f"{(clock()-t0)/step:.3f}s/it", flush=True)
            run_loss = 0.0
        if step % a.val_every == 0:
            best = checkpoint(a, ema, model, cfg, step, clock() - t0, VS, VY, device, best, log)
    best = checkpoint(a, ema, model, cfg, step, clock() - t0, VS, VY, device, best, log)
    print(f"done: {step} steps in {(clock()-t0)/60:.1f} min, best val PSNR {best:.2f}", flush=True)


def checkpoint(a, ema, model, cfg, step, secs, VS, VY, device, best, log):
    p_out, p_in = evaluate(ema, VS, VY, device)
    ck = {"config": cfg, "ema": ema.state_dict(), "model": model.state_dict(), "step": step,
          "seconds": round(secs, 1), "val_psnr": p_out, "val_psnr_blurry": p_in, "args": vars(a)}
    torch.save(ck, os.path.join(a.out, "last.pt"))
    msg = f"[val] step {step}  {secs/60:.1f} min  PSNR blurry {p_in:.2f}  output {p_out:.2f}  (+{p_out-p_in:.2f} dB)"
    if p_out > best:
        best = p_out
        torch.save(ck, os.path.join(a.out, "best.pt"))
        msg += "  *best*"
    print(msg, flush=True)
    log.write(msg + "\n")
    log.flush()
    return best


if __name__ == "__main__":
    main()
