"""Train a deblurring network on fresh camera-like pairs (degrade.py) from real photographs and footage (sources.py).

One options file per experiment (training/experiments/*.json): the model, the degradation switches, the data mix
and the schedule. An ablation is a diff of two options files.

  nice -n 10 /usr/bin/python3 training/train.py --options training/experiments/fast.json \\
      --datasets ../shared/datasets --out training/checkpoints/fast

Resumable. `<out>/resume.pt` holds the model, its EMA, the optimiser, the schedule position and every RNG state, and
is rewritten every `save_every` steps and on SIGINT or SIGTERM. Running the same command again resumes from it; batch
number k is a pure function of (seed, k), so a resumed run draws exactly the batches it would have drawn.

The schedule is warm-up, stable, decay (WSD; Hu et al. 2024, MiniCPM): a linear warm-up, then a constant learning
rate for as long as the run goes on, and a cosine decay to `min_lr` over `decay_steps` once asked for. Because the
stable phase does not need to know when training ends, a run can go on across sessions, and any checkpoint can be
branched into a short decay for shipping while the main run continues:

  /usr/bin/python3 training/train.py --branch training/checkpoints/fast/resume.pt --decay-steps 4000 \\
      --datasets ../shared/datasets --out training/checkpoints/fast-decay

Loss: L1 plus a small L1 on the 2-D FFT (the frequency term of MIMO-UNet, Cho et al. 2021). Weights: AdamW, EMA.
CPU threads: channels-last tensors (about 20 % faster here than contiguous ones). `bf16`: the forward pass under
bfloat16 autocast (weights, optimiser, EMA and loss stay float32). Where the CPU has AVX-512 BF16 and AMX it is 1.65x
faster per step than float32 (bf16_probe.py: 103 against 170 ms, channels-last, 2026-12-02); on an AVX2-only CPU it
measured 18-24 times slower, so it is an option, off unless the options file or `--set bf16=true` turns it on, and a
run resumed on a CPU without native bfloat16 (avx512_bf16 or amx_bf16) trains in float32 whatever its options say.
On 2026-12-08's CPU (AVX-512 BF16, no AMX) it was 1.94x faster (78 against 151 ms).
"""
import argparse
import copy
import inspect
import json
import math
import os
import random
import signal
import sys
import time

import numpy as np
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import degrade  # noqa: E402
import sources  # noqa: E402
from model import build  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

TRAIN_DEFAULTS = dict(batch=8, crop=192, lr=1e-3, min_lr=1e-5, warmup=1000, steps=10 ** 9, decay_steps=0,
                      decay_start=None, wd=1e-4, betas=(0.9, 0.99), fft_weight=0.02, ema=0.999, clip=0.5,
                      val_every=2000, save_every=500, seed=1, threads=2, val_pairs=96, val_crop=192, channels_last=True,
                      bf16=False, changed_weight=0.0, changed_level=0.05, val_seed=None, reuse=1)
DATA_DEFAULTS = dict(video_every=6, min_short=240, max_short=1080,
                     weights={"bsds500": 0.3, "urban100": 0.17, "sunhays80": 0.15, "debian": 0.13,
                              "pets2001": 0.1, "highway": 0.08, "wsdot": 0.07})


def load_options(path):
    with open(path) as f:
        o = json.load(f)
    unknown = set(o) - {"model", "degradation", "data", "train", "init", "note"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}")
    train = dict(TRAIN_DEFAULTS, **o.get("train", {}))
    unknown = set(train) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"{path}: unknown train options {sorted(unknown)}")
    ReusedBatches.check(train["batch"], train["reuse"])
    data = dict(DATA_DEFAULTS, **o.get("data", {}))
    degrade.Degradation.from_dict(o.get("degradation"))  # validates the switches
    return dict(model=o["model"], degradation=o.get("degradation", {}), data=data, train=train, init=o.get("init"))


def learning_rate(step, t):
    """WSD: linear warm-up, constant, then cosine decay over decay_steps from decay_start."""
    lr = t["lr"] * min(1.0, (step + 1) / max(1, t["warmup"]))
    start = t["decay_start"]
    if start is not None and step >= start:
        frac = min(1.0, (step - start) / max(1, t["decay_steps"]))
        lr = t["min_lr"] + 0.5 * (t["lr"] - t["min_lr"]) * (1 + math.cos(math.pi * frac))
    return lr


# ----------------------------------------------------------------------------------------------------------------
# data: images, a pair generator in a worker process, a fixed validation set
# ----------------------------------------------------------------------------------------------------------------
def training_images(datasets, data, split):
    srcs = [s for s in sources.collect(datasets) if s.split == split]
    loaded = sources.load_images(srcs, video_every=data["video_every"])
    counts = {}
    for s, _, _ in loaded:
        counts[s.set] = counts.get(s.set, 0) + 1
    weights = [data["weights"].get(s.set, 0.0) / counts[s.set] for s, _, _ in loaded]
    return loaded, weights


def training_clips(datasets, split):
    """Whole fixed-camera clips of a split, frame by frame (pets2001, highway): the fixed-camera model's footage."""
    clips = []
    for s in sources.collect(datasets):
        if s.split == split and s.set in ("pets2001", "highway") and s.kind in ("frames", "video"):
            frames = [f for _, f in sources.read_frames(s, 1)]
            if frames:
                clips.append(np.stack(frames))
    return clips


def make_generator(datasets, options, split, seed):
    """The pair generator of a run: single frames, or triplets with a reference for the fixed-camera model."""
    data, t = options["data"], options["train"]
    loaded, weights = training_images(datasets, data, split)
    images = [im for _, _, im in loaded]
    degradation = degrade.Degradation.from_dict(options["degradation"])
    if split == "val":
        weights = None
    if data.get("fixed_camera"):
        return degrade.FixedCameraGenerator(images, training_clips(datasets, split), t["crop"], seed, degradation, weights,
                                            min_short=data["min_short"], max_short=data["max_short"],
                                            **data["fixed_camera"])
    return degrade.PairGenerator(images, t["crop"], seed, degradation, weights, data["min_short"], data["max_short"])


def _worker(datasets, options, start, queue, stop):
    """The pair generator, in a process of its own (spawned, not forked: a fork after OpenMP has run deadlocks)."""
    torch.set_num_threads(1)
    t = options["train"]
    batches = ReusedBatches(make_generator(datasets, options, "train", t["seed"]), t["batch"], t.get("reuse", 1))
    index = start
    while not stop.is_set():
        batch = batches.make(index)
        while not stop.is_set():
            try:
                queue.put((index,) + batch, timeout=1.0)
                break
            except Exception:  # queue.Full
                continue
        index += 1


def dihedral(u8, code):
    """One of the eight flips and quarter turns of N x H x W x C crops (code 0 is the identity)."""
    u8 = np.rot90(u8, code % 4, axes=(1, 2))
    return np.ascontiguousarray(u8[:, :, ::-1] if code >= 4 else u8)


class ReusedBatches:
    """Training batches, each pair seen `reuse` times. Making a pair costs about as much CPU as its training step
    (blur in linear light, noise, an x264 round trip), so on two cores the pair worker takes some 40 % of the time.
    reuse = 1: batch k is `size` fresh pairs. reuse = r > 1: size/r fresh pairs from each of the batch numbers k,
    k-1, ..., k-r+1, those made j batches ago turned by dihedral transform j; a pair is seen in r consecutive
    batches, each time turned another way. Batch k stays a pure function of (seed, k): a resumed run remakes the
    r-1 earlier parts it needs."""

    def __init__(self, gen, size, reuse):
        self.check(size, reuse)
        self.gen, self.size, self.reuse = gen, size, reuse
        self.parts = {}

    def make(self, index):
        if self.reuse == 1:
            return self.gen.batch(index, self.size)[:-1]
        turned = []
        for age in range(self.reuse):
            k = index - age
            if k not in self.parts:  # batch numbers before 0 draw from seeds no run reaches
                self.parts[k] = self.gen.batch(k if k >= 0 else 10 ** 12 - k, self.size // self.reuse)[:-1]
            turned.append([dihedral(a, age) for a in self.parts[k]])
        for k in [k for k in self.parts if k <= index - self.reuse]:
            del self.parts[k]
        return tuple(np.concatenate([part[i] for part in turned]) for i in range(len(turned[0])))

    @staticmethod
    def check(size, reuse):
        if not (1 <= reuse <= 8 and size % reuse == 0):
            raise ValueError(f"reuse {reuse}: 1 to 8, and a divisor of the batch size {size}")


DEVICE = torch.device("cpu")  # train.py --device; the pairs are made on the CPU either way


def to_tensor(u8, channels_last):
    x = torch.from_numpy(u8).to(DEVICE).permute(0, 3, 1, 2).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def psnr(a, b):
    mse = F.mse_loss(a, b, reduction="none").flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def fft_loss(out, tgt):
    return (torch.fft.rfft2(out) - torch.fft.rfft2(tgt)).abs().mean()


def changed_mask(tgt, ref, level=TRAIN_DEFAULTS["changed_level"]):
    """1 where the sharp frame differs from the reference by over `level` in any channel (something moved, appeared or
    left since the reference), else 0; N×1×H×W."""
    return ((tgt - ref).abs().amax(dim=1, keepdim=True) > level).float()


def changed_l1(out, tgt, ref, weight, level):
    """L1 with the pixels of changed_mask counted 1 + `weight` times. A two-frame network sees the reference
    everywhere, but only there must it restore from the blurry frame alone: the plain mean lets those few pixels
    drown in the static background, where the product's verified fusion takes over anyway."""
    w = 1 + weight * changed_mask(tgt, ref, level)
    return ((out - tgt).abs() * w).mean() / w.mean()


@torch.no_grad()
def evaluate(model, val, channels_last, bs=16):
    """Mean PSNR of blurry input and output over the val pairs, and of the output on sharp inputs (identity); for a
    two-frame model also the gain in dB on the pixels that changed since the reference (changed_mask at its default
    level, whatever the run trains with, so that runs compare; pooled over the val triplets), else NaN."""
    model.eval()
    out_p, in_p, id_p = [], [], []
    changed_err = {"out": 0.0, "in": 0.0, "n": 0.0}
    degraded = np.any(val[0] != val[1], axis=(1, 2, 3))  # the identity pairs count only towards the identity figure
    val = tuple(v[degraded] for v in val)
    sharp, blurred = val[:2]
    for i in range(0, len(sharp), bs):
        s = to_tensor(sharp[i:i + bs], channels_last)
        y = to_tensor(blurred[i:i + bs], channels_last)
        refs = [to_tensor(val[2][i:i + bs], channels_last)] if len(val) > 2 else []
        o = model(y, *refs).clamp(0, 1)
        out_p.append(psnr((o * 255).round() / 255, s))
        in_p.append(psnr(y, s))
        id_p.append(psnr((model(s, *refs).clamp(0, 1) * 255).round() / 255, s))
        if refs:
            changed = changed_mask(s, refs[0])
            changed_err["out"] += (((o * 255).round() / 255 - s) ** 2 * changed).sum().item()
            changed_err["in"] += ((y - s) ** 2 * changed).sum().item()
            changed_err["n"] += changed.sum().item() * s.shape[1]
    model.train()
    changed_gain = (10 * math.log10(changed_err["in"] / max(changed_err["out"], 1e-12))
                    if changed_err["n"] > 0 and changed_err["in"] > 0 else float("nan"))
    return tuple(torch.cat(p).mean().item() for p in (out_p, in_p, id_p)) + (changed_gain,)


# ----------------------------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------------------------
def save_resume(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(s):
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--options", help="experiment options (JSON); not needed to resume or branch")
    ap.add_argument("--datasets", default=sources.DEFAULT_DATASETS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--branch", help="start from this resume.pt and decay (needs --decay-steps); the source run is untouched")
    ap.add_argument("--decay-steps", type=int, default=0, help="decay now, over this many steps, then stop")
    ap.add_argument("--stop-at", type=int, default=None, help="stop at this step (the schedule stays where it is)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                    help="where the network trains (auto: CUDA when there is one); checkpoints stay device-free")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="change a train option of a resumed run, e.g. crop=144 (progressive learning: small crops "
                         "first, as in Restormer); recorded in the run's options and log")
    ap.add_argument("--reset-best", action="store_true", help="forget the best val figure (after the val set changed)")
    ap.add_argument("--degrade", action="append", default=[], metavar="KEY=VALUE",
                    help="with --branch: change one degradation switch for the branch's training pairs, e.g. "
                         "noise=false (an ablation); the val pairs keep the source run's degradation")
    ap.add_argument("--fixed-camera", action="append", default=[], metavar="KEY=VALUE",
                    help="with --branch: change one switch of the fixed-camera triplets for the branch's training, "
                         "e.g. vanished_in_clips=0.3; the val triplets keep the source run's")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    resume_path = os.path.join(a.out, "resume.pt")
    state = None
    if os.path.exists(resume_path):
        state = torch.load(resume_path, map_location="cpu")
        options = state["options"]
        print(f"resuming {resume_path} at step {state['step']}", flush=True)
    elif a.branch:
        state = torch.load(a.branch, map_location="cpu")
        options = copy.deepcopy(state["options"])
        if a.decay_steps <= 0:
            sys.exit("--branch needs --decay-steps")
        options["train"]["decay_start"] = state["step"]
        options["train"]["decay_steps"] = a.decay_steps
        state["best_val"] = -1.0
        print(f"branching {a.branch} at step {state['step']}: decay over {a.decay_steps} steps", flush=True)
    else:
        if not a.options:
            sys.exit(f"no {resume_path} to resume: give --options")
        options = load_options(a.options)
        options["options_file"] = os.path.relpath(a.options, os.path.dirname(HERE))
    t = options["train"]
    t.setdefault("val_crop", t["crop"])
    val_degradation = copy.deepcopy(options.get("val_degradation", options["degradation"]))
    if a.degrade:
        if not a.branch or os.path.exists(resume_path):
            sys.exit("--degrade is for a new --branch (an ablation from a common checkpoint)")
        options["val_degradation"] = val_degradation
        for item in a.degrade:
            key, _, value = item.partition("=")
            options["degradation"][key] = json.loads(value)
            print(f"degradation {key} = {options['degradation'][key]} for this branch", flush=True)
        degrade.Degradation.from_dict(options["degradation"])  # validates the switch
    val_data = copy.deepcopy(options.get("val_data", options["data"]))
    if a.fixed_camera:
        if not a.branch or os.path.exists(resume_path) or not options["data"].get("fixed_camera"):
            sys.exit("--fixed-camera is for a new --branch of a fixed-camera run")
        options["val_data"] = val_data
        known = inspect.signature(degrade.FixedCameraGenerator.__init__).parameters
        for item in a.fixed_camera:
            key, _, value = item.partition("=")
            if key not in known or key in ("self", "images", "clips", "crop", "seed", "degradation", "weights", "kw"):
                sys.exit(f"--fixed-camera: unknown switch {key}")
            options["data"]["fixed_camera"][key] = json.loads(value)
            print(f"fixed-camera {key} = {options['data']['fixed_camera'][key]} for this branch", flush=True)
    for item in a.set:
        key, _, value = item.partition("=")
        if key not in TRAIN_DEFAULTS:
            sys.exit(f"--set: unknown train option {key}")
        t[key] = json.loads(value)
        if key in ("reuse", "batch"):
            try:
                ReusedBatches.check(t["batch"], t.get("reuse", 1))
            except ValueError as e:
                sys.exit(f"--set {key}: {e}")
        if key == "crop" and t[key] % 32:
            sys.exit("--set crop: the crop must be a multiple of 32 (the network's pad multiple)")
        options.setdefault("changes", []).append({"step": state["step"] if state else 0, key: t[key]})
        print(f"train option {key} = {t[key]} from step {state['step'] if state else 0}", flush=True)
    if a.decay_steps and not a.branch and state is not None and t["decay_start"] is None:
        t["decay_start"], t["decay_steps"] = state["step"], a.decay_steps
    end = t["decay_start"] + t["decay_steps"] if t["decay_start"] is not None else t["steps"]
    if a.stop_at is not None:
        end = min(end, a.stop_at)
    threads = a.threads or t["threads"]
    torch.set_num_threads(threads)
    global DEVICE
    DEVICE = torch.device("cuda" if a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available()) else "cpu")
    use_bf16 = t.get("bf16", False)
    if use_bf16 and DEVICE.type == "cpu" and not cpu_has_bf16():
        # a run resumed on another machine keeps its options; emulated bfloat16 would make every step 18-24x slower
        print("bf16 is on in the options, but this CPU has neither avx512_bf16 nor amx_bf16: training in float32", flush=True)
        use_bf16 = False

    # the model, its EMA and the optimiser
    torch.manual_seed(t["seed"])
    np.random.seed(t["seed"])
    random.seed(t["seed"])
    model = build(options["model"])
    if state is None and options.get("init"):
        init = torch.load(os.path.join(os.path.dirname(HERE), options["init"]) if not os.path.isabs(options["init"])
                          else options["init"], map_location="cpu")
        options["init_step"] = init.get("step")
        missing = grow_into(model, init["ema"])
        print(f"initialised from {options['init']} ({missing})", flush=True)
    cl = t["channels_last"]
    model = model.to(DEVICE)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["wd"], betas=tuple(t["betas"]))
    step, best = 0, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        step, best = state["step"], -1.0 if a.reset_best else state.get("best_val", -1.0)

    # data: the worker, the manifest of what this run reads, the fixed val pairs
    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(maxsize=3), ctx.Event()
    worker = ctx.Process(target=_worker, args=(a.datasets, options, step, queue, stop), daemon=True)
    worker.start()
    loaded, _ = training_images(a.datasets, options["data"], "train")
    val_loaded, _ = training_images(a.datasets, options["data"], "val")
    manifest = os.path.join(a.out, "manifest.json")
    if not os.path.exists(manifest):
        used = [(s, i) for s, i, _ in loaded + val_loaded]
        if options["data"].get("fixed_camera"):  # whole clips, every frame
            used += [(s, i) for s in sources.collect(a.datasets) if s.split in ("train", "val")
                     and s.set in ("pets2001", "highway") for i, _ in sources.read_frames(s, 1)]
        sources.write_manifest(manifest, used, a.datasets, f"training and validation images of {a.out}")
    train_count = len(loaded)
    del loaded, val_loaded
    val_options = copy.deepcopy(options)
    val_options["train"]["crop"] = t["val_crop"]  # the val pairs stay the same when the training crop changes
    val_options["degradation"] = val_degradation  # ... and when an ablation branch changes a switch
    val_options["data"] = val_data
    # val_seed: draw another run's val pairs (a fork scored on its parent's pairs), else the run's own seed's
    val_seed = t.get("val_seed")
    val_gen = make_generator(a.datasets, val_options, "val", 10 ** 6 + (t["seed"] if val_seed is None else val_seed))
    vb = [val_gen.batch(i, 8)[:-1] for i in range(t["val_pairs"] // 8)]
    val = tuple(np.concatenate([b[k] for b in vb]) for k in range(len(vb[0])))
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{train_count} training images and frames, {len(val[0])} val pairs, {nparams} parameters, "
          f"{threads} threads, {DEVICE}; steps {step} -> {end}", flush=True)


    stopping = {"now": False}

    def on_signal(signum, _frame):
        stopping["now"] = True
        print(f"signal {signum}: saving and stopping", flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def snapshot():
        return {"options": options, "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                "rng": rng_state(), "step": step, "best_val": best, "config": options["model"]}

    log = open(os.path.join(a.out, "log.txt"), "a")
    run_loss, timer = 0.0, time.time()
    while step < end and not stopping["now"]:
        try:
            index, s, y, *ref = queue.get(timeout=5.0)
        except Exception:  # queue.Empty: check that the worker lives, and whether we were asked to stop
            if not worker.is_alive():
                sys.exit(f"the pair worker died (exit code {worker.exitcode})")
            continue
        assert index == step, (index, step)
        lr = learning_rate(step, t)
        for g in opt.param_groups:
            g["lr"] = lr
        s, y = to_tensor(s, cl), to_tensor(y, cl)
        ref = [to_tensor(r, cl) for r in ref]
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = model(y, *ref)
        out = out.float()
        if t.get("changed_weight", 0) > 0 and ref:
            loss = changed_l1(out, s, ref[0], t["changed_weight"], t.get("changed_level", 0.05))
        else:
            loss = F.l1_loss(out, s)
        if t["fft_weight"] > 0:
            loss = loss + t["fft_weight"] * fft_loss(out, s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["clip"])
        opt.step()
        with torch.no_grad():
            decay = min(t["ema"], (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        run_loss += loss.item()
        step += 1
        if step % 100 == 0:
            print(f"step {step}  lr {lr:.2e}  loss {run_loss / 100:.4f}  {(time.time() - timer) / 100:.3f} s/step", flush=True)
            run_loss, timer = 0.0, time.time()
        if step % t["val_every"] == 0 or step == end:
            p_out, p_in, p_id, changed_gain = evaluate(ema, val, cl)
            ck = {"config": options["model"], "ema": ema.state_dict(), "step": step, "val_psnr": p_out,
                  "val_psnr_blurry": p_in, "val_identity_psnr": p_id, "options": options}
            torch.save(ck, os.path.join(a.out, "last.pt"))
            msg = (f"[val] step {step}  blurry {p_in:.2f}  output {p_out:.2f} ({p_out - p_in:+.2f} dB)  "
                   f"identity {p_id:.2f} dB  lr {lr:.2e}" + (f"  changed {changed_gain:+.2f} dB" if changed_gain == changed_gain else ""))
            if p_out > best:
                best = p_out
                torch.save(ck, os.path.join(a.out, "best.pt"))
                msg += "  *best*"
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        if step % t["save_every"] == 0:
            save_resume(resume_path, snapshot())
    save_resume(resume_path, snapshot())
    stop.set()
    worker.join(timeout=5)
    if worker.is_alive():
        worker.terminate()
    print(f"stopped at step {step}; resume state in {resume_path}", flush=True)


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next(line for line in f if line.startswith("flags")).split())
    except (OSError, StopIteration):
        return set()


def cpu_has_bf16():
    """Native bfloat16 arithmetic on this CPU (AVX-512 BF16 or AMX); without it autocast emulates it."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def grow_into(model, source_state):
    """Initialise a larger model from a smaller one's weights, keeping the smaller one's function (Net2Net-style,
    Chen et al. 2016): every tensor is copied into the top-left corner of the new one; weights out of new channels,
    and new blocks' last convolutions, start at zero, so the grown network computes what the source did. New input
    channels of the stem (the fixed-camera reference) start at zero as well."""
    own = model.state_dict()
    grown, fresh = 0, 0
    with torch.no_grad():
        for name, tensor in own.items():
            if name not in source_state:
                if name.endswith("conv2.weight") or name.endswith("conv2.bias"):
                    tensor.zero_()  # a new residual block starts as the identity
                fresh += 1
                continue
            src = source_state[name]
            if src.shape == tensor.shape:
                tensor.copy_(src)
                continue
            if tensor.dim() == 4:  # conv: [out, in, k, k]
                # inputs from new channels contribute nothing; new outputs start small
                tensor[:, src.shape[1]:].zero_()
                tensor[src.shape[0]:] *= 0.1
            tensor[tuple(slice(0, n) for n in src.shape)] = src
            grown += 1
    model.load_state_dict(own)
    return f"{grown} tensors grown, {fresh} new"


if __name__ == "__main__":
    main()
