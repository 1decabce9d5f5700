"`speechnb runs ...` in-process: ls/best/show/compare/push/pull, and no credential from the environment lands in any file."
import json

from speechnb.registry.cli import runs_main
from speechnb.registry.runs import Registry, write_fake_run

FAKE = {"AWS_ACCESS_KEY_ID": "AKIAFAKECLI000111", "AWS_SECRET_ACCESS_KEY": "cliFakeSecret/xyz789", "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.fakeToken"}


def test_runs_cli_round_trip(tmp_path, capsys, monkeypatch):
    for k, v in FAKE.items(): monkeypatch.setenv(k, v)
    root = tmp_path/"runs"
    for name, accs, test in [("a", (0.5, 0.6), 0.55), ("b", (0.6, 0.9), 0.85)]:
        write_fake_run(root, name, accs=accs, test={"accuracy": test})
    assert runs_main(["--root", str(root), "ls"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished") == 2 and "accuracy" in out.splitlines()[0]
    assert runs_main(["--root", str(root), "best", "test/accuracy", "-k", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[2] == "b"
    assert runs_main(["--root", str(root), "show", "a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["test/accuracy"] == 0.55
    assert runs_main(["--root", str(root), "compare", "a", "b", "--out", str(tmp_path/"c.png")]) == 0
    assert (tmp_path/"c.png").exists() and "test/accuracy" in capsys.readouterr().out
    rid = Registry(root).resolve("b")
    assert runs_main(["--root", str(root), "push", "b", str(tmp_path/"share")]) == 0
    assert runs_main(["pull", str(tmp_path/"share"), rid, "--root", str(tmp_path/"other")]) == 0
    assert f"pulled {rid}" in capsys.readouterr().out
    assert Registry(tmp_path/"other").get(rid)["metrics"]["test/accuracy"] == 0.85
    assert runs_main(["--root", str(root), "show", "zzz"]) == 1
    assert "no run 'zzz'" in capsys.readouterr().err
    # no credential from the environment was written anywhere: run folders, registries, the share
    for f in tmp_path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not any(v.encode() in data for v in FAKE.values()), f
