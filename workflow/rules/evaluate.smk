# Evaluation: held-out scores of all folds pooled per (variant, arch), exact mean sensitivity,
# paired bootstrap over all six models at once, and the Table 3 replica.


rule evaluate:
    input:
        predictions=expand(
            "results/predictions/{variant}/{arch}/fold{fold}.parquet",
            variant=["raw", "clahe", "dehaze"],
            arch=config["train"]["architectures"],
            fold=FOLDS,
        ),
        samples="results/patches/samples.parquet",
        folds="results/dataset/folds.tsv",
    output:
        per_model="results/evaluation/mean_sensitivity.tsv",
        table3_csv="results/evaluation/table3.csv",
        table3_md="results/evaluation/table3.md",
        summary="results/evaluation/bootstrap.json",
        roc="results/evaluation/average_roc.tsv",
        fig3=report(
            "results/figures/fig3_average_roc.png",
            caption="../report/fig3.rst",
            category="Evaluation",
        ),
    log:
        "results/logs/evaluate.log",
    conda:
        "../../envs/report.yaml"
    threads: 2
    params:
        archs=config["train"]["architectures"],
        evaluation=config["evaluation"],
    script:
        "../scripts/evaluate.py"
