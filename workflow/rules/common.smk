# Helpers shared by the rules: config validation, data-source layout, per-rule config slices.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from mcdetect.data.layout import SYNTHETIC_DIR, list_source_files, synthetic_files


validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]
SYNTHETIC = DATASET["source"] == "synthetic"


def dicom_dir():
    """Folder of the DICOM files of the configured source."""
    return f"{SYNTHETIC_DIR}/dicom" if SYNTHETIC else DATASET["dicom_dir"]


def annotations_csv():
    """CSV of MC centres of the configured source (generic layout, see mcdetect.data.sources)."""
    return f"{SYNTHETIC_DIR}/mcs.csv" if SYNTHETIC else DATASET["annotations"]


def source_files():
    """Relative paths of the source DICOM files, known when the workflow is parsed."""
    if SYNTHETIC:
        return synthetic_files(config["synthetic"])
    return list_source_files(DATASET["dicom_dir"], DATASET["pattern"])


SOURCES = source_files()


def source_paths():
    return [f"{dicom_dir()}/{f}" for f in SOURCES]


def reader_params():
    """The part of the config the mammogram reader uses."""
    return {
        "spacing_mm": DATASET["spacing_mm"],
        "pseudonym_key": DATASET["pseudonym_key"],
    }
