"""Pack a run's resume state for the repository, and unpack it on another machine.

training/checkpoints/ is git-ignored and machines are not kept, so a run that must outlive a session is committed
as training/resume/<run>.pt: the model and EMA weights in float32, the optimiser's moments in bfloat16 (they are
running averages; half their bits change nothing measurable and halve the file), the schedule position, the RNG states
and the options. `unpack` writes <out>/resume.pt, from which train.py resumes.

  /usr/bin/python3 training/pack_resume.py pack training/checkpoints/fast training/resume/fast.pt
  /usr/bin/python3 training/pack_resume.py unpack training/resume/fast.pt training/checkpoints/fast
  nice -n 10 /usr/bin/python3 training/train.py --datasets ../shared/datasets --out training/checkpoints/fast
"""
import os
import sys

import torch


def pack(run_dir, target):
    state = torch.load(os.path.join(run_dir, "resume.pt"), map_location="cpu")
    for s in state["optimizer"]["state"].values():
        for k in ("exp_avg", "exp_avg_sq"):
            s[k] = s[k].to(torch.bfloat16)
    state["packed"] = True
    for name in ("best.pt", "manifest.json", "log.txt"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path) and name != "best.pt":
            with open(path) as f:
                state[name] = f.read()
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    torch.save(state, target + ".tmp")
    os.replace(target + ".tmp", target)
    print(f"{target}: step {state['step']}, {os.path.getsize(target) / 1e6:.1f} MB")


def unpack(source, run_dir):
    state = torch.load(source, map_location="cpu")
    for s in state["optimizer"]["state"].values():
        for k in ("exp_avg", "exp_avg_sq"):
            s[k] = s[k].to(torch.float32)
    os.makedirs(run_dir, exist_ok=True)
    for name in ("manifest.json", "log.txt"):
        text = state.pop(name, None)
        if text is not None and not os.path.exists(os.path.join(run_dir, name)):
            with open(os.path.join(run_dir, name), "w") as f:
                f.write(text)
    state.pop("packed", None)
    torch.save(state, os.path.join(run_dir, "resume.pt"))
    print(f"{run_dir}/resume.pt: step {state['step']}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
