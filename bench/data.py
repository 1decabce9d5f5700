"""Data-layer benchmarks (issue 3), printing figures and ratios measured side by side in one run.

1. Loader throughput: clips/s of `load_audio` (decode + 44.1 kHz stereo -> 16 kHz mono) against
   `librosa.load(path, sr=16000)` on the same generated files, one process: no cache, cache first pass
   (writes it), cached passes (same process, and as a new process would: in-memory hash memo cleared).
2. Padded fraction of samples over an epoch, bucketed vs random batches, LibriSpeech-like durations (1-35 s).
3. Peak RSS while iterating a lazy corpus of N hours and of 2N hours (each in a fresh process).

Usage: python bench/data.py [--files 300] [--hours 10] [--quick]
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.pop("SPEECHNB_DEBUG", None)  # benchmarks measure full-size datasets


def make_clips(folder: Path, n: int, seed: int = 0) -> list[Path]:
    "`n` 16-bit 44.1 kHz stereo WAVs of 1-5 s (tones plus noise)."
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        secs = rng.uniform(1, 5)
        t = np.arange(int(secs * 44100)) / 44100
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t)[:, None] + 0.05 * rng.standard_normal((len(t), 2))
        p = folder / f"clip_{i:04d}.wav"
        sf.write(p, x.astype(np.float32), 44100, subtype="PCM_16")
        paths.append(p)
    return paths


def rate(fn, paths) -> tuple[float, float]:
    "Clips per second of `fn` over `paths`, and seconds taken."
    t0 = time.perf_counter()
    for p in paths: fn(p)
    dt = time.perf_counter() - t0
    return len(paths) / dt, dt


def bench_loader(tmp: Path, n_files: int) -> dict:
    import librosa
    from speechnb.data import audio
    paths = make_clips(tmp / "clips", n_files)
    audio_s = sum(sf.info(p).duration for p in paths)
    cache = tmp / "cache"
    librosa.load(paths[0], sr=16000); audio.load_audio(paths[0])  # warm up imports
    r = {}
    r["librosa"] = rate(lambda p: librosa.load(p, sr=16000), paths)
    r["decode_only"] = rate(lambda p: sf.read(p, dtype="float32"), paths)
    r["load_audio"] = rate(lambda p: audio.load_audio(p), paths)
    r["cache_first_pass"] = rate(lambda p: audio.load_audio(p, cache=cache), paths)
    r["cached_pass"] = rate(lambda p: audio.load_audio(p, cache=cache), paths)
    audio._content_keys.clear()  # as in a new process: content hashes come from the cache's (path, size, mtime) notes
    r["cached_new_process"] = rate(lambda p: audio.load_audio(p, cache=cache), paths)
    # outputs agree with librosa (both use soxr HQ)
    a, b = audio.load_audio(paths[0]).numpy(), librosa.load(paths[0], sr=16000)[0]
    n = min(len(a), len(b))
    print(f"\n1. Loader: {n_files} files of 44.1 kHz stereo 16-bit WAV, {audio_s / 60:.1f} min of audio; "
          f"max |load_audio - librosa| = {np.abs(a[:n] - b[:n]).max():.2e}")
    lib = r["librosa"][0]
    for k, (cps, dt) in r.items():
        print(f"   {k:<20} {cps:8.0f} clips/s  ({dt:5.2f} s)  {cps / lib:5.2f}x librosa")
    return {k: round(v[0], 1) for k, v in r.items()}


def bench_padding(n: int = 28539, seed: int = 0) -> dict:
    from speechnb.data.batching import BucketBatchSampler, RandomBatchSampler, padded_fraction
    rng = np.random.default_rng(seed)
    # LibriSpeech train-clean-100-like: most utterances 10-17 s, a tail down to 1 s and up to 35 s
    d = np.clip(np.concatenate([rng.normal(14.5, 2.2, int(n * 0.8)), rng.uniform(1, 35, n - int(n * 0.8))]), 1, 35)
    out = {}
    for name, s in [("random, 16/batch", RandomBatchSampler(d, 16, seed=seed)), ("bucketed, 16/batch", BucketBatchSampler(d, 16, seed=seed)),
                    ("random, <=320 s", RandomBatchSampler(d, None, max_seconds=320, seed=seed)),
                    ("bucketed, <=320 s", BucketBatchSampler(d, None, max_seconds=320, seed=seed))]:
        out[name] = padded_fraction(list(s), d)
    print(f"\n2. Padded fraction over an epoch, {n} LibriSpeech-like durations ({d.min():.1f}-{d.max():.1f} s, mean {d.mean():.1f} s):")
    for k, v in out.items(): print(f"   {k:<20} {100 * v:5.1f}% padding")
    return {k: round(v, 4) for k, v in out.items()}


_RSS_CHILD = r"""
import json, re, sys, time
def mem():  # this process's resident set and its peak, MB (VmHWM, unlike ru_maxrss, is not inherited across exec)
    s = open("/proc/self/status").read()
    return {k: int(re.search(k + r":\s+(\d+)", s).group(1)) / 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
from speechnb.data.lazy import LazyCorpus
m0 = mem(); base = m0["VmRSS"]
root = sys.argv[1]
c = LazyCorpus.from_folder(root, context_s=10.0, shrink_in_debug=False)
t0 = time.perf_counter(); n = 0; samples = 0
for i in range(len(c)):
    samples += c[i]["audio"].shape[0]; n += 1
dt = time.perf_counter() - t0
m1 = mem()
print(json.dumps(dict(hours=samples / 16000 / 3600, windows=n, seconds=dt, rss_after_import_mb=base, peak_rss_mb=m1["VmHWM"],
                      anon_after_import_mb=m0["RssAnon"], anon_end_mb=m1["RssAnon"], file_backed_end_mb=m1["RssFile"])))
"""


def make_long_files(folder: Path, hours: float, file_hours: float = 1.0, seed: int = 0, start: int = 0) -> None:
    "Write `hours` of 16 kHz mono 16-bit WAV in files of `file_hours`, chunk by chunk (bounded memory)."
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    blocks = [(3000 * rng.standard_normal(16000 * 60) * (0.5 + k / 14)).astype(np.int16) for k in range(7)]  # minutes of noise
    n_files = int(round(hours / file_hours))
    for f in range(start, start + n_files):
        with sf.SoundFile(folder / f"long_{f:03d}.wav", "w", 16000, 1, "PCM_16") as out:
            for m in range(int(file_hours * 60)): out.write(blocks[(f + m) % 7])


def bench_lazy(tmp: Path, hours: float) -> dict:
    res = {}
    a, b = tmp / "corpus_a", tmp / "corpus_b"
    t0 = time.perf_counter()
    make_long_files(a, hours)
    shutil.copytree(a, b, copy_function=os.link)      # the 2x corpus: the same files plus as many new ones
    make_long_files(b, hours, seed=1, start=int(round(hours)))
    gen_s = time.perf_counter() - t0
    for name, root in [(f"{hours:g} h", a), (f"{2 * hours:g} h", b)]:
        out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(root)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        if out.returncode: raise RuntimeError(out.stderr)
        res[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n3. Lazy corpus, 10 s windows read one by one (files generated in {gen_s:.0f} s):")
    for k, v in res.items():
        print(f"   {k:<6} {v['windows']:6d} windows in {v['seconds']:5.1f} s ({v['hours'] * 3600 / v['seconds']:6.0f}x real time); "
              f"peak RSS {v['peak_rss_mb']:6.0f} MB = {v['rss_after_import_mb']:.0f} MB after imports (torch alone is most of it) "
              f"+ {v['peak_rss_mb'] - v['rss_after_import_mb']:.0f} MB for the corpus; at the end {v['anon_end_mb']:.0f} MB private "
              f"(after imports {v['anon_after_import_mb']:.0f}) + {v['file_backed_end_mb']:.0f} MB shared libraries")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="60 files and a 1 h / 2 h corpus")
    args = ap.parse_args()
    if args.quick: args.files, args.hours = 60, 1.0
    t0 = time.perf_counter()
    print(f"speechnb data benchmarks: {args.files} clips, {args.hours:g} h / {2 * args.hours:g} h lazy corpora; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="speechnb-bench-") as tmp:
        tmp = Path(tmp)
        results = dict(loader=bench_loader(tmp, args.files), padding=bench_padding(), lazy=bench_lazy(tmp, args.hours))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
