"""The data pipeline across processes: DataLoader workers give the same batches (augmentation included) as the
main process, a resumed epoch (set_epoch + skip) replays the same batches, and ranks partition an epoch."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from speechnb.data.augment import AddNoise, AugmentedDataset, Gain, TimeShift
from speechnb.data.batching import BucketBatchSampler, make_dataloaders
from speechnb.data.datasets import AudioDataset
from speechnb.data.lazy import LazyCorpus


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    rows = []
    for i in range(24):
        n = 800 + 160 * (i % 5)
        sf.write(root / f"{i}.wav", (0.2 * np.sin(np.arange(n) * (0.02 + 0.002 * i))).astype(np.float32), 16000)
        rows.append(dict(path=f"{i}.wav", label="ab"[i % 2], speaker=f"s{i % 4}", duration_s=n / 16000))
    return AudioDataset(pd.DataFrame(rows), root=root, shrink_in_debug=False)


def batches(dl):
    return [(b["index"], b["input_values"].clone()) for b in dl]


def same(a, b):
    return len(a) == len(b) and all(ia == ib and torch.equal(xa, xb) for (ia, xa), (ib, xb) in zip(a, b))


def test_workers_match_main_process_with_augmentation(ds):
    aug = AugmentedDataset(ds, [Gain(-6, 6), AddNoise(5, 20), TimeShift(0.005)], seed=3)
    runs = []
    for workers in (0, 2):
        dls = make_dataloaders(aug, ds, batch_size=4, num_workers=workers, seed=1)
        dls.train.batch_sampler.set_epoch(2)
        runs.append(batches(dls.train))
    assert same(*runs)
    idx, x = runs[0][0]
    plain = torch.nn.utils.rnn.pad_sequence([ds[i]["audio"] for i in idx], batch_first=True)
    assert not torch.allclose(x, plain)  # and it really was augmented


def test_resume_mid_epoch_replays_the_same_batches(ds):
    dls = make_dataloaders(ds, ds, batch_size=4, seed=5)
    s = dls.train.batch_sampler
    s.set_epoch(1)
    full = batches(dls.train)
    fresh = make_dataloaders(ds, ds, batch_size=4, seed=5)   # as after a restart
    fresh.train.batch_sampler.set_epoch(1)
    fresh.train.batch_sampler.skip(2)
    assert same(batches(fresh.train), full[2:])


def test_ranks_partition_an_epoch_with_equal_batch_counts(ds):
    samplers = [BucketBatchSampler(ds, 5, num_replicas=3, rank=r, seed=0) for r in range(3)]
    assert len({len(s) for s in samplers}) == 1
    seen = [i for s in samplers for b in s for i in b]
    assert set(seen) == set(range(len(ds)))


def test_lazy_corpus_in_workers(tmp_path):
    sf.write(tmp_path / "long.wav", np.random.default_rng(0).uniform(-.5, .5, 16000 * 6).astype(np.float32), 16000)
    c = LazyCorpus.from_folder(tmp_path, context_s=1.0, stride_s=0.5, shrink_in_debug=False)
    dl = torch.utils.data.DataLoader(c, batch_size=3, num_workers=2, collate_fn=lambda items: torch.stack([it["audio"] for it in items]))
    got = torch.cat(list(dl))
    want = torch.stack([c[i]["audio"] for i in range(len(c))])
    assert got.shape == (11, 16000) and torch.equal(got, want)
