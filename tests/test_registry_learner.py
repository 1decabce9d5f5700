"The registry with the real Learner: RegistryCallback indexes a fit, load_run rebuilds it, a search prunes through it."
import json
from pathlib import Path

import optuna
import pytest
import torch

learner = pytest.importorskip("speechnb.train.learner")
synth = pytest.importorskip("speechnb.train.synth")
metrics = pytest.importorskip("speechnb.train.metrics")
checkpoint = pytest.importorskip("speechnb.train.checkpoint")

from speechnb.core import atomic_write_text
from speechnb.registry.runs import Registry, RegistryCallback, make_run_id
from speechnb.registry.search import ensemble_probs, search, top_runs


def build_model(config):
    "config -> SynthModel (the model builder a recipe would provide)."
    return synth.SynthModel(n_hidden=config["model"]["n_hidden"])


def train(config, run_dir, cbs=()):
    "What a recipe does: save the config, fit a Learner that writes the run folder (no curves.png: 2 s a plot)."
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(run_dir)/"config.json", json.dumps(config))
    torch.manual_seed(config["seed"])
    learn = learner.Learner(build_model(config), synth.synth_dls(n_train=32, n_valid=16), synth.cross_entropy_loss,
                            lr=config["train"]["lr"], metrics=[metrics.Accuracy()], cbs=[*cbs, checkpoint.RunFolder(curves=False)], run_dir=run_dir,
                            progress=False)
    learn.fit(config["train"]["epochs"])
    return learn


CONFIG = dict(name="synth", seed=0, model=dict(n_hidden=16), train=dict(lr=3e-3, epochs=2))


def test_callback_registers_and_load_run_rebuilds(tmp_path):
    root = tmp_path/"runs"
    cb = RegistryCallback(tags=["real"])
    learn = train(CONFIG, root/make_run_id("synth"), cbs=[cb])
    reg = Registry(root)
    rec = reg.get(cb.run_id)
    assert rec["status"] == "finished" and rec["epochs"] == 2 and rec["tags"] == ["real"]
    assert rec["metrics"]["accuracy"] == pytest.approx(learn.history["accuracy"].max())
    run = reg.load_run(cb.run_id, build_model=build_model, checkpoint="last")
    batch = next(iter(synth.synth_dls(n_train=32, n_valid=16).valid))
    learn.model.eval()
    with torch.no_grad():
        assert torch.allclose(run.model(batch)["logits"], learn.model(batch)["logits"].cpu(), atol=1e-6)
    assert reg.leaderboard("valid_loss").index[0] == cb.run_id


def test_search_with_the_learner_prunes_and_registers(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = dict(CONFIG, train=dict(lr=3e-3, epochs=3),
               search=dict(space={"train.lr": {"type": "float", "low": 1e-5, "high": 3e-1, "log": True}},
                           metric="valid_loss", n_startup_trials=2, n_warmup_steps=0, sampler="random", seed=1))
    study = search(lambda c, d, cbs: train(c, d, cbs), cfg, tmp_path/"runs", n_trials=5)
    reg = Registry(tmp_path/"runs")
    assert len(reg.runs(tag="study:synth")) == 5
    assert all(r["status"] == "finished" for r in map(reg.get, reg.runs(tag="study:synth").index))
    for t in study.trials:
        rec = reg.get(t.user_attrs["run_id"])
        if t.state.name == "PRUNED": assert "pruned" in rec["tags"] and rec["epochs"] < 3
        else: assert rec["epochs"] == 3 and rec["metrics"]["valid_loss"] == pytest.approx(t.value)
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED"}    # seeded: low lrs get pruned
    top = top_runs(study, k=2, registry=reg)
    assert all(Path(c).exists() for c in top.checkpoint)
    models = [reg.load_run(r, build_model=build_model) for r in top.run_id]          # the top-k ensemble
    batch = next(iter(synth.synth_dls(n_train=32, n_valid=16).valid))
    probs = ensemble_probs(models, batch)
    assert probs.shape == (len(batch["labels"]), 3) and torch.allclose(probs.sum(-1), torch.ones(len(probs)))
    with torch.no_grad():
        assert torch.allclose(probs, torch.stack([m.model(batch)["logits"].softmax(-1) for m in models]).mean(0))


def test_load_run_through_the_recipes(tmp_path):
    "A run folder whose config.json is an ExperimentConfig loads with no builder given: recipes.build_model is used."
    recipes = pytest.importorskip("speechnb.train.recipes")
    from safetensors.torch import save_file
    cfg = recipes.ExperimentConfig(name="kws", classes=["no", "yes"])
    model = recipes.build_model(cfg)
    torch.nn.init.normal_(next(model.parameters()))           # differ from a fresh build
    run_dir = tmp_path/"runs"/make_run_id("kws")
    cfg.to_json(run_dir/"config.json")
    (run_dir/"checkpoints").mkdir()
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(run_dir/"checkpoints"/"best.safetensors"))
    reg = Registry(tmp_path/"runs")
    run = reg.load_run(reg.register(run_dir))
    assert type(run.model) is type(model) and run.data_config["metadata"] == cfg.data.metadata
    for (k, a), b in zip(model.state_dict().items(), run.model.state_dict().values()):
        assert torch.equal(a, b), k
