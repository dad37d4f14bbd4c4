"""Conda env files pin exactly the versions of the pip lock, so both routes run the same code."""

import re

import yaml

from helpers import REPO


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
        assert pip[-1] == "-e ..", f"{env.name}: the package is not installed (-e ..)"
        pinned = set()
        for req in pip[:-1]:
            name, version = req.split("==")
            pinned.add(name.lower().replace("_", "-").split("[")[0])
            key = name.lower().replace("_", "-")
            if key.startswith("tensorflow["):  # the GPU build pins TensorFlow's version
                key = "tensorflow-cpu"
            assert pins.get(key) == version, f"{env.name}: {req} but the lock has {pins.get(key)}"


def test_every_rule_names_an_existing_env():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for rel in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / rel).resolve().is_file(), f"{smk.name}: {rel}"


def test_env_files_pin_every_dependency_of_the_package():
    """``-e ..`` installs the package with its dependencies: each must be pinned in the env, or
    pip would add an unpinned version."""
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0].lower().replace("_", "-") for d in deps}
    for env in sorted((REPO / "envs").glob("*.yaml")):
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
        pinned = {r.split("==")[0].lower().replace("_", "-") for r in pip if "==" in r}
        assert names <= pinned, f"{env.name}: unpinned {sorted(names - pinned)}"
