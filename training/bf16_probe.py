"""Is bfloat16 autocast faster than float32 for training on this CPU? Times one training step of the fast network
(batch 8, 192 px crops, 2 threads) in four modes: float32 or bfloat16 autocast, contiguous or channels-last tensors.

  /usr/bin/python3 training/bf16_probe.py

Prints the CPU flags that matter (avx512_bf16, amx_bf16, avx512f) and ms per step for each mode, best of 5 after 2
warm-up steps. Run it on a quiet machine: the ratio is what counts.
"""
import sys
import os
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build  # noqa: E402
from train import cpu_flags  # noqa: E402

CONFIG = {"arch": "dense", "widths": [16, 32, 48, 96, 192], "enc": [1, 1, 1, 1], "middle": 2, "dec": [1, 1, 1, 1]}


def main():
    torch.set_num_threads(2)
    flags = cpu_flags()
    print("cpu flags:", {k: k in flags for k in ("avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")})
    x, y = torch.rand(8, 3, 192, 192), torch.rand(8, 3, 192, 192)
    for bf16 in (False, True):
        for channels_last in (False, True):
            torch.manual_seed(0)
            m = build(CONFIG)
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            m = m.to(memory_format=fmt)
            opt = torch.optim.AdamW(m.parameters(), 1e-4)
            xx = x.contiguous(memory_format=fmt)

            def step():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.l1_loss(m(xx).float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            for _ in range(2):
                step()
            times = []
            for _ in range(5):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
            print(f"{'bfloat16 autocast' if bf16 else 'float32':18s} {'channels-last' if channels_last else 'contiguous':14s}"
                  f" {min(times) * 1000:7.0f} ms per step", flush=True)


if __name__ == "__main__":
    main()
