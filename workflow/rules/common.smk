# Helpers shared by the rules: config validation, data-source layout, per-rule config slices.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.current_basedir).parents[1] / "src"))  # the package
import pandas as pd

from mcdetect.data.layout import (
    SYNTHETIC_DIR,
    image_id,
    source_annotations,
    source_dicom_dir,
    source_file_list,
    synthetic_files,
)

validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]
SYNTHETIC = DATASET["source"] == "synthetic"


def dicom_dir():
    """Folder of the DICOM files of the configured source."""
    return f"{SYNTHETIC_DIR}/dicom" if SYNTHETIC else source_dicom_dir(DATASET)


def annotations_csv():
    """CSV of MC centres of the configured source (generic layout, see mcdetect.data.sources)."""
    return f"{SYNTHETIC_DIR}/mcs.csv" if SYNTHETIC else source_annotations(DATASET)


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
VARIANTS = PREPROCESS["variants"]


wildcard_constraints:
    image="img-[0-9a-f]{10}",
    variant="|".join(["raw", "dehaze", "dehaze_guided", "clahe"]),


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
    by a fingerprint of the training data: mcdetect.train)."""
    import hashlib
    import json

    key = json.dumps(
        [config["train"][wildcards.arch], config["train"]["seed"], config["train"]["select"]],
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"results/checkpoints/{wildcards.variant}_{wildcards.arch}_fold{wildcards.fold}/{digest}"
