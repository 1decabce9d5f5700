"""The widgets render in a real browser: JupyterLab on localhost runs nbs/tutorials/05_widgets.ipynb in headless Chromium.

Starts JupyterLab (127.0.0.1, a free port, a random token, no browser) in a temporary copy of the tutorial's
folder, opens the notebook with Debian's chromium driven by playwright (no browser download: the executable
path is set), runs all cells from the Run menu, and checks that an `<audio>` player and the spectrogram
`<img>` of the SampleBrowser render. A screenshot goes to tests/artifacts/widgets.png (git-ignored).
"""
import json, os, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "nbs" / "tutorials" / "05_widgets.ipynb"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("SPEECHNB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
RUN_TIMEOUT_S = 75  # the notebook's cells, in the browser's kernel


def _requirements() -> str | None:
    "Why the test cannot run here (None when it can)."
    if not Path(CHROMIUM).exists(): return f"no chromium at {CHROMIUM} (apt-get install chromium, or `make sysdeps`)"
    try: import playwright.sync_api  # noqa: F401
    except ImportError: return "the playwright Python package is not installed (pip install playwright; no browser download needed)"
    try: import jupyterlab, ipywidgets  # noqa: F401
    except ImportError as e: return f"{e.name} is not installed"
    if not NOTEBOOK.exists(): return f"{NOTEBOOK} is missing"
    return None


def _free_port() -> int:
    "A TCP port on 127.0.0.1 that nothing listens on right now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 45.0):
    "Poll the server's status API until it answers (or fail with its log)."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


KERNEL_READY_JS = """() => {
  const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def _run_all_cells(page):
    "Wait until the notebook's kernel is connected and idle, then run every cell with JupyterLab's own command."
    page.wait_for_function(KERNEL_READY_JS, timeout=60_000)
    # not awaited: the command's promise only settles when the last cell has run
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }")


@pytest.fixture
def jupyterlab(tmp_path):
    "A JupyterLab server in a temp copy of the tutorials folder; yields (base url, token, notebook name)."
    reason = _requirements()
    if reason: pytest.skip(reason)
    work = tmp_path / "nbs"
    work.mkdir()
    nb = json.loads(NOTEBOOK.read_text())
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    (work / NOTEBOOK.name).write_text(json.dumps(nb))
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_PLATFORM_DIRS": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--ServerApp.open_browser=False", "--ServerApp.allow_root=True", "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
           "--LabApp.extension_manager=readonly"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token, NOTEBOOK.name
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)   # the server and the kernel it started (its own process group)
            try: proc.wait(10)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(5)


NOTEBOOK_STATE_JS = """() => {
  const cells = [...window.jupyterapp.shell.currentWidget.content.model.cells].filter(c => c.type === 'code');
  const errors = cells.flatMap(c => c.outputs.toJSON().filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`));
  return {code: cells.length, executed: cells.filter(c => c.executionCount).length, errors};
}"""


# The WAV bytes must decode in the browser: load the clip's metadata and read its duration (s).
AUDIO_DURATION_JS = """audio => new Promise(resolve => {
  if (audio.readyState >= 1) return resolve(audio.duration);
  audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
  audio.addEventListener('error', () => resolve(null));
  setTimeout(() => resolve(null), 10000);
  audio.preload = 'metadata'; audio.load();
})"""


IN_VIEW_JS = """img => { const r = img.getBoundingClientRect();
  return img.complete && img.naturalWidth > 0 && r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }"""


def _bring_into_view(page, locator, timeout_s: float = 10.0):
    "Scroll an image into the viewport and wait until it is painted there (the notebook renders lazily while scrolling)."
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        locator.scroll_into_view_if_needed(timeout=5_000)
        page.wait_for_timeout(300)
        if locator.evaluate(IN_VIEW_JS): break
    page.wait_for_timeout(500)


def _wait_until_run(page, timeout_s: float) -> dict:
    "Poll the notebook model until every code cell has run, or a cell raised (Run All stops there)."
    end = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        if state["errors"] or state["executed"] == state["code"] or time.monotonic() > end: return state
        time.sleep(0.5)


def test_widgets_render_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright
    base, token, name = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "widgets.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{name}?token={token}", wait_until="domcontentloaded", timeout=45_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=45_000)
            _run_all_cells(page)
            state = _wait_until_run(page, RUN_TIMEOUT_S)
            spectrograms = page.locator(".jp-OutputArea img.speechnb-spectrogram")
            if spectrograms.count(): _bring_into_view(page, spectrograms.first)
            page.screenshot(path=str(shot))
            assert not state["errors"], f"a cell raised in the browser's kernel: {state['errors']}"
            assert state["executed"] == state["code"], f"only {state['executed']} of {state['code']} code cells ran in {RUN_TIMEOUT_S} s"
            # The SampleBrowser's player holds a WAV blob, and its spectrogram is a decoded PNG of real size.
            players = page.locator(".jp-OutputArea audio")
            players.first.wait_for(state="attached", timeout=10_000)
            src = players.first.get_attribute("src")
            assert src and src.startswith("blob:"), f"audio element without a source: {src!r}"
            assert players.count() == 4, f"{players.count()} players (expected: browser 1, inspector 2, explorer 1)"
            duration = players.first.evaluate(AUDIO_DURATION_JS)
            assert duration and 0.1 < duration < 5, f"the browser could not decode the clip (duration {duration!r})"
            spectrograms.first.wait_for(state="visible", timeout=10_000)
            width, height = spectrograms.first.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert width > 200 and height > 80, f"spectrogram image not rendered ({width}x{height})"
        finally:
            browser.close()
    assert shot.exists() and shot.stat().st_size > 10_000
