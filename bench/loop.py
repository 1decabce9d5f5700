"""Per-step time of `Learner.fit` against a plain PyTorch loop on the same model and data, side by side.

    .venv/bin/python bench/loop.py                 # CPU: small model; CUDA (if present): bigger model, bf16
    .venv/bin/python bench/loop.py --device cpu --repeats 7 --steps 50

The two loops are run alternately (plain, Learner, plain, Learner, ...) after a warm-up of each, so
drifts in machine load hit both; the report gives the median time per optimiser step of each and the
Learner's overhead in percent (target: 3 % or less). Both loops move the same batches to the device
with non_blocking=True, use the same autocast precision and AdamW; the Learner runs with its default
callbacks (system monitor) but no progress bar, validation or run folder.
"""
import argparse, copy, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from torch import nn
from torch.utils.data import DataLoader

from speechnb.data.batching import BucketBatchSampler, DataLoaders, collate_audio
from speechnb.train.learner import Learner
from speechnb.train.synth import SynthDataset, cross_entropy_loss


class MLP(nn.Module):
    "A residual MLP on the raw waveform: enough compute per step to make the comparison meaningful."
    def __init__(self, n_in, hidden, depth, n_classes=10):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU()) for _ in range(depth)])
        self.out = nn.Linear(hidden, n_classes)
    def forward(self, batch):
        h = self.inp(batch["input_values"])
        for b in self.blocks: h = h + b(h)
        return dict(logits=self.out(h))


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def plain_epoch(model, opt, dl, device, precision):
    "The reference: a hand-written loop doing the same work as the Learner's training epoch."
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    model.train(); n = 0
    sync(device); t0 = time.perf_counter()
    for batch in dl:
        batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = cross_entropy_loss(model(batch), batch)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True); n += 1
    sync(device)
    return (time.perf_counter() - t0) / n


class _Timer:
    "Times the Learner's training part of each epoch (device-synchronised)."
    def before_train(self, learn): sync(learn.device); self.t0 = time.perf_counter(); self.step0 = learn.step
    def after_train(self, learn): sync(learn.device); self.per_step = (time.perf_counter() - self.t0) / (learn.step - self.step0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default=None, help="fp32 | bf16 | fp16 (default: bf16 on CUDA, fp32 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps per timed epoch")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=None)
    a = ap.parse_args()
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    precision = a.precision or ("bf16" if cuda else "fp32")
    steps = a.steps or (200 if cuda else 40)
    bs = a.batch_size or (64 if cuda else 16)
    n_in, hidden, depth = (16000, 1024, 8) if cuda else (4000, 256, 4)
    torch.manual_seed(0)
    ds = SynthDataset(steps * bs, n_samples=n_in, n_classes=10)
    dl = DataLoader(ds, batch_sampler=BucketBatchSampler(ds, bs, seed=0), collate_fn=collate_audio, pin_memory=cuda)
    batches = list(dl)                 # collate once: both loops time the step, not the collation
    base = MLP(n_in, hidden, depth).to(device)

    m_plain = copy.deepcopy(base); opt = torch.optim.AdamW(m_plain.parameters(), lr=1e-4)
    timer = _Timer()
    learn = Learner(copy.deepcopy(base), DataLoaders(batches, None), cross_entropy_loss, lr=1e-4, precision=precision,
                    device=device, progress=False, cbs=[timer])
    plain_epoch(m_plain, opt, batches, device, precision); learn.fit(1)     # warm-up (allocator, kernels)
    t_plain, t_learn = [], []
    for r in range(a.repeats):
        t_plain.append(plain_epoch(m_plain, opt, batches, device, precision))
        learn.fit(1); t_learn.append(timer.per_step)
    mp, ml = statistics.median(t_plain), statistics.median(t_learn)
    print(f"device {device} ({torch.cuda.get_device_name(device) if cuda else 'cpu'}), precision {precision}, "
          f"model {sum(p.numel() for p in base.parameters()) / 1e6:.1f}M params, batch {bs}, {steps} steps x {a.repeats} repeats")
    print(f"{'loop':<10}{'median ms/step':>16}{'min':>10}{'max':>10}")
    for name, t in (("plain", t_plain), ("Learner", t_learn)):
        print(f"{name:<10}{statistics.median(t) * 1e3:>16.3f}{min(t) * 1e3:>10.3f}{max(t) * 1e3:>10.3f}")
    paired = statistics.median(l / p for p, l in zip(t_plain, t_learn))   # each repeat's ratio: robust to load drifting
    print(f"Learner overhead: {100 * (ml / mp - 1):+.2f}% (ratio of medians), {100 * (paired - 1):+.2f}% (median of paired ratios); target <= 3%")


if __name__ == "__main__":
    main()
