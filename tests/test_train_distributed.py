"Two CPU processes (gloo) train one model with DDP through the Learner: synchronised gradients, rank-0 writes, equal batch counts, layer drop."
import json, os, socket, subprocess, sys, textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import json, sys, torch
    from pathlib import Path
    from torch import nn
    from speechnb.train.learner import Learner
    from speechnb.train.checkpoint import save_weights
    from speechnb.train.distributed import make_accelerator, dist_info
    from speechnb.train.synth import synth_dls, cross_entropy_loss

    class LayerDropNet(nn.Module):
        "Layers skipped at random per rank and step, plus a frozen branch and a branch never used in training."
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(16, 32)
            self.layers = nn.ModuleList([nn.Linear(32, 32) for _ in range(3)])
            self.frozen = nn.Linear(32, 32).requires_grad_(False)
            self.aux = nn.Linear(32, 3)          # requires grad, unused in forward: needs find_unused_parameters
            self.head = nn.Linear(32, 3)
        def forward(self, batch):
            h = torch.relu(self.inp(batch["input_values"]))
            for layer in self.layers:
                if self.training and torch.rand(()) < 0.5: continue
                h = h + torch.relu(layer(h))
            return dict(logits=self.head(h + self.frozen(h)))

    out = Path(sys.argv[1])
    acc = make_accelerator(cpu=True)
    rank = acc.process_index
    torch.manual_seed(0); model = LayerDropNet()
    torch.manual_seed(100 + rank)               # different layer drops on each rank
    checks = dict(grads_equal=[], n_batches=0, local_grads_differ=[])

    class Check:
        def after_backward(self, learn):
            checks["n_batches"] += 1
        def before_step(self, learn):           # after DDP's all-reduce: every rank must hold the same gradient
            g = torch.cat([p.grad.flatten() for p in learn.model.head.parameters()])
            both = acc.gather(g[None])
            checks["grads_equal"].append(bool(torch.equal(both[0], both[1])))

    dls = synth_dls(n_train=70, batch_size=8, **dist_info(acc))   # 9 batches: unequal split unless the sampler evens it
    # local (unsynchronised) gradients differ between ranks: the equality checked below is DDP's doing
    b = next(iter(dls.train)); model.eval()
    cross_entropy_loss(model(b), b).backward()
    lg = acc.gather(model.head.weight.grad.flatten()[None]); model.zero_grad(); model.train()
    checks["local_grads_differ"] = not torch.equal(lg[0], lg[1])
    learn = Learner(model, dls, cross_entropy_loss, lr=1e-2, accelerator=acc, run_dir=out / f"run{rank}",
                    progress=True, cbs=[Check()])
    learn.fit(2)
    checks["len_train"] = len(dls.train)
    save_weights(learn.model, out / f"weights{rank}.safetensors")
    (out / f"checks{rank}.json").write_text(json.dumps(checks))
''')

def _free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def test_ddp_two_cpu_processes(tmp_path):
    (tmp_path / "ddp.py").write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(tmp_path / "ddp.py"), str(tmp_path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    c0, c1 = (json.loads((tmp_path / f"checks{r}.json").read_text()) for r in (0, 1))
    assert c0["local_grads_differ"]                                   # the ranks see different data ...
    assert c0["grads_equal"] and all(c0["grads_equal"] + c1["grads_equal"])   # ... and DDP synchronises the gradients
    assert c0["n_batches"] == c1["n_batches"] == 2 * c0["len_train"] == 2 * 5   # 9 batches -> 5 per rank, equal
    w0, w1 = load_file(tmp_path / "weights0.safetensors"), load_file(tmp_path / "weights1.safetensors")
    for k in w0: assert torch.equal(w0[k], w1[k]), k                  # identical models after training with layer drop
    assert (tmp_path / "run0" / "checkpoints" / "last.safetensors").exists() and (tmp_path / "run0" / "history.csv").exists()
    assert not (tmp_path / "run1").exists()                           # only rank 0 writes
    assert json.loads((tmp_path / "run0" / "status.json").read_text())["status"] == "finished"
