"""The workflow's fix of Snakemake's scheduler re-checks (mcdetect.schedule): one pending re-check
at a time, which the process does not wait for at its exit."""

import os
import subprocess
import time

from helpers import SNAKEMAKE

SNAKEFILE = '''
import threading
if config.get("fix"):
    from mcdetect.schedule import limit_reevaluations
    assert limit_reevaluations()

rule all:
    input: expand("out/{i}", i=range(20))

rule one:
    output: "out/{i}"
    shell: "touch {output}"

onsuccess:
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
    print(f"TIMERS {len(timers)} NON-DAEMON {sum(not t.daemon for t in timers)}")
'''


def _run(tmp_path, fix: bool) -> tuple[int, int, float]:
    work = tmp_path / f"fix{int(fix)}"
    work.mkdir()
    (work / "Snakefile").write_text(SNAKEFILE)
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "scontrol").write_text("#!/bin/sh\nexit 1\n")  # no SLURM query at start-up
    (stub / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", "--max-jobs-per-timespan", "1000/15s",
                           "--config", f"fix={int(fix)}"], cwd=work, env=env,
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    line = next(x for x in (proc.stdout + proc.stderr).splitlines() if x.startswith("TIMERS"))
    _, timers, _, non_daemon = line.split()
    return int(timers), int(non_daemon), seconds


def test_one_pending_rescheduling_timer_and_no_wait_at_exit(tmp_path):
    timers, non_daemon, seconds = _run(tmp_path, fix=False)
    # Snakemake as released: a chain of re-check timers per scheduling round, waited for at exit
    assert timers >= 10 and non_daemon == timers and seconds > 15
    timers, non_daemon, fixed = _run(tmp_path, fix=True)
    assert timers <= 1 and non_daemon == 0 and fixed < seconds - 10
