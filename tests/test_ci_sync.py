"""CI's first gate: `make check-sync` fails when the notebooks and the exported package disagree.

The test clones the committed repository into a temporary folder (using this checkout's .venv, installing nothing), checks
that the clean clone passes, then breaks it in the two ways people do: a notebook edited without
exporting, and the generated package edited by hand. Both must make `make check-sync` exit non-zero.
"""
import json, os, shutil, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def run(cmd, cwd, check=True):
    "Run `cmd` in `cwd`, returning the completed process."
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and p.returncode: raise AssertionError(f"{cmd} failed:\n{p.stdout}\n{p.stderr}")
    return p

@pytest.fixture
def clone(tmp_path):
    if not (ROOT / ".venv" / "bin" / "nbdev-export").exists(): pytest.skip("needs the project's .venv (run `make install`)")
    dst = tmp_path / "repo"
    run(["git", "clone", "-q", str(ROOT), str(dst)], cwd=tmp_path)
    run(["git", "config", "user.email", "ci@example.com"], cwd=dst); run(["git", "config", "user.name", "ci"], cwd=dst)
    return dst

def check_sync(repo):
    "Exit code and output of `make check-sync` in `repo`, with this checkout's .venv and no install step."
    p = run(["make", "-s", "check-sync", "NO_INSTALL=1", f"VENV={ROOT / '.venv'}"], cwd=repo, check=False)
    return p.returncode, p.stdout + p.stderr

def edit_core_notebook(repo):
    "Change the body of an exported function in nbs/00_core.ipynb (without exporting)."
    nb_path = repo / "nbs" / "00_core.ipynb"
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and "def seed_everything" in src:
            cell["source"] = src.replace('"Seed `random`', '"Seeds `random`')
            break
    else: raise AssertionError("seed_everything not found in 00_core")
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")

def test_clean_clone_is_in_sync(clone):
    code, out = check_sync(clone)
    assert code == 0, out

def test_notebook_edited_without_export_fails(clone):
    edit_core_notebook(clone)
    run(["git", "commit", "-qam", "edit notebook, forget to export"], cwd=clone)
    code, out = check_sync(clone)
    assert code != 0 and "out of sync" in out and "speechnb/core.py" in out, out

def test_package_edited_by_hand_fails(clone):
    core = clone / "speechnb" / "core.py"
    core.write_text(core.read_text().replace("def seed_everything(", "def seed_everything_renamed("))
    run(["git", "commit", "-qam", "edit the generated module by hand"], cwd=clone)
    code, out = check_sync(clone)
    assert code != 0 and "speechnb/core.py" in out, out
