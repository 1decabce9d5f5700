"Optuna searches in several processes share the registry's SQLite file with plain registry writers, losing nothing."
import json, math, multiprocessing as mp, sqlite3
from pathlib import Path

import optuna
import pandas as pd
import pytest

from speechnb.core import atomic_write_text
from speechnb.registry.runs import Registry, write_fake_run
from speechnb.registry.search import cancel_fit_exception, load_study, search, top_runs

CTX = mp.get_context("fork")


def fake_train(config, run_dir, cbs):
    "A stand-in Learner fit: a loss bowl in log10(lr), callbacks' after_epoch with last_metrics, a run folder."
    class Learn: pass
    learn, rows, run_dir = Learn(), [], Path(run_dir)
    learn.run_dir = run_dir
    run_dir.mkdir(parents=True)
    atomic_write_text(run_dir/"config.json", json.dumps(config))
    try:
        for learn.epoch in range(config["train"]["epochs"]):
            loss = (math.log10(config["train"]["lr"]) + 2.5)**2 + 1/(learn.epoch + 1)
            learn.last_metrics = dict(valid_loss=loss)
            rows.append(dict(epoch=learn.epoch, valid_loss=loss))
            for cb in cbs: cb.after_epoch(learn)
    except cancel_fit_exception(): pass
    atomic_write_text(run_dir/"history.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(run_dir/"status.json", json.dumps(dict(status="finished")))


CONFIG = dict(name="par", train=dict(lr=1e-3, epochs=3),
              search=dict(space={"train.lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True}},
                          metric="valid_loss", pruner="median", n_startup_trials=2, sampler="random"))


def _searcher(root, seed, barrier):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    barrier.wait(timeout=60)
    search(fake_train, dict(CONFIG, search=dict(CONFIG["search"], seed=seed)), root, n_trials=4)


def _registrar(root, barrier):
    reg = Registry(root)
    dirs = [write_fake_run(root, f"plain{i}") for i in range(6)]
    barrier.wait(timeout=60)
    for d in dirs: reg.register(d, tags=["plain"])


def test_parallel_searches_and_registrations(tmp_path):
    root = tmp_path/"runs"
    Registry(root)
    barrier = CTX.Barrier(3)
    procs = [CTX.Process(target=_searcher, args=(root, s, barrier)) for s in (1, 2)]
    procs.append(CTX.Process(target=_registrar, args=(root, barrier)))
    for p in procs: p.start()
    for p in procs: p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    reg = Registry(root)
    study = load_study(root, "par")
    assert len(study.trials) == 8                                           # both searchers' trials, one study
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    runs = reg.runs(tag="study:par")
    assert len(runs) == 8 and set(runs.index) == {t.user_attrs["run_id"] for t in study.trials}
    assert len(reg.runs(tag="plain")) == 6
    top = top_runs(study, k=2, registry=reg)
    assert len(top) == 2 and top.value.iloc[0] == study.best_value
    with sqlite3.connect(reg.db_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
