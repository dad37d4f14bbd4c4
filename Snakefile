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


ARCHS = config["train"]["architectures"]


# Stage targets: `snakemake --cores all preprocessed` runs the workflow up to that stage.
localrules:
    all,
    dataset,
    preprocessed,
    patches,
    models,
    evaluation,


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
            variant=VARIANTS,
            arch=ARCHS,
            fold=FOLDS,
        ),
        "results/evaluation/table3.md",
        "results/report/summary.md",


rule dataset:
    input:
        "results/dataset/folds.tsv",
        "results/dataset/summary.md",


rule preprocessed:
    input:
        preprocessed_all,
        "results/figures/fig1_dehaze_transform.png",
        "results/figures/fig2_dehazing_example.png",


rule patches:
    input:
        "results/patches/samples_summary.tsv",
        expand("results/shards/{variant}/fold{fold}", variant=VARIANTS, fold=FOLDS),
        expand("results/baselines/{variant}.parquet", variant=VARIANTS),


rule models:
    input:
        expand(
            "results/models/{variant}/{arch}/fold{fold}.keras",
            variant=VARIANTS,
            arch=ARCHS,
            fold=FOLDS,
        ),


rule evaluation:
    input:
        "results/evaluation/table3.md",
        "results/figures/fig3_average_roc.png",
