# Detection on whole mammograms (beyond the paper's patches): every chosen net, and the
# non-learned first stage alone ("dog"), marks MCs on its held-out images; FROC of all of them at
# the MC and the cluster level, compared between variants as the study design says
# (mcdetect.detection). One detection job per (variant, method) marks the held-out images of
# every fold, each fold with its own net: every fold's job reads every image of the variant, so
# they always rerun together.
rule detect:
    input:
        images=preprocessed,
        masks=lambda w: expand("results/masks/{image}.png", image=valid_images()),
        folds="results/dataset/folds.tsv",
        models=nets_of("keras"),
        cards=nets_of("json"),
    output:
        detections=[f"results/detection/{{variant}}/{{method}}/fold{f}.parquet" for f in FOLDS],
    log:
        "logs/detect/{variant}_{method}.log",
    wildcard_constraints:
        method="|".join(DETECT_METHODS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: 2
    params:
        image_ids=lambda w: valid_images(),
        folds=FOLDS,
        mode=DETECTION["mode"],
        max_candidates=DETECTION["max_candidates"],
        floor=DETECTION["floor"],
        nms_mm=DETECTION["nms_mm"],
        spacing_mm=DATASET["spacing_mm"],
    script:
        "../scripts/detect.py"


rule froc:
    input:
        **dataset_regions(),
        detections=[f"results/detection/{v}/{m}/fold{f}.parquet" for v, m, f in DETECT_KEYS],
        mcs="results/dataset/mcs.tsv",
        folds="results/dataset/folds.tsv",
    output:
        curves="results/detection/froc_curves.tsv",
        summaries="results/detection/froc.tsv",
        comparisons="results/detection/froc_comparisons.tsv",
        bands="results/detection/froc_bands.tsv",
        figure=report(
            "results/figures/fig_froc.png",
            caption="../report/froc.rst",
            category="Detection",
        ),
    log:
        "logs/froc.log",
    conda:
        "../../envs/report.yaml"
    threads: 2
    params:
        design=DESIGN.as_dict(),
        detect_keys=DETECT_KEYS,
        hit_mm=DETECTION["hit_mm"],
        link_mm=DETECTION["cluster_link_mm"],
        min_mcs=DETECTION["cluster_min_mcs"],
        spacing_mm=DATASET["spacing_mm"],
        n_boot=DETECTION["n_boot"],
        unit=DETECTION["unit"],
        seed=DETECTION["seed"],
    script:
        "../scripts/froc.py"


rule detection_overlays:
    input:
        images=lambda w: expand(
            "results/preprocessed/{variant}/{image}.png", variant=VARIANTS, image=valid_images()
        ),
        masks=lambda w: expand("results/masks/{image}.png", image=valid_images()),
        detections=[
            f"results/detection/{v}/{OVERLAY_METHOD}/fold{f}.parquet"
            for v in VARIANTS
            for f in FOLDS
        ],
        curves="results/detection/froc_curves.tsv",
        mcs="results/dataset/mcs.tsv",
    output:
        figure=report(
            "results/figures/fig_detection_overlays.png",
            caption="../report/detection_overlays.rst",
            category="Detection",
        ),
    log:
        "logs/detection_overlays.log",
    conda:
        "../../envs/report.yaml"
    params:
        image_ids=lambda w: valid_images(),
        variants=VARIANTS,
        method=OVERLAY_METHOD,
        n_images=DETECTION["overlay_images"],
        fp_per_image=DETECTION["overlay_fp_per_image"],
        crop_mm=DETECTION["overlay_crop_mm"],
        hit_mm=DETECTION["hit_mm"],
        spacing_mm=DATASET["spacing_mm"],
    script:
        "../scripts/overlays.py"
