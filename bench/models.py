"""Forward + backward time of speechnb's SpeechClassifier against the bare transformers model with a linear head.

Same random config, same weights, same padded batch, both fully trainable, SpecAugment and LayerDrop off in both.
On CUDA: base-size WavLM and HuBERT configs, bf16 autocast, 8 x 10 s (lengths 6-10 s, padded). On CPU: tiny configs.
Prints ms/step, audio-seconds per second and the overhead ratio (speechnb / bare; below 1.0 means faster).

    python bench/models.py                  # CUDA if available, else CPU with tiny configs
    python bench/models.py --device cpu --size base --batch-size 1 --seconds 2 --steps 2
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speechnb.models.backbones import load_backbone, tiny_config
from speechnb.models.classifier import build_classifier

transformers.logging.set_verbosity_error()


class BareClassifier(nn.Module):
    "The transformers model's own forward, masked mean over frames, and a linear head."
    def __init__(self, model: nn.Module, num_classes: int):
        super().__init__()
        self.model, self.head = model, nn.Linear(model.config.hidden_size, num_classes)

    def forward(self, batch: dict) -> dict:
        h = self.model(batch["input_values"], attention_mask=batch["attention_mask"]).last_hidden_state
        m = self.model._get_feature_vector_attention_mask(h.shape[1], batch["attention_mask"]).unsqueeze(-1).to(h.dtype)
        return {"logits": self.head((h * m).sum(1) / m.sum(1).clamp(min=1))}



def make_config(family: str, size: str):
    "A base-size (transformers defaults) or tiny config with SpecAugment and LayerDrop off."
    off = dict(mask_time_prob=0.0, mask_feature_prob=0.0, layerdrop=0.0)
    if size == "tiny": return tiny_config(family, **off)
    cls = {"wavlm": transformers.WavLMConfig, "hubert": transformers.HubertConfig, "wav2vec2": transformers.Wav2Vec2Config}[family]
    return cls(**off)


def make_batch(batch_size: int, seconds: float, device, sample_rate: int = 16000) -> dict:
    "A padded batch of random audio; lengths spread from 60% to 100% of `seconds`."
    n = int(seconds * sample_rate)
    lengths = torch.linspace(0.6 * n, n, batch_size).long()
    x = torch.randn(batch_size, n)
    mask = (torch.arange(n)[None] < lengths[:, None]).long()
    return {"input_values": (x * mask).to(device), "attention_mask": mask.to(device),
            "labels": torch.randint(0, 4, (batch_size,)).to(device)}


def make_step(model: nn.Module, batch: dict, device, amp: bool):
    "One forward + backward step of `model` on `batch`, as a function."
    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch)["logits"]
        F.cross_entropy(logits.float(), batch["labels"]).backward()
        model.zero_grad(set_to_none=True)
    return step


def time_interleaved(steps: dict, n: int, warmup: int, device) -> dict:
    "Median seconds per step of each function in `steps`, run alternately so load drifts hit both alike."
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        for f in steps.values(): f()
    times = {k: [] for k in steps}
    for _ in range(n):
        for k, f in steps.items():
            sync(); t0 = time.perf_counter(); f(); sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_family(family: str, args, device) -> dict:
    "Build both models on the same weights and time them on the same batch."
    torch.manual_seed(0)
    ours = build_classifier(load_backbone(make_config(family, args.size)), num_classes=4, pooling="mean").to(device).train()
    bare_model = getattr(transformers, {"wavlm": "WavLMModel", "hubert": "HubertModel", "wav2vec2": "Wav2Vec2Model"}[family])(make_config(family, args.size))
    bare_model.load_state_dict(ours.backbone.model.state_dict())
    bare = BareClassifier(bare_model, 4).to(device).train()
    batch = make_batch(args.batch_size, args.seconds, device)
    # sanity: on an unpadded batch in eval mode both compute the same logits (before timing)
    with torch.no_grad():
        bare.head.load_state_dict({"weight": ours.head.net[-1].weight, "bias": ours.head.net[-1].bias})
        full = {"input_values": batch["input_values"][-1:], "attention_mask": batch["attention_mask"][-1:]}   # the unpadded row
        gap = (ours.eval()(full)["logits"].float() - bare.eval()(full)["logits"].float()).abs().max().item()
    ours.train(); bare.train()
    amp = device.type == "cuda" and not args.fp32
    order = [("transformers", bare), ("speechnb", ours)]
    if args.ours_first: order.reverse()
    res = time_interleaved({k: make_step(m, batch, device, amp) for k, m in order}, args.steps, args.warmup, device)
    audio_s = batch["attention_mask"].sum().item() / 16000
    return {"family": family, "gap": gap, "audio_s": audio_s, **res}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", choices=["base", "tiny"], default=None, help="default: base on CUDA, tiny on CPU")
    p.add_argument("--families", default="wavlm,hubert")
    p.add_argument("--batch-size", type=int, default=None, help="default: 8 on CUDA, 4 on CPU")
    p.add_argument("--seconds", type=float, default=None, help="default: 10 on CUDA, 0.25 on CPU (tiny convs keep 10x more frames per second than base ones)")
    p.add_argument("--steps", type=int, default=None, help="default: 20 on CUDA, 15 on CPU")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default 1 on CPU: the test machine is shared)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--ours-first", action="store_true", help="time speechnb before transformers")
    args = p.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.size = args.size or ("base" if cuda else "tiny")
    args.batch_size = args.batch_size or (8 if cuda else 4)
    args.seconds = args.seconds or (10.0 if cuda else 0.25)
    args.steps = args.steps or (20 if cuda else 15)
    if not cuda: torch.set_num_threads(args.threads or 1)
    if cuda: torch.backends.cudnn.benchmark = True
    print(f"device {device} ({torch.cuda.get_device_name(device) if cuda else 'cpu'}, {torch.get_num_threads()} threads), "
          f"{args.size} configs, batch {args.batch_size} x {args.seconds:g} s, {'bf16 autocast' if cuda and not args.fp32 else 'fp32'}, "
          f"median of {args.steps} interleaved steps after {args.warmup} warm-up, forward + backward, all weights trainable")
    print(f"{'family':8s} {'transformers ms':>16s} {'speechnb ms':>12s} {'tf audio-s/s':>13s} {'snb audio-s/s':>14s} {'overhead':>9s} {'logit gap':>10s}")
    for family in args.families.split(","):
        r = bench_family(family, args, device)
        tf, sn = r["transformers"], r["speechnb"]
        print(f"{family:8s} {1000 * tf:16.1f} {1000 * sn:12.1f} {r['audio_s'] / tf:13.1f} {r['audio_s'] / sn:14.1f} "
              f"{sn / tf:8.3f}x {r['gap']:10.1e}")


if __name__ == "__main__":
    main()
