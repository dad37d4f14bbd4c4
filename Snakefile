# Microcalcification detection study: raw vs dark-channel dehazing vs CLAHE, patch CNNs.
# Run: snakemake --cores all   (or: make run).  Config: config.yaml, schema in workflow/schemas/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/dataset/folds.tsv",
        "results/dataset/summary.md",
        preprocessed_all,
        "results/figures/fig1_dehaze_transform.png",
        "results/figures/fig2_dehazing_example.png",
        expand(
            "results/predictions/{variant}/{arch}/fold{fold}.parquet",
            variant=config["preprocess"]["variants"],
            arch=config["train"]["architectures"],
            fold=range(config["folds"]["k"]),
        ),
        "results/evaluation/table3.md",
        "results/report/summary.md",
