"""Speech-to-text from scratch on the demo sentences: joint CTC + attention, held-out speakers, CER/WER.

Usage: python bench/speech_to_text.py [--minutes 5] [--out runs/bench_speech_to_text] [--device cpu|cuda]

Trains `speechnb.models.seq2seq.SpeechToText` (two Conformer-style convolution blocks + a 4-layer transformer encoder,
a 2-layer decoder, CTC weight 0.5) for a fixed budget of wall-clock time (or of this process's CPU time, fair on a
shared machine) with a time-based warmup + cosine learning-rate schedule, speed perturbation and SpecAugment, then
transcribes the two held-out speakers with attention greedy, attention beam search and CTC greedy decoding, and
prints CER and WER with `<sil>` counted and ignored. Targets are `<sil> characters <sil>` (or words with
`--unit word`; the vocabulary comes from the training speakers' texts only; every clip has ~50 ms of silence at
each end).
"""
from __future__ import annotations
import argparse, json, math, os, sys, time
from pathlib import Path

import torch
import torchaudio
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from speechnb.core import atomic_write_text, get_device, is_debug, seed_everything
from speechnb.data.batching import collate_audio
from speechnb.data.datasets import AudioDataset
from speechnb.data.text import CharTokenizer, WordTokenizer
from speechnb.models.ctc import ctc_greedy_decode
from speechnb.models.seq2seq import SpeechToText, SpeechToTextConfig, SpeechToTextLoss
from speechnb.train.metrics import CER, WER

HELD_OUT = ("en-029_m5", "en-gb-x-rp_f3")


def load_items(csv: Path, tokenizer, sil: bool = True):
    "All clips in memory as dataset items with `tokens` = [<sil>] + chars + [<sil>]."
    ds = AudioDataset.from_csv(csv, label_column=None, shrink_in_debug=False)
    items = []
    for i in range(len(ds)):
        it = ds[i]
        ids = tokenizer.encode(it["text"])
        it["tokens"] = torch.tensor([tokenizer.sil_id] + ids + [tokenizer.sil_id] if sil else ids)
        items.append(it)
    return items


def speed_perturb(batch: dict, factor: float, sr: int = 16000) -> dict:
    "Resample the whole batch by `factor` (>1: faster speech), fixing `attention_mask` and `lengths`."
    new_sr = int(round(sr / factor / 400)) * 400   # a multiple of 400 Hz keeps the resampling kernel short
    if new_sr == sr: return batch
    x = torchaudio.functional.resample(batch["input_values"], sr, new_sr)
    lengths = (batch["lengths"].float() * new_sr / sr).floor().long().clamp(max=x.shape[1])
    mask = (torch.arange(x.shape[1])[None] < lengths[:, None]).long()
    return dict(batch, input_values=x * mask, attention_mask=mask, lengths=lengths)


def lr_at(frac: float, peak: float, warmup: float = 0.08) -> float:
    "Learning rate at fraction `frac` of the time budget: linear warmup, then cosine to 2% of `peak`."
    if frac < warmup: return peak * frac / warmup
    p = min(1.0, (frac - warmup) / (1 - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def evaluate(model, items, tokenizer, device, batch_size: int = 16, beam_size: int = 4) -> dict:
    "CER/WER with <sil> counted and ignored, for attention greedy, attention beam and CTC greedy decoding."
    def text(ids): return tokenizer.decode([t for t in ids if t not in (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)], skip_special=False)
    hyps = {"attention_greedy": [], f"attention_beam{beam_size}": [], "ctc_greedy": []}
    refs = []
    model.eval()
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        batch = to_device(collate_audio(chunk, pad_id=tokenizer.pad_id), device)
        refs += [text(it["tokens"].tolist()) for it in chunk]
        hyps["attention_greedy"] += [text(t) for t in model.generate(batch, max_len=80)["tokens"]]
        hyps[f"attention_beam{beam_size}"] += [text(t) for t in model.generate(batch, max_len=80, beam_size=beam_size)["tokens"]]
        with torch.no_grad(): out = model(dict(batch, labels=None))
        hyps["ctc_greedy"] += [text(t) for t in ctc_greedy_decode(out["ctc_logits"], out["frame_mask"], tokenizer.pad_id)]
    scores = {}
    for name, hs in hyps.items():
        for tag, ignore in (("", ("<sil>",)), ("_with_sil", ())):
            for metric in (CER(ignore=ignore), WER(ignore=ignore)):
                metric.add(hs, refs)
                scores[f"{name}/{metric.name}{tag}"] = round(metric.compute(), 4)
    examples = [dict(ref=r, **{k: v[j] for k, v in hyps.items()}) for j, r in enumerate(refs[:5])]
    return dict(scores=scores, examples=examples)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget in minutes (see --clock)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="wall",
                    help="'cpu': budget counts process CPU time (= wall time on an idle machine with --threads 1; fair on a shared CPU); 'wall': wall clock")
    ap.add_argument("--max-wall-minutes", type=float, default=40.0, help="hard wall-clock cap for --clock cpu")
    ap.add_argument("--data", default=str(ROOT / "data/demo/sentences/metadata.csv"))
    ap.add_argument("--out", default=str(ROOT / "runs/bench_speech_to_text"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--ctc-weight", type=float, default=0.5)
    ap.add_argument("--conv-layers", type=int, default=2, help="Conformer-style convolution blocks before the transformer")
    ap.add_argument("--enc-layers", type=int, default=4)
    ap.add_argument("--subsampling", type=int, default=None, help="default: 4 for words, 2 for characters")
    ap.add_argument("--speed", type=float, default=0.15, help="speed perturbation: factors drawn from 1 +- this")
    ap.add_argument("--unit", choices=("word", "char"), default="char", help="output tokens")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = get_device(args.device)
    t0 = time.time()

    import pandas as pd
    meta = pd.read_csv(args.data)
    train_texts = meta.text[~meta.speaker.isin(HELD_OUT)].tolist()
    tok = (WordTokenizer if args.unit == "word" else CharTokenizer).from_texts(train_texts)   # held-out texts never seen
    items = load_items(Path(args.data), tok)
    train = [it for it in items if it["speaker"] not in HELD_OUT]
    test = [it for it in items if it["speaker"] in HELD_OUT]
    n_oov = sum(int((it["tokens"] == tok.unk_id).sum()) for it in test)
    if is_debug(): train, test = train[:16], test[:8]
    print(f"{len(train)} training clips ({len(set(i['speaker'] for i in train))} speakers), {len(test)} held-out clips "
          f"({', '.join(HELD_OUT)}), {args.unit} vocab {tok.vocab_size} ({n_oov} held-out tokens out of vocabulary), loaded in {time.time() - t0:.1f}s", flush=True)

    cfg = SpeechToTextConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id,
                             d_model=args.d_model, n_heads=4, enc_layers=args.enc_layers, enc_conv_layers=args.conv_layers, dec_layers=2, ff_mult=2, conv_channels=32,
                             subsampling=args.subsampling or (4 if args.unit == "word" else 2), dropout=0.1, ctc_weight=args.ctc_weight, label_smoothing=0.1,
                             pos_encoding="rotary", dec_pos_encoding="sinusoidal", freq_mask=12, time_mask=15, n_masks=2)
    model = SpeechToText(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    loss_func = SpeechToTextLoss(cfg.ctc_weight, cfg.label_smoothing, cfg.pad_id)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    budget = 60 * args.minutes if not is_debug() else 10.0
    g = torch.Generator().manual_seed(args.seed)
    t_train, c_train, step, epoch, log = time.time(), time.process_time(), 0, 0, []
    def used() -> float:
        "Fraction of the budget used."
        wall = (time.time() - t_train) / budget
        return wall if args.clock == "wall" else max((time.process_time() - c_train) / budget, wall * budget / (60 * args.max_wall_minutes))
    done = False
    while not done:
        model.train()
        # bucket by duration, shuffle the buckets
        order = sorted(range(len(train)), key=lambda i: len(train[i]["audio"]) + 800 * torch.rand(1, generator=g).item())
        batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        tot, n = 0.0, 0
        for bidx in batches:
            frac = used()
            if frac >= 1: done = True; break
            for grp in opt.param_groups: grp["lr"] = lr_at(frac, args.lr)
            batch = collate_audio([train[i] for i in bidx], pad_id=tok.pad_id)
            batch = speed_perturb(batch, 1 + args.speed * (2 * torch.rand(1, generator=g).item() - 1))
            batch = to_device(batch, device)
            loss = loss_func(model(batch), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1; tot += loss.item(); n += 1
        epoch += 1
        if n:
            log.append(dict(epoch=epoch, step=step, train_loss=round(tot / n, 4), time_s=round(time.time() - t_train, 1),
                            cpu_s=round(time.process_time() - c_train, 1)))
            if epoch % 2 == 0 or done: print(log[-1], flush=True)
    train_s, train_cpu_s = time.time() - t_train, time.process_time() - c_train
    t_eval = time.time()
    res = evaluate(model, test, tok, device)
    eval_s = time.time() - t_eval
    report = dict(unit=args.unit, device=str(device), threads=args.threads, params=n_params, config=cfg.to_dict(), held_out_speakers=list(HELD_OUT),
                  n_train=len(train), n_test=len(test), epochs=epoch, steps=step, clock=args.clock, train_s=round(train_s, 1), train_cpu_s=round(train_cpu_s, 1),
                  eval_s=round(eval_s, 1), total_s=round(time.time() - t0, 1), **res, history=log)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    cfg.to_json(out / "model_config.json")
    tok.save(out / "tokenizer.json")
    print(json.dumps(dict(scores=res["scores"], examples=res["examples"], train_s=round(train_s, 1), train_cpu_s=round(train_cpu_s, 1), epochs=epoch, steps=step, params=n_params), indent=1))
    return report


if __name__ == "__main__":
    main()
