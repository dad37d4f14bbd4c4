# Beyond the paper, when evaluate_on.source is set: the study's nets of detection.archs (both
# folds' nets, log-odds averaged) and the first stage alone mark MCs on an evaluation-only release
# (mini-MIAS circles, CBIS-DDSM masks) and are scored by cluster-level FROC there
# (mcdetect.detection.external).


rule external_import:
    input:
        external_inputs(),
    output:
        images="results/external/images.tsv",
        regions="results/external/regions.tsv",
        summary="results/external/summary.json",
        private=f"{PRIVATE_DIR}/external_sources.tsv",
    log:
        "logs/external/import.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        source=EXTERNAL["source"],
        path=EXTERNAL["path"],
        csv=EXTERNAL["csv"],
        nominal_spacing_mm=EXTERNAL["nominal_spacing_mm"],
        spacing_mm=DATASET["spacing_mm"],
        pseudonym_key=DATASET["pseudonym_key"],
    script:
        "../scripts/external_import.py"


rule external_detect:
    input:
        images="results/external/images.tsv",
        private=f"{PRIVATE_DIR}/external_sources.tsv",
        models=nets_of("keras"),
        cards=nets_of("json"),
    output:
        detections="results/external/detection/{variant}/{method}.parquet",
    log:
        "logs/external/detect_{variant}_{method}.log",
    wildcard_constraints:
        method="|".join(DETECT_METHODS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        source=EXTERNAL["source"],
        nominal_spacing_mm=EXTERNAL["nominal_spacing_mm"],
        spacing_mm=DATASET["spacing_mm"],
        pseudonym_key=DATASET["pseudonym_key"],
        variant=lambda w: w.variant,
        variant_params=lambda w: variant_params(w.variant),
        percentile=PREPROCESS["normalise"]["percentile"],
        mode=DETECTION["mode"],
        max_candidates=DETECTION["max_candidates"],
        floor=DETECTION["floor"],
        nms_mm=DETECTION["nms_mm"],
    script:
        "../scripts/external_detect.py"


rule external_froc:
    input:
        detections=[f"results/external/detection/{v}/{m}.parquet" for v, m in EXTERNAL_KEYS],
        images="results/external/images.tsv",
        regions="results/external/regions.tsv",
    output:
        curves="results/external/froc_curves.tsv",
        summaries="results/external/froc.tsv",
        comparisons="results/external/froc_comparisons.tsv",
        bands="results/external/froc_bands.tsv",
        figure=report(
            "results/figures/fig_external_froc.png",
            caption="../report/external_froc.rst",
            category="Detection",
        ),
    log:
        "logs/external/froc.log",
    conda:
        "../../envs/report.yaml"
    params:
        design=DESIGN.as_dict(),
        external_keys=EXTERNAL_KEYS,
        link_mm=DETECTION["cluster_link_mm"],
        min_mcs=DETECTION["cluster_min_mcs"],
        spacing_mm=DATASET["spacing_mm"],
        n_boot=DETECTION["n_boot"],
        unit=DETECTION["unit"],
        seed=DETECTION["seed"],
    script:
        "../scripts/external_froc.py"
