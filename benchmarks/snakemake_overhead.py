"""Benchmark of what every Snakemake run pays before and after its jobs.
Run: .venv/bin/python benchmarks/snakemake_overhead.py

1. Start-up: ``snakemake --version`` (which loads every executor plugin) with this machine's
   ``scontrol`` against the same with a stand-in ``scontrol`` that answers at once. The SLURM
   executor plugin asks ``scontrol show config`` for the cluster's MinJobAge while Snakemake
   builds its command line; where SLURM is installed but its controller is down (a test cluster
   between sessions), that question waits for its 10 s timeout at every start.
2. Exit: a one-job workflow under three rate limits (``--max-jobs-per-timespan``). After each
   round of job selection the scheduler arms a timer of the limit's timespan to look again, and
   the process waits for the last timer before it exits, so a run ends one timespan after its last
   job (Snakemake's default 100/1s, the local profile's 1000/10s, and 10000/1m).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
RUNS = 3


def wall(cmd, env=None, cwd=None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - start


def start_up() -> list[tuple[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stub = Path(tmp) / "scontrol"
        stub.write_text("#!/bin/sh\nexit 1\n")
        stub.chmod(0o755)
        fast = {**os.environ, "PATH": f"{tmp}:{os.environ['PATH']}"}
        for name, env in (("this machine's scontrol", None), ("stand-in scontrol", fast)):
            rows.append((name, statistics.median(
                wall([SNAKEMAKE, "--version"], env=env) for _ in range(RUNS))))
    return rows


def exit_wait() -> list[tuple[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Snakefile").write_text(
            'rule one:\n    output: "done"\n    shell: "touch {output}"\n')
        for limit in ("100/1s", "1000/10s", "10000/1m"):
            times = []
            for _ in range(RUNS):
                (Path(tmp) / "done").unlink(missing_ok=True)
                times.append(wall([SNAKEMAKE, "--cores", "1", "--max-jobs-per-timespan", limit],
                                  cwd=tmp))
            rows.append((limit, statistics.median(times)))
    return rows


def main():
    scontrol = shutil.which("scontrol")
    print(f"Machine: {os.cpu_count()} CPU cores; scontrol: {scontrol or 'not installed'}"
          f"{' (controller ' + controller_state() + ')' if scontrol else ''}; median of {RUNS}.\n")
    print("| `snakemake --version` with | seconds |\n| --- | --- |")
    for name, seconds in start_up():
        print(f"| {name} | {seconds:.2f} |")
    print("\n| one-job run, `--max-jobs-per-timespan` | seconds |\n| --- | --- |")
    for limit, seconds in exit_wait():
        print(f"| {limit} | {seconds:.2f} |")


def controller_state() -> str:
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
    return "up" if "UP" in ping.stdout else "down"


if __name__ == "__main__":
    main()
