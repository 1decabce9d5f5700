"""Generate the small synthetic speech dataset bundled with speechnb (``data/demo``).

Why this exists: the notebooks and tests need real-looking speech that ships with
the repository (no downloads, no licence questions) and is small enough to commit.
We synthesise it with ``espeak-ng``: every *speaker* is one espeak voice plus one
voice variant (``-v en-us+m3``), and speed (``-s``) and pitch (``-p``) are jittered
per utterance so repetitions differ. Two sets are produced:

* ``keywords/``  - Speech-Commands-style isolated words (keyword spotting).
* ``sentences/`` - short template sentences from a tiny vocabulary (CTC / ASR).

espeak-ng has traps that silently produce bad data, so the script checks its own
output and exits non-zero if anything is off:

* a variant can be ignored without any error (``-v en-gb+m3`` in espeak-ng 1.51,
  or a misspelt variant), making two "speakers" identical: each speaker is probed
  against its bare base voice and all per-speaker mean log-mel spectra must differ;
* loud variants clip: the raw espeak output is checked for clipping (re-rendered
  quieter if needed) and every final clip must stay below full scale;
* every clip's audio must be unique (same text by two speakers is never identical).

Run from the repository root::

    python tools/make_demo_data.py            # writes data/demo
    python tools/make_demo_data.py --out /tmp/demo --seed 1

Needs ``espeak-ng`` and ``sox`` on PATH and the Python packages numpy + soundfile.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
PAD_S = 0.05  # silence kept before/after speech after trimming
TRIM_DB = -50.0  # frames quieter than this (re loudest frame) count as silence
TARGET_PEAK = 0.7  # peak level after normalisation (about -3 dBFS)
CLIP_LEVEL = 0.99  # |x| at or above this counts as clipped
RAW_CLIP_LEVEL = 32000 / 32768  # espeak writes int16; near-full-scale = clipped
MIN_SPEAKER_DISTANCE_DB = 1.0  # min RMS difference of per-speaker mean log-mel
MAX_TOTAL_BYTES = 20 * 1024 * 1024
WORKERS = 2

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

# Base voices that honour "+variant" in espeak-ng 1.51 (en-gb does NOT).
KEYWORD_BASE_VOICES = ("en-us", "en")
KEYWORD_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4",
    "adam", "Alex", "Andy", "anika", "aunty", "benjamin", "boris",
    "caleb", "david", "edward", "john", "linda", "max", "michel", "paul",
)
# Sentence speakers use other accents so they are mostly distinct from keyword ones.
SENTENCE_SPEAKERS = (
    ("en-gb-scotland", "m3"), ("en-gb-scotland", "f2"),
    ("en-029", "m5"), ("en-029", "f4"),
    ("en-gb-x-rp", "m2"), ("en-gb-x-rp", "f3"),
    ("en-gb-x-gbclan", "m6"), ("en-gb-x-gbclan", "f1"),
    ("en-us", "m8"), ("en", "f5"),
)
PROBE_TEXT = "the quick brown fox jumps over the lazy dog"

VOCAB = {
    "adj": ("red", "big", "small", "old", "blue", "green", "hot", "wet", "sad", "fat"),
    "noun": ("cat", "dog", "fox", "hen", "pig", "bird", "fish", "man", "boy", "girl"),
    "past": ("sat", "ran", "hid", "slept", "jumped", "fell", "sang", "ate"),
    "verb": ("run", "sit", "jump", "sing", "eat", "hide", "swim", "see"),
    "place": ("mat", "bed", "log", "hill", "box", "rug", "road", "tree"),
    "name": ("tom", "ann", "sam", "ben", "kim", "max"),
    "adv": ("fast", "slowly", "today", "again", "well", "now"),
    "pron": ("i", "we", "they", "you", "he", "she"),
}
TEMPLATES = (
    "{name} {past} {adv}",
    "the {noun} is {adj}",
    "the {adj} {noun} {past}",
    "a {adj} {noun} can {verb}",
    "{name} has a {adj} {noun}",
    "{pron} can't see the {noun}",
    "{name} doesn't {verb} {adv}",
    "it's a {adj} {place}",
    "the {noun} {past} on the {place}",
    "{name} saw the {adj} {noun} {adv}",
    "the {noun}'s {place} is {adj}",
    "the {adj} {noun} {past} on the {place}",
    "{name} and the {noun} {past} {adv}",
)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an espeak voice+variant with its own speed/pitch centre."""

    voice: str
    variant: str
    speed: int  # words per minute (espeak -s)
    pitch: int  # 0..99 (espeak -p)

    @property
    def name(self) -> str:
        """Folder-safe speaker id, e.g. ``en-us_m3``."""
        return f"{self.voice}_{self.variant}"

    @property
    def espeak_voice(self) -> str:
        """The ``-v`` argument for espeak-ng."""
        return f"{self.voice}+{self.variant}"


@dataclass(frozen=True)
class Job:
    """One utterance to synthesise."""

    speaker: Speaker
    text: str
    rel_path: str  # relative to the set folder, e.g. ``en-us_m3/yes_0.flac``
    speed: int
    pitch: int


class CheckFailed(RuntimeError):
    """Raised when the generated data fails a quality check."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder")
    p.add_argument("--seed", type=int, default=0, help="RNG seed (output is deterministic)")
    p.add_argument("--n-speakers", type=int, default=24, help="keyword speakers")
    p.add_argument("--n-reps", type=int, default=3, help="repetitions per word per speaker")
    p.add_argument("--n-sentences", type=int, default=250, help="distinct sentences")
    p.add_argument("--per-sentence", type=int, default=1, help="speakers per sentence")
    return p.parse_args(argv)


def make_keyword_speakers(n: int, rng: np.random.Generator) -> list[Speaker]:
    """Pick ``n`` voice+variant combos, each variant used once, alternating base voices."""
    if n > len(KEYWORD_VARIANTS):
        raise SystemExit(f"--n-speakers must be <= {len(KEYWORD_VARIANTS)}")
    speakers = []
    for i, variant in enumerate(KEYWORD_VARIANTS[:n]):
        voice = KEYWORD_BASE_VOICES[i % len(KEYWORD_BASE_VOICES)]
        speakers.append(Speaker(voice, variant, int(rng.integers(140, 191)), int(rng.integers(25, 76))))
    return speakers


def make_sentence_speakers(rng: np.random.Generator) -> list[Speaker]:
    """Speakers for the sentence set (slightly faster speech to save space)."""
    return [Speaker(v, var, int(rng.integers(160, 201)), int(rng.integers(25, 76)))
            for v, var in SENTENCE_SPEAKERS]


def jittered(speaker: Speaker, rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """``n`` distinct (speed, pitch) pairs scattered around the speaker's centre."""
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n:
        pair = (speaker.speed + int(rng.integers(-15, 16)),
                int(np.clip(speaker.pitch + int(rng.integers(-10, 11)), 0, 99)))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def make_sentences(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 3-7 word sentences drawn from TEMPLATES and VOCAB."""
    sentences: list[str] = []
    seen: set[str] = set()
    for _ in range(n * 100):
        template = TEMPLATES[len(sentences) % len(TEMPLATES)]
        fields = {k: str(rng.choice(v)) for k, v in VOCAB.items()}
        text = template.format(**fields)
        if text not in seen and 3 <= len(text.split()) <= 7:
            seen.add(text)
            sentences.append(text)
            if len(sentences) == n:
                return sentences
    raise SystemExit(f"could not make {n} distinct sentences; lower --n-sentences")


def synthesize(voice: str, text: str, speed: int, pitch: int, tmp: Path, amplitude: int = 60) -> np.ndarray:
    """Render ``text`` with espeak-ng and resample to 16 kHz float32 with sox.

    Re-renders at half the amplitude (up to 3 times) if espeak's int16 output clips.
    """
    for _ in range(4):
        raw = tmp.with_suffix(".raw.wav")
        res = tmp.with_suffix(".16k.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-a", str(amplitude), "-w", str(raw), text], check=True, capture_output=True)
        raw_audio, _ = sf.read(raw, dtype="int16")
        if np.abs(raw_audio.astype(np.int32)).max() < RAW_CLIP_LEVEL * 32768:
            subprocess.run(["sox", str(raw), "-e", "floating-point", "-b", "32", "-c", "1",
                            "-r", str(SAMPLE_RATE), str(res)], check=True, capture_output=True)
            audio, sr = sf.read(res, dtype="float32")
            assert sr == SAMPLE_RATE
            raw.unlink()
            res.unlink()
            return audio
        amplitude //= 2
    raise CheckFailed(f"espeak output clips even at amplitude {amplitude}: {voice!r} {text!r}")


def trim_silence(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading/trailing silence (10 ms frames below TRIM_DB re loudest), keep PAD_S."""
    hop = sr // 100
    n = len(audio) // hop
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(rms > rms.max() * 10 ** (TRIM_DB / 20))
    pad = int(PAD_S * sr)
    start = max(0, loud[0] * hop - pad)
    stop = min(len(audio), (loud[-1] + 1) * hop + pad)
    return audio[start:stop]


def render(job: Job, set_dir: Path, tmp_dir: Path) -> dict:
    """Synthesise, trim, normalise and write one FLAC; return its metadata + check info."""
    tmp = tmp_dir / job.rel_path.replace("/", "__")
    audio = synthesize(job.speaker.espeak_voice, job.text, job.speed, job.pitch, tmp)
    audio = trim_silence(audio)
    audio = audio * (TARGET_PEAK / max(float(np.abs(audio).max()), 1e-9))
    out = set_dir / job.rel_path
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC", compression_level=1.0)
    written, _ = sf.read(out, dtype="float32")
    return {
        "path": job.rel_path,
        "text": job.text,
        "speaker": job.speaker.name,
        "duration_s": f"{len(written) / SAMPLE_RATE:.3f}",
        "peak": float(np.abs(written).max()),
        "clipped": int(np.sum(np.abs(written) >= CLIP_LEVEL)),
        "sha1": hashlib.sha1(written.tobytes()).hexdigest(),
        "logmel": mean_log_mel(written),
    }


def mel_filterbank(n_fft: int = 512, n_mels: int = 40, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(0), mel(sr / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))


MEL_FB = mel_filterbank()


def mean_log_mel(audio: np.ndarray, n_fft: int = 512, hop: int = 160) -> np.ndarray:
    """Mean log-mel spectrum (dB) over the non-silent frames of one clip."""
    n = 1 + max(0, len(audio) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = np.pad(audio, (0, n_fft))[idx] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    logmel = 10 * np.log10(power @ MEL_FB.T + 1e-10)
    energy = logmel.max(axis=1)
    return logmel[energy > energy.max() - 40].mean(axis=0)


def run_jobs(jobs: list[Job], set_dir: Path, tmp_dir: Path) -> list[dict]:
    """Render all jobs with a small thread pool (the work happens in subprocesses)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda j: render(j, set_dir, tmp_dir), jobs))


def check_variants_applied(speakers: list[Speaker], tmp_dir: Path) -> None:
    """Fail if any ``voice+variant`` renders exactly like the bare ``voice`` (variant ignored)."""
    def probe(voice: str) -> bytes:
        return synthesize(voice, PROBE_TEXT, 170, 50, tmp_dir / f"probe_{voice}").tobytes()

    bases = sorted({s.voice for s in speakers})
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        base_audio = dict(zip(bases, pool.map(probe, bases)))
        spk_audio = list(pool.map(probe, [s.espeak_voice for s in speakers]))
    ignored = [s.espeak_voice for s, a in zip(speakers, spk_audio) if a == base_audio[s.voice]]
    if ignored:
        raise CheckFailed(f"espeak-ng ignored the variant for: {', '.join(ignored)}")


def check_clips(rows: list[dict]) -> float:
    """Fail on clipping or duplicate audio; return the highest peak."""
    clipped = [r["path"] for r in rows if r["clipped"] or r["peak"] >= CLIP_LEVEL]
    if clipped:
        raise CheckFailed(f"{len(clipped)} clips clip, e.g. {clipped[:3]}")
    seen: dict[str, str] = {}
    for r in rows:
        if r["sha1"] in seen:
            raise CheckFailed(f"identical audio: {seen[r['sha1']]} and {r['path']}")
        seen[r["sha1"]] = r["path"]
    return max(r["peak"] for r in rows)


def check_speakers_differ(rows: list[dict]) -> tuple[float, str, str]:
    """Fail if two speakers' mean log-mel spectra are closer than MIN_SPEAKER_DISTANCE_DB."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(r["logmel"])
    means = {s: np.mean(v, axis=0) for s, v in sorted(by_speaker.items())}
    best = (np.inf, "", "")
    for a, b in itertools.combinations(means, 2):
        dist = float(np.sqrt(np.mean((means[a] - means[b]) ** 2)))
        best = min(best, (dist, a, b))
    if best[0] <= MIN_SPEAKER_DISTANCE_DB:
        raise CheckFailed(f"speakers {best[1]} and {best[2]} sound alike "
                          f"(mean log-mel RMS distance {best[0]:.2f} dB <= {MIN_SPEAKER_DISTANCE_DB})")
    return best


def write_metadata(rows: list[dict], path: Path, columns: tuple[str, ...]) -> None:
    """Write ``metadata.csv`` (UTF-8, ``\\n`` endings) sorted by path."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for r in sorted(rows, key=lambda r: r["path"]):
            writer.writerow([r[c] for c in columns])


def keyword_jobs(speakers: list[Speaker], n_reps: int, rng: np.random.Generator) -> list[Job]:
    """One job per (speaker, word, repetition)."""
    jobs = []
    for spk in speakers:
        for word in KEYWORDS:
            for rep, (speed, pitch) in enumerate(jittered(spk, rng, n_reps)):
                jobs.append(Job(spk, word, f"{spk.name}/{word}_{rep}.flac", speed, pitch))
    return jobs


def sentence_jobs(speakers: list[Speaker], sentences: list[str], per_sentence: int,
                  rng: np.random.Generator) -> list[Job]:
    """Each sentence spoken by ``per_sentence`` distinct speakers, load spread evenly."""
    jobs = []
    n = len(speakers)
    for i, text in enumerate(sentences):
        first = i % n
        others = rng.choice(np.arange(1, n), size=per_sentence - 1, replace=False)
        for k in [first, *((first + others) % n)]:
            spk = speakers[int(k)]
            ((speed, pitch),) = jittered(spk, rng, 1)
            jobs.append(Job(spk, text, f"{spk.name}/s{i:04d}.flac", speed, pitch))
    return jobs


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_readme(out: Path, kw_rows: list[dict], st_rows: list[dict], seed: int) -> None:
    """Describe the dataset next to the data."""
    def minutes(rows: list[dict]) -> float:
        return sum(float(r["duration_s"]) for r in rows) / 60

    n_kw_spk = len({r["speaker"] for r in kw_rows})
    n_st_spk = len({r["speaker"] for r in st_rows})
    n_sent = len({r["text"] for r in st_rows})
    (out / "README.md").write_text(f"""# speechnb demo data

Small synthetic speech dataset bundled with speechnb so the notebooks and tests
run offline. Everything here is generated by `python tools/make_demo_data.py`
(seed {seed}) with [espeak-ng](https://github.com/espeak-ng/espeak-ng) and sox;
re-running the script reproduces it.

A *speaker* is one espeak-ng voice + variant (folder `en-us_m3` = `espeak-ng -v en-us+m3`);
speed (`-s`) and pitch (`-p`) are jittered per utterance. Audio is 16 kHz mono
16-bit FLAC, leading/trailing silence trimmed to a 50 ms pad, peak-normalised to
about -3 dBFS. The generator checks that nothing clips, that no two clips are
identical and that all speakers differ in average spectrum.

## `keywords/` - keyword spotting

{len(kw_rows)} clips: {len(KEYWORDS)} words ({", ".join(KEYWORDS)}) x {n_kw_spk} speakers
x {len(kw_rows) // (len(KEYWORDS) * n_kw_spk)} repetitions, {minutes(kw_rows):.1f} min.
Files: `keywords/<speaker>/<word>_<rep>.flac`.
`keywords/metadata.csv` columns: `path,label,speaker,duration_s`
(`path` relative to `keywords/`).

## `sentences/` - speech recognition

{len(st_rows)} clips: {n_sent} template sentences (3-7 words, small vocabulary)
spoken by {n_st_spk} speakers, {minutes(st_rows):.1f} min.
Files: `sentences/<speaker>/<id>.flac`; the same id means the same sentence.
`sentences/metadata.csv` columns: `path,text,speaker,duration_s`
(`text` is lowercase letters, spaces and apostrophes; `path` relative to `sentences/`).

## License

Synthetic audio generated by espeak-ng; no recordings of real people are
included. The data is distributed under the same license as speechnb (Apache-2.0).
""", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Generate, check and summarise the demo dataset."""
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    kw_speakers = make_keyword_speakers(args.n_speakers, rng)
    st_speakers = make_sentence_speakers(rng)
    sentences = make_sentences(args.n_sentences, rng)
    if args.per_sentence > len(st_speakers):
        raise SystemExit(f"--per-sentence must be <= {len(st_speakers)}")
    kw_jobs = keyword_jobs(kw_speakers, args.n_reps, rng)
    st_jobs = sentence_jobs(st_speakers, sentences, args.per_sentence, rng)

    kw_dir, st_dir = args.out / "keywords", args.out / "sentences"
    for d in (kw_dir, st_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)

    try:
        with tempfile.TemporaryDirectory(prefix="speechnb_demo_") as tmp:
            tmp_dir = Path(tmp)
            check_variants_applied(kw_speakers + st_speakers, tmp_dir)
            kw_rows = run_jobs(kw_jobs, kw_dir, tmp_dir)
            st_rows = run_jobs(st_jobs, st_dir, tmp_dir)
        for r in kw_rows:
            r["label"] = r["text"]
        peak = check_clips(kw_rows + st_rows)
        dist, spk_a, spk_b = check_speakers_differ(kw_rows + st_rows)
        write_metadata(kw_rows, kw_dir / "metadata.csv", ("path", "label", "speaker", "duration_s"))
        write_metadata(st_rows, st_dir / "metadata.csv", ("path", "text", "speaker", "duration_s"))
        write_readme(args.out, kw_rows, st_rows, args.seed)
        total = folder_bytes(args.out)
        if total > MAX_TOTAL_BYTES:
            raise CheckFailed(f"{args.out} is {total / 2**20:.1f} MiB > {MAX_TOTAL_BYTES / 2**20:.0f} MiB")
    except CheckFailed as err:
        print(f"CHECK FAILED: {err}", file=sys.stderr)
        return 1

    for name, rows in (("keywords", kw_rows), ("sentences", st_rows)):
        secs = sum(float(r["duration_s"]) for r in rows)
        print(f"{name:9s}: {len(rows)} clips, {len({r['speaker'] for r in rows})} speakers, "
              f"{len({r['text'] for r in rows})} distinct texts, {secs / 60:.1f} min, "
              f"{folder_bytes(args.out / name) / 2**20:.1f} MiB")
    print(f"checks   : max peak {peak:.3f} (limit {CLIP_LEVEL}), 0 clipped samples, all clips unique, "
          f"min speaker distance {dist:.2f} dB ({spk_a} vs {spk_b}, limit {MIN_SPEAKER_DISTANCE_DB})")
    print(f"total    : {total / 2**20:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
