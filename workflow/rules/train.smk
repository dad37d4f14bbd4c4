# Training per (variant, arch, held-out fold), then the held-out predictions of every fold per
# (variant, arch). Model "fold{k}" is trained on the train/ parts of every fold but k, validated
# after every epoch on their val/ parts, and scores both parts of fold k. One prediction job
# scores every fold: a change of any fold's shards retrains the nets of the other folds and
# rescores its own, so the folds' predictions always rerun together.


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
    log:
        "logs/train/{variant}_{arch}_fold{fold}.log",
    wildcard_constraints:
        arch="|".join(ARCHS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        **TRAIN_PARAMS,
        title=lambda w: f"{w.arch}-like, {w.variant}, held-out fold {w.fold}",
        checkpoint_dir=checkpoint_dir,
    script:
        "../scripts/train.py"


rule predict:
    input:
        models=[f"results/models/{{variant}}/{{arch}}/fold{f}.keras" for f in FOLDS],
        shards=[f"results/shards/{{variant}}/fold{f}" for f in FOLDS],
    output:
        scores=[f"results/predictions/{{variant}}/{{arch}}/fold{f}.parquet" for f in FOLDS],
    log:
        "logs/predict/{variant}_{arch}.log",
    wildcard_constraints:
        arch="|".join(ARCHS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        standardise=config["train"]["standardise"],
    script:
        "../scripts/predict.py"


rule model_card:
    input:
        model="results/models/{variant}/{arch}/fold{fold}.keras",
        shards=training_shards,
    output:
        card="results/models/{variant}/{arch}/fold{fold}.json",
    log:
        "logs/model_card/{variant}_{arch}_fold{fold}.log",
    wildcard_constraints:
        arch="|".join(ARCHS),
    conda:
        "../../envs/dataset.yaml"
    params:
        arch=lambda w: w.arch,
        variant=lambda w: w.variant,
        fold=lambda w: int(w.fold),
        variant_params=lambda w: variant_params(w.variant),
        percentile=PREPROCESS["normalise"]["percentile"],
        spacing_mm=DATASET["spacing_mm"],
        size=config["patches"]["size"],
        standardise=config["train"]["standardise"],
    script:
        "../scripts/model_card.py"
