"""Conda env files pin exactly the versions of the pip lock, so both routes run the same code."""

import re

import yaml

from conftest import REPO


def lock_pins():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_env_files_match_the_lock():
    pins = lock_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
        for req in pip:
            name, version = req.split("==")
            key = name.lower().replace("_", "-")
            if key.startswith("tensorflow["):  # the GPU build pins TensorFlow's version
                key = "tensorflow-cpu"
            assert pins.get(key) == version, f"{env.name}: {req} but the lock has {pins.get(key)}"


def test_every_rule_names_an_existing_env():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for rel in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / rel).resolve().is_file(), f"{smk.name}: {rel}"
