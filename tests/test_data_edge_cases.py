"""Every awkward input named in issue 3 gets a clear error (naming the file, and the metadata line) or a correct load."""
import unicodedata, warnings
from pathlib import Path

import fsspec
import numpy as np
import pytest
import soundfile as sf
import torch

from speechnb.data.audio import AudioError, load_audio
from speechnb.data.datasets import AudioDataset, DatasetError, validate_dataset


def tone(seconds, sr=16000, channels=1, freq=440.0, amp=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t))[:, None], channels, 1).astype(np.float32)


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


# ---------------------------------------------------------------- audio files

def test_truncated_wav_loads_what_is_there_with_a_warning(tmp):
    sf.write(tmp / "full.wav", tone(1.0), 16000, subtype="PCM_16")
    data = (tmp / "full.wav").read_bytes()
    (tmp / "cut.wav").write_bytes(data[: 44 + 16000])  # header + 8000 of the 16000 samples
    with pytest.warns(UserWarning, match=r"cut\.wav: truncated WAV: the header promises 32000 bytes of audio, the file holds 16000"):
        x = load_audio(tmp / "cut.wav")
    assert x.shape == (8000,)
    np.testing.assert_allclose(x.numpy(), tone(1.0)[:8000, 0], atol=1e-4)


def test_zero_length_file(tmp):
    (tmp / "zero.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"zero\.wav: empty file \(0 bytes\)") as e:
        load_audio(tmp / "zero.wav")
    assert e.value.reason == "empty"


def test_text_file_named_wav(tmp):
    (tmp / "notes.wav").write_text("these are my notes, not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.wav: unreadable") as e:
        load_audio(tmp / "notes.wav")
    assert e.value.reason == "unreadable"


def test_header_only_wav(tmp):
    sf.write(tmp / "hdr.wav", np.zeros((0, 1), np.float32), 16000, subtype="PCM_16")
    assert (tmp / "hdr.wav").stat().st_size > 0
    with pytest.raises(AudioError, match=r"hdr\.wav: 0 samples after decoding") as e:
        load_audio(tmp / "hdr.wav")
    assert e.value.reason == "empty"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples(tmp, bad):
    x = tone(0.1)
    x[100, 0] = bad
    sf.write(tmp / "bad.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"bad\.wav: 1 NaN or inf samples") as e:
        load_audio(tmp / "bad.wav")
    assert e.value.reason == "nan_or_inf"
    with pytest.raises(AudioError, match="NaN or inf"):  # also when the file has to be resampled
        load_audio(tmp / "bad.wav", sample_rate=8000)


def test_all_zero_audio(tmp):
    sf.write(tmp / "silence.wav", np.zeros((4000, 1), np.float32), 16000)
    x = load_audio(tmp / "silence.wav", normalize=True)
    assert x.shape == (4000,) and torch.all(x == 0) and torch.isfinite(x).all()


def test_10_ms_clip(tmp):
    sf.write(tmp / "blip.wav", tone(0.01, 44100, 2), 44100, subtype="PCM_16")
    x = load_audio(tmp / "blip.wav")
    assert x.shape == (160,) and torch.isfinite(x).all()


def test_20_minute_clip(tmp):
    sr = 8000  # stored at 8 kHz so the load also resamples 20 minutes
    with sf.SoundFile(tmp / "long.wav", "w", sr, 1, "PCM_16") as f:
        for _ in range(20):
            f.write(tone(60.0, sr, amp=0.25))
    x = load_audio(tmp / "long.wav")
    assert x.shape == (20 * 60 * 16000,) and x.dtype == torch.float32
    assert abs(x.abs().max().item() - 0.25) < 0.01
    seg = load_audio(tmp / "long.wav", start_s=600.0, end_s=601.0)  # a segment reads only its frames
    assert seg.shape == (16000,)


def test_six_channels(tmp):
    x = np.stack([np.full(800, c / 10, np.float32) for c in range(6)], 1)  # channel c is the constant c/10
    sf.write(tmp / "six.wav", x, 16000, subtype="FLOAT")
    mono = load_audio(tmp / "six.wav")
    assert mono.shape == (800,)
    np.testing.assert_allclose(mono.numpy(), np.full(800, 0.25), atol=1e-6)  # mean of 0, .1, ..., .5
    assert load_audio(tmp / "six.wav", mono=False).shape == (6, 800)


@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6)])
def test_8_16_24_bit_wav(tmp, subtype, tol):
    ref = tone(0.2, 16000, amp=0.7)
    sf.write(tmp / f"{subtype}.wav", ref, 16000, subtype=subtype)
    assert sf.info(tmp / f"{subtype}.wav").subtype == subtype
    x = load_audio(tmp / f"{subtype}.wav")
    assert x.shape == (3200,)
    np.testing.assert_allclose(x.numpy(), ref[:, 0], atol=tol)


def test_24_bit_keeps_its_precision(tmp):
    ref = tone(0.05, 16000, amp=1e-4)  # below 16-bit resolution (3e-5 per step): only 24-bit keeps it
    sf.write(tmp / "quiet24.wav", ref, 16000, subtype="PCM_24")
    np.testing.assert_allclose(load_audio(tmp / "quiet24.wav").numpy(), ref[:, 0], atol=2.5e-7)  # 24-bit step: 1.2e-7


def test_missing_file(tmp):
    with pytest.raises(AudioError, match=r"ghost\.wav: file not found") as e:
        load_audio(tmp / "ghost.wav")
    assert e.value.reason == "missing"


def test_memory_url(tmp):
    sf.write(tmp / "a.wav", tone(0.1), 16000)
    with fsspec.open("memory://edge/a.wav", "wb") as f:
        f.write((tmp / "a.wav").read_bytes())
    torch.testing.assert_close(load_audio("memory://edge/a.wav"), load_audio(tmp / "a.wav"))
    with pytest.raises(AudioError, match="memory://edge/b.wav: file not found"):
        load_audio("memory://edge/b.wav")


# ---------------------------------------------------------------- metadata files

@pytest.fixture
def clips(tmp):
    (tmp / "spk1").mkdir()
    (tmp / "spk2").mkdir()
    sf.write(tmp / "spk1" / "yes.wav", tone(0.3), 16000)
    sf.write(tmp / "spk2" / "no.wav", tone(0.4, freq=300), 16000)
    return tmp


ROWS = ["path,label,speaker,duration_s", "spk1/yes.wav,yes,spk1,0.3", "spk2/no.wav,no,spk2,0.4"]


def test_metadata_with_bom_and_crlf(clips):
    (clips / "m.csv").write_bytes(("\ufeff" + "\r\n".join(ROWS) + "\r\n").encode("utf-8"))
    ds = AudioDataset.from_csv(clips / "m.csv")
    assert list(ds.table.columns[:4]) == ["path", "label", "speaker", "duration_s"]  # no '\ufeffpath'
    assert ds.classes == ["no", "yes"] and len(ds) == 2
    assert ds[1]["speaker"] == "spk2" and ds[1]["audio"].shape == (6400,)  # no trailing '\r' anywhere


def test_semicolon_delimiter(clips):
    (clips / "m.csv").write_text("\n".join(r.replace(",", ";") for r in ROWS) + "\n")
    ds = AudioDataset.from_csv(clips / "m.csv")
    assert len(ds) == 2 and ds.classes == ["no", "yes"]
    np.testing.assert_allclose(ds.durations, [0.3, 0.4])


def test_missing_column(clips):
    (clips / "m.csv").write_text("file,label\nspk1/yes.wav,yes\n")
    with pytest.raises(DatasetError, match=r"m\.csv: missing column\(s\) \['path'\]; found \['file', 'label'\]"):
        AudioDataset.from_csv(clips / "m.csv")
    (clips / "t.csv").write_text("path,speaker\nspk1/yes.wav,spk1\n")
    with pytest.raises(DatasetError, match=r"t\.csv: missing column\(s\) \['text'\]"):
        AudioDataset.from_csv(clips / "t.csv", required=("path", "text"))


def test_duplicate_rows(clips):
    (clips / "m.csv").write_text("\n".join(ROWS + ROWS[1:2]) + "\n")
    with pytest.warns(UserWarning, match=r"m\.csv line 4: duplicate of .*m\.csv line 2"):
        ds = AudioDataset.from_csv(clips / "m.csv")
    assert len(ds) == 2 and ds.skipped[0]["reason"] == "duplicate"
    (clips / "c.csv").write_text("\n".join(ROWS + ["spk1/yes.wav,no,spk1,0.3"]) + "\n")
    with pytest.raises(DatasetError, match=r"c\.csv line 4: spk1/yes\.wav is also listed at .*c\.csv line 2 with different values"):
        AudioDataset.from_csv(clips / "c.csv")


def test_missing_file_in_metadata(clips):
    (clips / "m.csv").write_text("\n".join(ROWS + ["spk1/gone.wav,no,spk1,1.0"]) + "\n")
    with pytest.raises(DatasetError, match=r"m\.csv line 4: .*gone\.wav: file not found"):
        AudioDataset.from_csv(clips / "m.csv")
    ds = AudioDataset.from_csv(clips / "m.csv", on_error="skip")
    assert len(ds) == 2 and [(s["reason"], s["origin"].endswith("line 4")) for s in ds.skipped] == [("missing", True)]


def test_non_ascii_file_names(clips):
    name = "spk1/ñandú_öl_日本語.wav"
    sf.write(clips / name, tone(0.2), 16000)
    (clips / "m.csv").write_text("\n".join(ROWS + [f"{name},yes,spk1,0.2"]) + "\n", encoding="utf-8")
    ds = AudioDataset.from_csv(clips / "m.csv")
    assert ds[2]["audio"].shape == (3200,) and ds[2]["path"].endswith("日本語.wav")
    # a CSV written with the other Unicode normal form (NFD, as macOS does) still finds the file
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    (clips / "nfd.csv").write_text("\n".join(ROWS + [f"{nfd},yes,spk1,0.2"]) + "\n", encoding="utf-8")
    assert AudioDataset.from_csv(clips / "nfd.csv")[2]["audio"].shape == (3200,)


def test_paths_escaping_the_root_are_refused(clips):
    (clips / "sub").mkdir()
    (clips / "sub" / "m.csv").write_text("path,label\n../spk1/yes.wav,yes\n")
    with pytest.raises(DatasetError, match=r"m\.csv line 2: \.\./spk1/yes\.wav: escapes the dataset root"):
        AudioDataset.from_csv(clips / "sub" / "m.csv")
    (clips / "sub" / "ok.csv").write_text("path,label\nspk1/yes.wav,yes\n")
    assert len(AudioDataset.from_csv(clips / "sub" / "ok.csv", root=clips)) == 1  # paths are relative to the root
    (clips / "sub" / "abs.csv").write_text("path,label\n/etc/hostname,yes\n")
    with pytest.raises(DatasetError, match="escapes the dataset root"):
        AudioDataset.from_csv(clips / "sub" / "abs.csv", root=clips)


def test_decode_errors_name_the_metadata_line(clips):
    (clips / "spk1" / "text.wav").write_text("not audio")
    (clips / "m.csv").write_text("\n".join(ROWS + ["spk1/text.wav,yes,spk1,"]) + "\n")
    ds = AudioDataset.from_csv(clips / "m.csv")
    with pytest.raises(AudioError, match=r"m\.csv line 4: .*text\.wav: unreadable"):
        ds[2]


def test_validate_reports_every_kind_of_bad_file(clips):
    d = clips / "spk1"
    (d / "zero.wav").write_bytes(b"")
    (d / "text.wav").write_text("not audio")
    sf.write(d / "hdr.wav", np.zeros((0, 1), np.float32), 16000)
    x = tone(0.1); x[5] = np.nan
    sf.write(d / "nan.wav", x, 16000, subtype="FLOAT")
    sf.write(d / "short.wav", tone(0.01), 16000)
    sf.write(d / "silent.wav", np.zeros((1600, 1), np.float32), 16000)
    extra = ["zero", "text", "hdr", "nan", "short", "silent", "gone"]
    (clips / "m.csv").write_text("\n".join(ROWS + [f"spk1/{n}.wav,yes,spk1," for n in extra] + ["../../x.wav,yes,spk1,"]) + "\n")
    report = validate_dataset(clips / "m.csv", min_seconds=0.05)
    got = {Path(p).name: r for p, r in zip(report.bad["path"], report.bad["reason"])}
    assert got == {"zero.wav": "empty", "text.wav": "unreadable", "hdr.wav": "empty", "nan.wav": "nan_or_inf",
                   "short.wav": "too_short", "gone.wav": "missing", "x.wav": "escapes_root"}
    assert not report.ok and all(report.bad["origin"].str.contains(r"m\.csv line \d+"))
    good = report.good(AudioDataset.from_csv(clips / "m.csv", on_error="skip"))
    assert sorted(Path(p).name for p in good._paths) == ["no.wav", "silent.wav", "yes.wav"]


def test_dataset_at_a_memory_url(tmp):
    sf.write(tmp / "a.wav", tone(0.1), 16000)
    with fsspec.open("memory://edge-ds/audio/a.wav", "wb") as f:
        f.write((tmp / "a.wav").read_bytes())
    with fsspec.open("memory://edge-ds/metadata.csv", "w") as f:
        f.write("path,label\naudio/a.wav,yes\n../outside.wav,no\n")
    with pytest.raises(DatasetError, match=r"metadata\.csv line 3: \.\./outside\.wav: escapes the dataset root memory://edge-ds"):
        AudioDataset.from_csv("memory://edge-ds/metadata.csv")
    ds = AudioDataset.from_csv("memory://edge-ds/metadata.csv", on_error="skip")
    assert len(ds) == 1 and ds[0]["path"] == "memory://edge-ds/audio/a.wav" and ds[0]["audio"].shape == (1600,)
