# Report: the tables of the study (dataset, scale, Table 3) for `snakemake --report`, and a
# Markdown summary. Figures are registered by the rules that draw them.


rule report:
    input:
        folds="results/dataset/folds.tsv",
        samples="results/patches/samples_summary.tsv",
        table3="results/evaluation/table3.csv",
        bootstrap="results/evaluation/bootstrap.json",
        training=expand(
            "results/training/{variant}/{arch}/fold{fold}.tsv",
            variant=["raw", "clahe", "dehaze"],
            arch=config["train"]["architectures"],
            fold=FOLDS,
        ),
    output:
        summary="results/report/summary.md",
        dataset_csv="results/report/dataset.csv",
        dataset=report(
            "results/report/dataset.html",
            caption="../report/dataset.rst",
            category="Dataset",
        ),
        scale=report(
            "results/report/scale.html",
            caption="../report/scale.rst",
            category="Dataset",
        ),
        table3=report(
            "results/report/table3.html",
            caption="../report/table3.rst",
            category="Evaluation",
        ),
    log:
        "results/logs/report.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"
