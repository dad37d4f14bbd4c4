# Parameter sweep of one preprocessing variant (config sweep): per setting (a Paramspace instance)
# every valid image preprocessed anew, the study's sample table cut into shards per fold, each net
# of sweep.archs trained per held-out fold with the study's protocol and scoring its held-out fold;
# then every setting against the study's reference-variant nets on the same samples. A changed or
# added setting reruns only its own jobs (and the sweep's evaluation).


wildcard_constraints:
    setting="|".join(map(re.escape, SWEEP_SETTINGS)) or "(?!)",


rule sweep_preprocess:
    input:
        dicoms=lambda w: [IMAGE_SOURCE[i] for i in valid_images()],
    output:
        images=directory(f"{SWEEP_DIR}/{{setting}}/preprocessed"),
    log:
        f"logs/sweep/{SWEEP.variant}/{{setting}}/preprocess.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        spacing_mm=DATASET["spacing_mm"],
        variant_name=SWEEP.variant,
        setting=sweep_setting,
        image_ids=lambda w: valid_images(),
        png_compression=PREPROCESS["png_compression"],
    script:
        "../scripts/sweep_preprocess.py"


rule sweep_shards:
    input:
        samples="results/patches/samples.parquet",
        images=f"{SWEEP_DIR}/{{setting}}/preprocessed",
    output:
        shards=[directory(f"{SWEEP_DIR}/{{setting}}/shards/fold{f}") for f in FOLDS],
    log:
        f"logs/sweep/{SWEEP.variant}/{{setting}}/shards.log",
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        size=config["patches"]["size"],
        shards=config["shards"],
        folds=FOLDS,
    script:
        "../scripts/sweep_shards.py"


rule sweep_train:
    input:
        shards=sweep_training_shards,
    output:
        model=f"{SWEEP_DIR}/{{setting}}/models/{{arch}}/fold{{fold}}.keras",
        log_tsv=f"{SWEEP_DIR}/{{setting}}/training/{{arch}}/fold{{fold}}.tsv",
        curve=report(
            f"{SWEEP_DIR}/{{setting}}/training/{{arch}}/fold{{fold}}.png",
            caption="../report/training_curve.rst",
            category="Sweep",
            subcategory="Training",
            labels={"setting": "{setting}", "CNN": "{arch}", "held-out fold": "{fold}"},
        ),
    log:
        f"logs/sweep/{SWEEP.variant}/{{setting}}/train_{{arch}}_fold{{fold}}.log",
    wildcard_constraints:
        arch="|".join(ARCHS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        **TRAIN_PARAMS,
        title=lambda w: f"{w.arch}-like, {SWEEP.variant} {w.setting}, held-out fold {w.fold}",
        checkpoint_dir=sweep_checkpoint_dir,
    script:
        "../scripts/train.py"


rule sweep_predict:
    input:
        models=[f"{SWEEP_DIR}/{{setting}}/models/{{arch}}/fold{f}.keras" for f in FOLDS],
        shards=[f"{SWEEP_DIR}/{{setting}}/shards/fold{f}" for f in FOLDS],
    output:
        scores=[f"{SWEEP_DIR}/{{setting}}/predictions/{{arch}}/fold{f}.parquet" for f in FOLDS],
    log:
        f"logs/sweep/{SWEEP.variant}/{{setting}}/predict_{{arch}}.log",
    wildcard_constraints:
        arch="|".join(ARCHS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        standardise=config["train"]["standardise"],
    script:
        "../scripts/predict.py"


rule sweep_evaluate:
    input:
        predictions=[f"{SWEEP_DIR}/{s}/predictions/{a}/fold{f}.parquet" for s, a, f in SWEEP_KEYS],
        reference=[
            f"results/predictions/{SWEEP.reference}/{a}/fold{f}.parquet"
            for a in SWEEP.archs
            for f in FOLDS
        ],
        samples="results/patches/samples.parquet",
        folds="results/dataset/folds.tsv",
    output:
        table=f"{SWEEP_DIR}/sweep.tsv",
        markdown=f"{SWEEP_DIR}/sweep.md",
        summary=f"{SWEEP_DIR}/sweep.json",
        html=report(
            f"{SWEEP_DIR}/sweep.html",
            caption="../report/sweep_table.rst",
            category="Sweep",
        ),
        figure=report(
            f"results/figures/fig_sweep_{SWEEP.variant}.png",
            caption="../report/sweep_figure.rst",
            category="Sweep",
        ),
    log:
        f"logs/sweep/{SWEEP.variant}/evaluate.log",
    conda:
        "../../envs/report.yaml"
    threads: 2
    params:
        variant=SWEEP.variant,
        reference=SWEEP.reference,
        settings=SWEEP_TABLE,
        prediction_keys=SWEEP_KEYS,
        reference_keys=[(a, f) for a in SWEEP.archs for f in FOLDS],
        evaluation=config["evaluation"],
    script:
        "../scripts/sweep_evaluate.py"
