"""Workflow scripts' logging: native start-up noise to the job's log, the workflow's own lines to
both the log and the console, an unexpected error with its traceback in the log."""

import subprocess
import sys
import textwrap


def _job(tmp_path, body):
    script = tmp_path / "job.py"
    body = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    script.write_text(
        f"import os\nfrom mcdetect.logs import run\n\n"
        f"def main(log):\n{body}\n\nrun(main, {str(tmp_path / 'job.log')!r})\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    return done, (tmp_path / "job.log").read_text()


def test_native_stderr_goes_to_the_log_and_progress_to_both(tmp_path):
    done, log = _job(tmp_path, """
        os.write(2, b"oneDNN custom operations are on\\n")  # what a C++ library prints
        log.info("epoch 1/3")
    """)
    assert done.returncode == 0
    assert "oneDNN" in log and "oneDNN" not in done.stderr
    assert "epoch 1/3" in log and "epoch 1/3" in done.stderr


def test_an_unexpected_error_reaches_the_console_and_the_log(tmp_path):
    done, log = _job(tmp_path, """
        log.info("started")
        raise RuntimeError("shard 3 is truncated")
    """)
    assert done.returncode != 0
    assert "RuntimeError: shard 3 is truncated" in done.stderr
    assert "started" in log and "Traceback" in log and "shard 3 is truncated" in log
