# Training per (variant, arch, held-out fold) and prediction of the held-out fold.
# Model "fold{k}" is trained on every fold but k, and scores only fold k.


rule train:
    input:
        shards=training_shards,
    output:
        model="results/models/{variant}/{arch}/fold{fold}.keras",
        log_tsv="results/training/{variant}/{arch}/fold{fold}.tsv",
        curve=report(
            "results/training/{variant}/{arch}/fold{fold}.png",
            caption="../report/training_curve.rst",
            category="Training",
            labels={"variant": "{variant}", "CNN": "{arch}", "held-out fold": "{fold}"},
        ),
    wildcard_constraints:
        arch="alexnet|vgg",
    params:
        hp=lambda w: config["train"][w.arch],
        seed=config["train"]["seed"],
        mixed_precision=config["train"]["mixed_precision"],
        checkpoint_dir=checkpoint_dir,
    threads: 2
    log:
        "results/logs/train/{variant}_{arch}_fold{fold}.log",
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/train.py"


rule predict:
    input:
        model="results/models/{variant}/{arch}/fold{fold}.keras",
        shards="results/shards/{variant}/fold{fold}",
        train_shards=training_shards,
    output:
        scores="results/predictions/{variant}/{arch}/fold{fold}.parquet",
    wildcard_constraints:
        arch="alexnet|vgg",
    threads: 2
    log:
        "results/logs/predict/{variant}_{arch}_fold{fold}.log",
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/predict.py"
