# Dataset stage: synthesize (default source) or import (INbreast) -> validate -> manifest -> folds.
# Sources with an import step (INbreast) get its outputs as extra inputs; the others keep the
# inputs, params and outputs they had (import_outputs in common.smk).


rule synthesize:
    output:
        dicoms=expand("{d}/dicom/{f}", d=SYNTHETIC_DIR, f=SOURCES) if SYNTHETIC else [],
        mcs=f"{SYNTHETIC_DIR}/mcs.csv",
        all_mcs=f"{SYNTHETIC_DIR}/mcs_all.csv",
        summary="results/dataset/synthetic_summary.json",
    log:
        "logs/synthesize.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        synthetic=config["synthetic"],
        dicom_dir=lambda w, output: f"{os.path.dirname(output.mcs)}/dicom",
    script:
        "../scripts/synthesize.py"


rule import_inbreast:
    input:
        csv=lambda w: inbreast_layout(DATASET["path"])["csv"],
        xml=lambda w: inbreast_xml_files(DATASET["path"]),
    output:
        **IMPORT_OUTPUTS,
    log:
        "logs/import_inbreast.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        path=DATASET["path"],
        sources=SOURCES,
        pseudonym_key=DATASET["pseudonym_key"],
    script:
        "../scripts/import_inbreast.py"


checkpoint validate:
    input:
        **import_outputs("metadata"),
        dicoms=source_paths(),
        annotations=annotations_csv(),
    output:
        sources=SOURCES_MAP,
        validation="results/dataset/validation.tsv",
        excluded="results/dataset/excluded.tsv",
    log:
        "logs/validate.log",
    conda:
        "../../envs/dataset.yaml"
    threads: 4
    params:
        **reader_params(),
        **source_params(),
        sources=SOURCES,
        on_bad_image=DATASET["on_bad_image"],
    script:
        "../scripts/validate.py"


rule manifest:
    input:
        **import_outputs("regions", "summary", prefix="source_"),
        **planted_truth("planted"),
        dicoms=source_paths(),
        sources=SOURCES_MAP,
        validation="results/dataset/validation.tsv",
        excluded="results/dataset/excluded.tsv",
        annotations=annotations_csv(),
    output:
        **dataset_regions(),
        **planted_truth("unannotated"),
        images="results/dataset/images.tsv",
        mcs="results/dataset/mcs.tsv",
        summary_json="results/dataset/summary.json",
        summary_md="results/dataset/summary.md",
    log:
        "logs/manifest.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        **reader_params(),
        sources=SOURCES,
    script:
        "../scripts/manifest.py"


rule folds:
    input:
        **folds_inputs(),
        images="results/dataset/images.tsv",
    output:
        folds="results/dataset/folds.tsv",
    log:
        "logs/folds.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        folds={
            "k": config["folds"]["k"],
            "seed": config["folds"]["seed"],
            "validation_fraction": config["folds"]["validation_fraction"],
        },
    script:
        "../scripts/folds.py"
