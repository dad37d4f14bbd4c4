# Evaluation: held-out scores of all folds pooled per (variant, arch), the baselines' scores of the
# same samples, exact mean sensitivity, one paired bootstrap over every model, Table 3, the CNNs'
# gains over the best baseline, and S per fold; every variant and CNN of the study design.


rule evaluate:
    input:
        **planted_truth("unannotated"),
        predictions=[f"results/predictions/{v}/{a}/fold{f}.parquet" for v, a, f in TRAINING_KEYS],
        baselines=expand("results/baselines/{variant}.parquet", variant=VARIANTS),
        samples="results/patches/samples.parquet",
        folds="results/dataset/folds.tsv",
    output:
        **planted_truth("faint"),
        per_model="results/evaluation/mean_sensitivity.tsv",
        gains="results/evaluation/cnn_vs_baselines.tsv",
        per_fold="results/evaluation/per_fold.tsv",
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
        "logs/evaluate.log",
    conda:
        "../../envs/report.yaml"
    threads: 2
    params:
        design=DESIGN.as_dict(),
        prediction_keys=TRAINING_KEYS,
        evaluation=config["evaluation"],
        exclusion_radius_px=config["patches"]["exclusion_radius_px"],
    script:
        "../scripts/evaluate.py"
