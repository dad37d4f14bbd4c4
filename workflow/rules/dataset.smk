# Dataset stage: synthesize (default source) -> validate -> manifest -> folds.


rule synthesize:
    output:
        dicoms=expand("{d}/dicom/{f}", d=SYNTHETIC_DIR, f=SOURCES) if SYNTHETIC else [],
        mcs=f"{SYNTHETIC_DIR}/mcs.csv",
        summary="results/dataset/synthetic_summary.json",
    params:
        synthetic=config["synthetic"],
    log:
        "results/logs/synthesize.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/synthesize.py"


checkpoint validate:
    input:
        dicoms=source_paths(),
        annotations=annotations_csv(),
    output:
        validation="results/dataset/validation.tsv",
        excluded="results/dataset/excluded.tsv",
    params:
        sources=SOURCES,
        on_bad_image=DATASET["on_bad_image"],
        **reader_params(),
    threads: 4
    log:
        "results/logs/validate.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/validate.py"


rule manifest:
    input:
        dicoms=source_paths(),
        validation="results/dataset/validation.tsv",
        excluded="results/dataset/excluded.tsv",
        annotations=annotations_csv(),
    output:
        images="results/dataset/images.tsv",
        mcs="results/dataset/mcs.tsv",
        summary_json="results/dataset/summary.json",
        summary_md="results/dataset/summary.md",
    params:
        sources=SOURCES,
        **reader_params(),
    log:
        "results/logs/manifest.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/manifest.py"


rule folds:
    input:
        images="results/dataset/images.tsv",
    output:
        folds="results/dataset/folds.tsv",
    params:
        k=config["folds"]["k"],
        seed=config["folds"]["seed"],
    log:
        "results/logs/folds.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/folds.py"
