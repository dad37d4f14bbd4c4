# Patches: the sample table (shared by every variant), then TFRecord shards of every fold per
# variant (one job: every fold reads every image of the variant, so they always rerun together),
# and the non-learned baselines' scores of the same samples per variant.


rule samples:
    input:
        masks=lambda w: expand("results/masks/{image}.png", image=valid_images()),
        mcs="results/dataset/mcs.tsv",
        folds="results/dataset/folds.tsv",
    output:
        samples="results/patches/samples.parquet",
        summary="results/patches/samples_summary.tsv",
    log:
        "logs/samples.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        patches=config["patches"],
        image_ids=lambda w: valid_images(),
    script:
        "../scripts/samples.py"


rule shards:
    input:
        samples="results/patches/samples.parquet",
        images=preprocessed,
    output:
        shards=[directory(f"results/shards/{{variant}}/fold{f}") for f in FOLDS],
    log:
        "logs/shards/{variant}.log",
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        size=config["patches"]["size"],
        shards=config["shards"],
        folds=FOLDS,
        image_ids=lambda w: valid_images(),
    script:
        "../scripts/shards.py"


rule baselines:
    input:
        samples="results/patches/samples.parquet",
        images=preprocessed,
    output:
        scores="results/baselines/{variant}.parquet",
    log:
        "logs/baselines/{variant}.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        size=config["patches"]["size"],
        image_ids=lambda w: valid_images(),
    script:
        "../scripts/baselines.py"
