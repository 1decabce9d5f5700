"Several processes writing one registry at once lose nothing; a process killed mid-write leaves it readable."
import json, multiprocessing as mp, os, signal, sqlite3, time

import pytest

from speechnb.registry.runs import Registry, write_fake_run

N_PROCS, RUNS_EACH = 8, 4
CTX = mp.get_context("fork")  # children inherit the imported modules: no 8x torch import on 2 cores


def _register_many(root, worker, barrier, shared_run):
    "Worker: write and register RUNS_EACH runs, tag a shared run, note it, resync; all at the same time as the others."
    reg = Registry(root)
    dirs = [write_fake_run(root, f"w{worker}r{i}", accs=(0.1*worker, 0.01*i)) for i in range(RUNS_EACH)]
    barrier.wait(timeout=60)
    for d in dirs:
        reg.register(d, tags=[f"worker{worker}"])
    reg.tag(shared_run, f"seen-by-{worker}")
    reg.note(shared_run, f"note {worker}", append=True)
    reg.sync()


def test_eight_processes_lose_nothing(tmp_path):
    root = tmp_path/"runs"
    shared = Registry(root).register(write_fake_run(root, "shared"))
    barrier = CTX.Barrier(N_PROCS)
    procs = [CTX.Process(target=_register_many, args=(root, w, barrier, shared)) for w in range(N_PROCS)]
    for p in procs: p.start()
    for p in procs: p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0]*N_PROCS
    reg = Registry(root)
    df = reg.runs()
    assert len(df) == 1 + N_PROCS*RUNS_EACH                      # every run, once
    for w in range(N_PROCS):                                     # each worker's runs carry its tag
        assert sorted(df[df.tags.apply(lambda t: f"worker{w}" in t)].name) == sorted(f"w{w}r{i}" for i in range(RUNS_EACH))
    rec = reg.get(shared)
    assert sorted(rec["tags"]) == sorted(f"seen-by-{w}" for w in range(N_PROCS))   # no lost read-modify-write
    assert sorted(rec["notes"].splitlines()) == sorted(f"note {w}" for w in range(N_PROCS))
    with sqlite3.connect(reg.db_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _hold_transaction(root, run_dir, ready):
    "Worker: write a row inside a transaction, signal, then hang before committing (to be SIGKILLed)."
    reg = Registry(root)
    with reg.transaction() as con:
        con.execute("INSERT INTO registry_runs (run_id, path, notes) VALUES ('half-written', 'x', '')")
        con.execute("UPDATE registry_runs SET notes = 'clobbered'")
        ready.set()
        time.sleep(120)


def _write_forever(root, dirs):
    "Worker: register and annotate runs in a tight loop until killed."
    reg = Registry(root)
    i = 0
    while True:
        d = dirs[i % len(dirs)]
        reg.register(d, tags=[f"t{i}"], notes="x"*2000)
        i += 1


def test_sigkill_mid_transaction_leaves_registry_readable(tmp_path):
    root = tmp_path/"runs"
    reg = Registry(root)
    kept = reg.register(write_fake_run(root, "kept"), notes="original")
    ready = CTX.Event()
    p = CTX.Process(target=_hold_transaction, args=(root, None, ready))
    p.start()
    assert ready.wait(60)
    os.kill(p.pid, signal.SIGKILL); p.join(10)
    assert p.exitcode == -signal.SIGKILL
    reg = Registry(root)                                          # opens, and the lock is free again
    assert list(reg.runs().index) == [kept]                       # the uncommitted row is not there
    assert reg.get(kept)["notes"] == "original"                   # nor the uncommitted update
    reg.note(kept, "after the crash")                             # and writing works
    assert reg.get(kept)["notes"] == "after the crash"


def test_sigkill_during_write_loop(tmp_path):
    root = tmp_path/"runs"
    dirs = [write_fake_run(root, f"r{i}") for i in range(3)]
    Registry(root)
    for delay in (0.3, 0.55, 0.8):
        p = CTX.Process(target=_write_forever, args=(root, dirs))
        p.start(); time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL); p.join(10)
        reg = Registry(root)
        with sqlite3.connect(reg.db_path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        df = reg.runs()
        assert set(df.name) <= {"r0", "r1", "r2"} and len(df) >= 1
        assert all(json.dumps(reg.get(rid)["config"]) for rid in df.index)   # every row decodes whole
    reg.sync()
    assert len(Registry(root).runs()) == 3                        # and a rescan completes it
