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


def _merged(*paths):
    """Config files merged as Snakemake merges --configfile overlays (nested keys updated)."""
    from snakemake.utils import update_config, validate

    config = {}
    for path in paths:
        update_config(config, yaml.safe_load((REPO / path).read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def test_the_paper_preset_is_the_papers_protocol_and_the_default_this_projects_reading(tmp_path):
    from helpers import snakemake

    default = _merged("config.yaml")
    assert default["train"]["standardise"] == "patch"
    assert default["evaluation"]["unit"] == default["detection"]["unit"] == "patient"
    paper = _merged("config.yaml", "presets/paper.yaml")
    assert paper["train"]["standardise"] == "dataset"  # one mean, one variance (Caffe)
    assert paper["evaluation"]["unit"] == "sample"  # samples drawn as if independent
    assert paper["patches"]["negatives_per_image"] == 25_000
    for arch in ("alexnet", "vgg"):
        t = paper["train"][arch]
        assert (t["epochs"], t["batch"], t["base_lr"], t["lr_step_epochs"]) == (30, 32, 0.001, 6)
    # the schema's defaults are the default config's: a module user gets the same study
    assert _merged("config.yaml")["evaluation"] == {**_defaults_of("evaluation"),
                                                    **default["evaluation"]}
    proc = snakemake(tmp_path, "-n", "--quiet", "rules",
                     overlay=REPO / "presets/paper.yaml")
    assert "evaluate" in proc.stdout and "train" in proc.stdout


def _defaults_of(section):
    from snakemake.utils import validate

    config = {}
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config[section]
