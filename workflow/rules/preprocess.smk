# Preprocessing stage, one job per (variant, image): raw (+ breast mask), dehaze, clahe, ...
# Each job reads the source DICOM through the reader, so a new image adds only its own jobs.


rule preprocess_raw:
    input:
        dicom=dicom_of,
    output:
        image="results/preprocessed/raw/{image}.png",
        mask="results/masks/{image}.png",
    log:
        "logs/preprocess/raw/{image}.log",
    conda:
        "../../envs/dataset.yaml"
    params:
        spacing_mm=DATASET["spacing_mm"],
        variant_name="raw",
        variant={},
        image_id=lambda w: w.image,
        normalise=PREPROCESS["normalise"],
        png_compression=PREPROCESS["png_compression"],
    script:
        "../scripts/preprocess.py"


rule preprocess:
    input:
        dicom=dicom_of,
    output:
        image="results/preprocessed/{variant}/{image}.png",
    log:
        "logs/preprocess/{variant}/{image}.log",
    wildcard_constraints:
        variant="dehaze|dehaze_guided|dehaze_tarel|dehaze_meng|clahe",
    conda:
        "../../envs/dataset.yaml"
    params:
        spacing_mm=DATASET["spacing_mm"],
        variant_name=lambda w: w.variant,
        variant=lambda w: variant_params(w.variant),
        image_id=lambda w: w.image,
        normalise=PREPROCESS["normalise"],
        png_compression=PREPROCESS["png_compression"],
    script:
        "../scripts/preprocess.py"


rule figures:
    input:
        images=lambda w: [f"results/preprocessed/{v}/{example_image()}.png" for v in VARIANTS],
        mask=lambda w: f"results/masks/{example_image()}.png",
        mcs="results/dataset/mcs.tsv",
    output:
        fig1=report(
            "results/figures/fig1_dehaze_transform.png",
            caption="../report/fig1.rst",
            category="Preprocessing",
        ),
        fig2=report(
            "results/figures/fig2_dehazing_example.png",
            caption="../report/fig2.rst",
            category="Preprocessing",
        ),
    log:
        "logs/figures.log",
    conda:
        "../../envs/report.yaml"
    params:
        image=lambda w: example_image(),
        variants=VARIANTS,
        omegas=config["figures"]["omegas"],
        variant_params={v: variant_params(v) for v in VARIANTS},
    script:
        "../scripts/figures.py"
