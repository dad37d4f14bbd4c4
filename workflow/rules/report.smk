# Report: the tables of the study (dataset, scale, Table 3 and whole-image detection beside it,
# every detector beside the baselines, per-fold S, convergence of every training) for
# `snakemake --report`, and a Markdown summary.
# Figures are registered by the rules that draw them.


rule report:
    input:
        **(
            {
                "sweep": rules.sweep_evaluate.output.table,
                "sweep_summary": rules.sweep_evaluate.output.summary,
            }
            if SWEEP.enabled
            else {}
        ),
        **planted_truth("faint"),
        folds="results/dataset/folds.tsv",
        mcs="results/dataset/mcs.tsv",
        samples="results/patches/samples_summary.tsv",
        table3="results/evaluation/table3.csv",
        bootstrap="results/evaluation/bootstrap.json",
        per_model="results/evaluation/mean_sensitivity.tsv",
        gains="results/evaluation/cnn_vs_baselines.tsv",
        per_fold="results/evaluation/per_fold.tsv",
        froc="results/detection/froc.tsv",
        froc_comparisons="results/detection/froc_comparisons.tsv",
        training=training_logs(),
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
        froc=report(
            "results/report/froc.html",
            caption="../report/froc_table.rst",
            category="Detection",
        ),
        detectors=report(
            "results/report/detectors.html",
            caption="../report/detectors.rst",
            category="Evaluation",
        ),
        gains=report(
            "results/report/cnn_vs_baselines.html",
            caption="../report/gains.rst",
            category="Evaluation",
        ),
        per_fold=report(
            "results/report/per_fold.html",
            caption="../report/per_fold.rst",
            category="Evaluation",
        ),
        convergence=report(
            "results/report/convergence.html",
            caption="../report/convergence.rst",
            category="Training",
        ),
    log:
        "logs/report.log",
    conda:
        "../../envs/report.yaml"
    params:
        design=DESIGN.as_dict(),
        training_keys=TRAINING_KEYS,
        spacing_mm=DATASET["spacing_mm"],
        train={  # the design's nets only, and the input standardisation
            **{arch: config["train"][arch] for arch in ARCHS},
            "standardise": config["train"]["standardise"],
        },
    script:
        "../scripts/report.py"
