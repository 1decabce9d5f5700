"""Done-when matrix of the speech classifier: every backbone family x training mode x pooling trains one step
(every trainable parameter gets a gradient, frozen weights stay bit-identical), saves and reloads to identical
logits, and gives the same logits for an utterance alone and inside a padded batch."""
import copy

import pytest
import torch
import transformers

from speechnb.models.backbones import FAMILIES, load_backbone, save_tiny_checkpoint, tiny_config
from speechnb.models.classifier import MODES, POOLS, build_classifier, check_classifier, load_classifier, save_classifier

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    "Tiny models on a shared 2-core machine: one intra-op thread avoids oversubscription."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    "One tiny checkpoint per family, saved with save_pretrained and loaded back once; tests deep-copy it."
    root = tmp_path_factory.mktemp("ckpt")
    return {f: load_backbone(save_tiny_checkpoint(f, root / f), family=f) for f in FAMILIES}


@pytest.fixture(scope="module")
def batch():
    "Two utterances of 0.2 s at 16 kHz; the first is padded after 0.125 s."
    g = torch.Generator().manual_seed(0)
    b = {"input_values": torch.randn(2, 3200, generator=g), "attention_mask": torch.ones(2, 3200, dtype=torch.long),
         "labels": torch.tensor([1, 0])}
    b["attention_mask"][0, 2000:] = 0
    b["input_values"][0, 2000:] = 0
    return b


@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_matrix(backbones, batch, tmp_path, family, mode, pool):
    model = build_classifier(copy.deepcopy(backbones[family]), num_classes=2, **MODES[mode], **POOLS[pool])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("head.") for n in trainable)
    backbone_trainable = {n for n in trainable if n.startswith("backbone.")}
    if mode == "frozen": assert not backbone_trainable
    if mode == "lora": assert backbone_trainable and all("lora_" in n for n in backbone_trainable)
    if mode == "prompt": assert backbone_trainable == {"backbone.soft_prompt.prompt"}
    if mode == "layers_frozen": assert backbone_trainable and not any(".layers.0." in n for n in backbone_trainable)
    r = check_classifier(model, batch, tmp_path / "saved")
    assert r["padding_gap"] < 1e-5


@pytest.mark.parametrize("norm", ["group", "layer"])
@pytest.mark.parametrize("family", ["wavlm", "hubert", "wav2vec2"])
def test_padding_both_norms(batch, tmp_path, family, norm):
    bb = load_backbone(tiny_config(family, feat_extract_norm=norm, do_stable_layer_norm=norm == "layer"))
    for pool in POOLS:
        model = build_classifier(copy.deepcopy(bb), num_classes=2, freeze=True, **POOLS[pool]).eval()
        with torch.no_grad():
            padded = model(batch)["logits"][0]
            alone = model({"input_values": batch["input_values"][:1, :2000]})["logits"][0]
        assert (padded - alone).abs().max() < 1e-5, (family, norm, pool)


def test_adapters_only_roundtrip(backbones, batch, tmp_path):
    model = build_classifier(copy.deepcopy(backbones["wavlm"]), num_classes=2, pooling="attention",
                             lora=dict(r=4, alpha=8), prompt_tokens=2).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad: p.add_(0.01 * torch.randn_like(p))
    full = load_classifier(save_classifier(model, tmp_path / "full"))
    small = load_classifier(save_classifier(model, tmp_path / "small", adapters_only=True))
    with torch.no_grad():
        ref = model(batch)["logits"]
        assert torch.equal(full(batch)["logits"], ref)
        assert torch.equal(small(batch)["logits"], ref)
    assert (tmp_path / "small/model.safetensors").stat().st_size < (tmp_path / "full/model.safetensors").stat().st_size / 5


def test_nothing_pickled(backbones, tmp_path):
    model = build_classifier(copy.deepcopy(backbones["hubert"]), num_classes=3)
    folder = save_classifier(model, tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert (folder / "model.safetensors").read_bytes()[:1] != b"\x80"   # not a pickle stream


@pytest.mark.parametrize("family", list(FAMILIES))
def test_bf16_autocast(backbones, batch, family):
    "Under bf16 autocast (the Learner's precision='bf16') every family trains: finite loss, gradients everywhere trainable."
    model = build_classifier(copy.deepcopy(backbones[family]), num_classes=2, pooling="attention", layer="weighted",
                             lora=dict(r=4, alpha=8), prompt_tokens=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    loss = model.loss_func(out, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
