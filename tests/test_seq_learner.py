"""Sequence models inside the Learner: seq2seq is evaluated with `generate`, CTC with its logits; configs rebuild models."""
import math

import pytest
import torch
from torch.utils.data import DataLoader

from speechnb.core import seed_everything
from speechnb.data.batching import DataLoaders, collate_audio
from speechnb.models.autoencoder import AutoencoderConfig, SequenceAutoencoder
from speechnb.models.ctc import CTCLoss, CTCSpeechModel
from speechnb.models.multimodal import MultimodalConfig, MultimodalModel
from speechnb.models.seq2seq import SpeechToText, SpeechToTextConfig, SpeechToTextLoss
from speechnb.train.learner import Learner
from speechnb.train.metrics import CER

TINY = dict(vocab_size=12, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, conv_channels=8, n_mels=40,
            dropout=0.0, spec_augment=False, max_target_len=8)


def items(n=4, sr=16000):
    "Sine clips of 0.3-0.45 s with 3-token transcripts."
    out = []
    for i in range(n):
        L = int(sr * (0.3 + 0.05 * i))
        t = torch.arange(L) / sr
        out.append(dict(audio=0.5 * torch.sin(2 * math.pi * (200 + 100 * i) * t), tokens=torch.tensor([4 + i, 5 + i, 6]),
                        text=" ".join("abcdefghijkl"[j] for j in (4 + i, 5 + i, 6)), index=i))
    return out


def dls():
    data = items()
    return DataLoaders(DataLoader(data, batch_size=2, collate_fn=collate_audio), DataLoader(data, batch_size=4, collate_fn=collate_audio))


def decode(ids): return " ".join("abcdefghijkl"[i] for i in ids if 4 <= i < 12)


@pytest.mark.parametrize("kind", ["seq2seq", "ctc"])
def test_learner_trains_and_evaluates_sequence_models(kind, monkeypatch):
    seed_everything(0)
    cfg = SpeechToTextConfig(**TINY, subsampling=2)
    model = SpeechToText(cfg) if kind == "seq2seq" else CTCSpeechModel(cfg)
    calls = []
    orig = model.generate
    monkeypatch.setattr(model, "generate", lambda batch, **kw: calls.append(sorted(batch)) or orig(batch, **kw))
    loss = SpeechToTextLoss(0.3, 0.0, 0) if kind == "seq2seq" else CTCLoss(cfg)
    learn = Learner(model, dls(), loss, lr=3e-3, metrics=[CER(decode=decode, pad_id=0)], progress=False, device="cpu",
                    generate_kwargs=dict(max_len=6))
    learn.fit(2)
    res = learn.validate()
    assert set(res) >= {"valid_loss", "cer"} and 0 <= res["cer"] <= 5 and math.isfinite(res["valid_loss"])
    assert len(learn.history) == 2
    if kind == "seq2seq":   # evaluated by generate, and the targets never reach it
        assert calls and all("labels" not in c for c in calls)
    else:
        assert not calls


def test_configs_rebuild_the_same_models(tmp_path):
    seed_everything(0)
    batch = collate_audio(items(2))
    for cfg_cls, model_cls, cfg in ((SpeechToTextConfig, SpeechToText, SpeechToTextConfig(**TINY, pos_encoding="relative")),
                                    (AutoencoderConfig, SequenceAutoencoder, AutoencoderConfig(channels=16, n_mels=32, arch="transformer", n_heads=2)),
                                    (MultimodalConfig, MultimodalModel, MultimodalConfig(d_model=32, n_heads=2, text="none", tasks={"a": 1, "b": 3}))):
        model = model_cls(cfg).eval()
        path = tmp_path / f"{cfg_cls.__name__}.json"
        cfg.to_json(path)
        torch.save(model.state_dict(), tmp_path / "w.pt")
        again = model_cls(cfg_cls.from_json(path)).eval()
        again.load_state_dict(torch.load(tmp_path / "w.pt"))
        with torch.no_grad():
            a, b = model(batch), again(batch)
        key = "logits" if "logits" in a else "reconstruction"
        torch.testing.assert_close(a[key], b[key])
