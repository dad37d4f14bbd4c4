# Helpers shared by the rules: config validation, the study design, where results go, data-source
# layout and the input functions. The mcdetect package is installed (make venv; the conda envs
# install it from this repository).
import hashlib
import json
import os
import re

import pandas as pd
from snakemake.utils import Paramspace, validate

from mcdetect.data.layout import (
    INBREAST_SPACING_MM,
    inbreast_layout,
    inbreast_xml_files,
    source_dicom_dir,
    source_file_list,
    synthetic_files,
)
from mcdetect.design import StudyDesign, SweepDesign
from mcdetect.ids import image_id
from mcdetect.schedule import limit_reevaluations

validate(config, schema="../schemas/config.schema.yaml")
# At most one pending re-check of the job scheduler (a Snakemake 9 timer that otherwise multiplies
# with every job and took half a core of the default study: mcdetect/schedule.py).
limit_reevaluations()

DATASET = config["dataset"]
SYNTHETIC = DATASET["source"] == "synthetic"
# The comparison design (variants, labels, reference, comparisons, CNNs): checked here, so a design
# that cannot reach the tables stops the workflow before any job, naming the config key.
DESIGN = StudyDesign.from_config(config)

# Where the study writes what is not a shareable result: the synthetic DICOMs (fake patient data)
# and, never to be shared, what names source files (their names often carry patient identifiers).
SYNTHETIC_DIR = "data/synthetic"
PRIVATE_DIR = "private"
SOURCES_MAP = f"{PRIVATE_DIR}/sources.tsv"  # pseudonymous image id -> source file, status, problem
IMPORT_DIR = f"{PRIVATE_DIR}/import"  # a release's own annotations, converted to the generic layout
IMPORT_OUTPUTS = {
    "mcs": f"{IMPORT_DIR}/mcs.csv",
    "metadata": f"{IMPORT_DIR}/images.tsv",
    "regions": f"{IMPORT_DIR}/regions.tsv",
    "summary": f"{IMPORT_DIR}/summary.json",
}


def dicom_dir():
    """Folder of the DICOM files of the configured source."""
    return f"{SYNTHETIC_DIR}/dicom" if SYNTHETIC else source_dicom_dir(DATASET)


def annotations_csv():
    """CSV of MC centres of the configured source (generic layout, see mcdetect.data.sources):
    the synthetic one, INbreast's converted by its import rule, or the configured file."""
    if SYNTHETIC:
        return f"{SYNTHETIC_DIR}/mcs.csv"
    return IMPORT_OUTPUTS["mcs"] if DATASET["source"] == "inbreast" else DATASET["annotations"]


def planted_truth(name):
    """Where the truth of every planted MC is known (the synthetic source): {"planted": its CSV
    of every planted MC}, {"unannotated": the canonical table of the unannotated ones} or
    {"faint": the evaluation's table of S without the negatives on them}; empty otherwise, so
    that other sources keep their inputs and outputs."""
    if not SYNTHETIC:
        return {}
    return {
        name: {
            "planted": f"{SYNTHETIC_DIR}/mcs_all.csv",
            "unannotated": "results/dataset/mcs_unannotated.tsv",
            "faint": "results/evaluation/negatives_on_unannotated_mcs.tsv",
        }[name]
    }


def import_outputs(*names, prefix=""):
    """Named outputs of the source's import rule (INbreast), for rule inputs; empty for sources
    without one, so that their jobs keep the inputs and params they had (no spurious rerun)."""
    if DATASET["source"] != "inbreast":
        return {}
    return {f"{prefix}{name}": IMPORT_OUTPUTS[name] for name in names or IMPORT_OUTPUTS}


def dataset_regions():
    """The manifest's region table (cluster outlines in canonical pixels) where the source has
    one (INbreast), as a named rule input or output; else none."""
    return {"regions": "results/dataset/regions.tsv"} if import_outputs() else {}


def source_params():
    """Validation params specific to the source (INbreast: its nominal spacing); else none."""
    return {"expected_spacing_mm": INBREAST_SPACING_MM} if DATASET["source"] == "inbreast" else {}


def folds_inputs():
    """The split file of folds.from_file as a named input, with the private map of source files
    that its file names are matched against, when one is configured."""
    if not config["folds"].get("from_file"):
        return {}
    return {"from_file": config["folds"]["from_file"], "sources": SOURCES_MAP}


def source_files():
    """Relative paths of the source DICOM files, known when the workflow is parsed."""
    if SYNTHETIC:
        return synthetic_files(config["synthetic"])
    return source_file_list(DATASET)


SOURCES = source_files()


def source_paths():
    return [f"{dicom_dir()}/{f}" for f in SOURCES]


def reader_params():
    """The part of the config the mammogram reader uses."""
    return {
        "spacing_mm": DATASET["spacing_mm"],
        "pseudonym_key": DATASET["pseudonym_key"],
    }


# Pseudonymous image id -> source DICOM path; ids are known at parse time, so adding one file adds
# only that file's jobs.
IMAGE_SOURCE = {image_id(DATASET["pseudonym_key"], src): f"{dicom_dir()}/{src}" for src in SOURCES}
PREPROCESS = config["preprocess"]
VARIANTS = list(DESIGN.variants)
ARCHS = list(DESIGN.archs)


wildcard_constraints:
    image="img-[0-9a-f]{10}",
    variant="|".join(VARIANTS),


def dicom_of(wildcards):
    return IMAGE_SOURCE[wildcards.image]


def variant_params(variant):
    """The part of the config one preprocessing variant uses."""
    return {} if variant == "raw" else dict(PREPROCESS[variant])


def validated():
    """The table of the validate checkpoint (available once validate has run)."""
    path = checkpoints.validate.get().output.validation
    return pd.read_csv(path, sep="\t", keep_default_na=False)


def valid_images():
    """Ids of the images that passed validation, in source order."""
    table = validated()
    return list(table.loc[table["status"] == "ok", "image_id"])


def example_image():
    """The valid image with the most annotated MCs (ties: the first), for the report figures."""
    table = validated()
    ok = table[table["status"] == "ok"]
    return str(ok.loc[pd.to_numeric(ok["n_mcs"]).idxmax(), "image_id"])


def preprocessed_all(wildcards):
    """Every configured variant and the mask of every valid image."""
    ids = valid_images()
    return expand(
        "results/preprocessed/{variant}/{image}.png", variant=VARIANTS, image=ids
    ) + expand("results/masks/{image}.png", image=ids)


FOLDS = list(range(config["folds"]["k"]))


def training_shards(wildcards):
    """Shard folders of the folds a model of held-out fold {fold} trains on."""
    return [
        f"results/shards/{wildcards.variant}/fold{f}" for f in FOLDS if f != int(wildcards.fold)
    ]


def checkpoint_dir(wildcards):
    """Resumable-training checkpoints, outside the declared outputs (Snakemake never deletes
    them), keyed by the training parameters so that a changed parameter starts afresh (and, inside,
    by a fingerprint of the training data: mcdetect.cnn.train)."""
    return (
        f"results/checkpoints/{wildcards.variant}_{wildcards.arch}_fold{wildcards.fold}/"
        + training_digest(wildcards.arch)
    )


def training_digest(arch):
    """A short key of the training parameters of net {arch}."""
    key = json.dumps(
        [
            config["train"][arch],
            config["train"]["seed"],
            config["train"]["select"],
            config["train"]["standardise"],
        ],
        sort_keys=True,
    )
    return hashlib.sha1(key.encode()).hexdigest()[:10]


# The training protocol, shared by rules train and sweep_train (what training uses, no more).
TRAIN_PARAMS = dict(
    arch=lambda w: w.arch,
    hp=lambda w: config["train"][w.arch],
    seed=config["train"]["seed"],
    mixed_precision=config["train"]["mixed_precision"],
    select=config["train"]["select"],
    fpr_range=config["train"]["validation_fpr"],
    standardise=config["train"]["standardise"],
)


def preprocessed(wildcards):
    """The preprocessed images of variant {variant}, every valid image in source order."""
    return [f"results/preprocessed/{wildcards.variant}/{i}.png" for i in valid_images()]


def training_logs(wildcards=None):
    """Per-epoch logs of every training, in the order of TRAINING_KEYS."""
    return [f"results/training/{v}/{a}/fold{f}.tsv" for v, a, f in TRAINING_KEYS]


# Every model of the study: (variant, arch, held-out fold).
TRAINING_KEYS = [(v, a, f) for v in VARIANTS for a in ARCHS for f in FOLDS]


# Detection on whole mammograms: the chosen nets and the first stage alone ("dog").
DETECTION = config["detection"]
# the nets of detection.archs that the study trains, and the first stage alone
DETECT_METHODS = [*(a for a in DETECTION["archs"] if a in DESIGN.archs), "dog"]
DETECT_KEYS = [(v, m, f) for v in VARIANTS for m in DETECT_METHODS for f in FOLDS]
# the detector of the report's overlays: the first chosen net (the first stage without one)
OVERLAY_METHOD = DETECT_METHODS[0]

# An evaluation-only release scored by cluster FROC (evaluate_on), when configured.
EXTERNAL = config["evaluate_on"]
EXTERNAL_KEYS = (
    [(v, m) for v in VARIANTS for m in DETECT_METHODS] if EXTERNAL["source"] != "none" else []
)


def external_inputs():
    """The files of an evaluation-only release that its import reads first (mini-MIAS: Info.txt;
    CBIS-DDSM: the case-description CSVs)."""
    if EXTERNAL["source"] == "mini_mias":
        return [os.path.join(EXTERNAL["path"], "Info.txt")]
    return list(EXTERNAL["csv"])


def nets_of(ext):
    """Input function: every fold's net (or model card) of a net of the study; none for the
    first stage alone."""

    def paths(wildcards):
        if wildcards.method == "dog":
            return []
        return [
            f"results/models/{wildcards.variant}/{wildcards.method}/fold{f}.{ext}" for f in FOLDS
        ]

    return paths


# A sweep of one variant's parameters (config sweep; nothing when its grid is empty): one
# Paramspace setting per combination of the grid's values, named like "omega~0.9_percentile~90".
SWEEP = SweepDesign.from_config(config, DESIGN)
SWEEP_DIR = f"results/sweep/{SWEEP.variant}"
SWEEP_SPACE = (
    Paramspace(SWEEP.table(), filename_params="*", single_wildcard="setting")
    if SWEEP.enabled
    else None
)
SWEEP_SETTINGS = list(SWEEP_SPACE.instance_patterns) if SWEEP.enabled else []
SWEEP_KEYS = [(s, a, f) for s in SWEEP_SETTINGS for a in SWEEP.archs for f in FOLDS]
# every setting's name and parameter values, for the sweep's evaluation
SWEEP_TABLE = [
    {"setting": s, **row}
    for s, row in zip(SWEEP_SETTINGS, SWEEP.table().to_dict("records"), strict=True)
]


def sweep_setting(wildcards):
    """(the variant's parameters, the normalisation percentile) of setting {setting}."""
    return SWEEP.setting(SWEEP_SPACE.instance(wildcards))


def sweep_training_shards(wildcards):
    """Shard folders of the folds a sweep model of held-out fold {fold} trains on."""
    return [
        f"{SWEEP_DIR}/{wildcards.setting}/shards/fold{f}" for f in FOLDS if f != int(wildcards.fold)
    ]


def sweep_checkpoint_dir(wildcards):
    """Resumable-training checkpoints of a sweep model, keyed like checkpoint_dir."""
    return (
        f"results/checkpoints/sweep/{SWEEP.variant}/"
        f"{wildcards.setting}_{wildcards.arch}_fold{wildcards.fold}/"
        + training_digest(wildcards.arch)
    )
