"Kill a training subprocess (SIGKILL) mid-epoch after a step checkpoint, resume it, and compare with an uninterrupted run."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import sys, time, torch
    from pathlib import Path
    from speechnb.train.learner import Learner
    from speechnb.train.checkpoint import CheckpointCallback
    from speechnb.train.schedulers import one_cycle
    from speechnb.train.synth import SynthModel, synth_dls, cross_entropy_loss
    run_dir, mode = Path(sys.argv[1]), sys.argv[2]
    class Slow:
        order = 100
        def after_step(self, learn):
            if mode == "slow": time.sleep(0.1)     # leaves the test time to kill us mid-epoch
    torch.manual_seed(0)
    learn = Learner(SynthModel(dropout=0.2), synth_dls(n_train=64, batch_size=4), cross_entropy_loss, lr=1e-2,
                    run_dir=run_dir, progress=False, cbs=[CheckpointCallback(every_n_steps=5), one_cycle(1e-2), Slow()])
    torch.manual_seed(1)
    learn.fit(3, resume=True if mode == "resume" else None)
    learn.save_weights(run_dir / "final.safetensors")
    learn.history.to_csv(run_dir / "final_history.csv", index=False)
''')

def _launch(tmp, run_dir, mode):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPEECHNB_DEVICE="cpu", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, str(tmp / "train.py"), str(run_dir), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

def _last(run_dir):
    try: return json.loads((run_dir / "checkpoints" / "last.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError): return None

def test_resume_after_sigkill_is_bit_identical(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref = _launch(tmp_path, ref_dir, "full")
    victim = _launch(tmp_path, run_dir, "slow")
    deadline = time.time() + 240
    while time.time() < deadline:            # wait for a mid-epoch step checkpoint in epoch 1
        meta = _last(run_dir)
        if meta is not None and meta["epoch"] >= 1 and not meta["epoch_done"]: break
        if victim.poll() is not None: pytest.fail(f"training exited early:\n{victim.stdout.read()}")
        time.sleep(0.02)
    else: pytest.fail("no mid-epoch checkpoint within the time limit")
    victim.send_signal(signal.SIGKILL); victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (run_dir / "final.safetensors").exists()
    meta = _last(run_dir)
    assert not meta["epoch_done"] and 0 < meta["batch"] < 16, meta   # resuming mid-epoch: the sampler skips ahead
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"   # killed: never marked finished

    resumed = _launch(tmp_path, run_dir, "resume")
    out_r, out_ref = resumed.communicate(timeout=240), ref.communicate(timeout=240)
    assert resumed.returncode == 0, out_r[0]
    assert ref.returncode == 0, out_ref[0]
    a, b = load_file(ref_dir / "final.safetensors"), load_file(run_dir / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    ha, hb = (ref_dir / "final_history.csv").read_text().splitlines(), (run_dir / "final_history.csv").read_text().splitlines()
    cols = ha[0].split(",")
    keep = [cols.index(c) for c in ("epoch", "step", "train_loss", "valid_loss", "lr")]
    assert [[r.split(",")[i] for i in keep] for r in ha[1:]] == [[r.split(",")[i] for i in keep] for r in hb[1:]]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"
