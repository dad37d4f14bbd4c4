"""Benchmark of the preprocessing stage. Run: .venv/bin/python benchmarks/preprocess.py

On one synthetic 2294x1914 raw mammogram (the paper's image size at 0.1 mm), milliseconds per
image for each variant beside a naive baseline measured in the same run:

* dehaze (cv2 erosion + in-place numpy) against scipy.ndimage.minimum_filter + numpy;
* CLAHE in floating point (``mcdetect.preprocessing.clahe``, MATLAB and scikit-image semantics)
  against skimage.exposure.equalize_adapthist;
* raw (normalisation), dehaze_guided, and the 16-bit PNG write/read of one output;
* the other published dehazing methods (Tarel & Hautiere's median-filter veil, Meng et al.'s
  boundary-constrained, contextually regularised transmission) against the dark-channel variant
  (``--methods`` runs this part alone).

Then the per-job overhead of the Snakemake rule: a small synthetic study is prepared, its dehaze
jobs are timed one at a time (--cores 1), and the in-process cost of the same work (read, mask,
normalise, dehaze, write) is subtracted. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mcdetect.data.dicom import read_mammogram
from mcdetect.data.synthetic import SyntheticConfig, generate_image
from mcdetect.imageio import load_image, save_image
from mcdetect.preprocessing.mask import breast_mask
from mcdetect.preprocessing.variants import (
    clahe,
    dehaze,
    dehaze_guided,
    dehaze_meng,
    dehaze_tarel,
    normalise,
)

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeat=9):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def naive_dehaze(image, omega=0.9, window=11):
    from scipy.ndimage import minimum_filter

    return 1.0 - (1.0 - image) / (1.0 - omega * minimum_filter(image, size=window, mode="nearest"))


def skimage_clahe(image):
    from skimage.exposure import equalize_adapthist

    return equalize_adapthist(image, clip_limit=0.01, nbins=256,
                              kernel_size=(image.shape[0] // 8, image.shape[1] // 8))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def test_image():
    """The benchmarks' mammogram: synthetic, 2294x1914 at 0.1 mm, as the study normalises it."""
    cfg = SyntheticConfig(rows=2294, cols=1914)
    img = generate_image(cfg, 0, "L", "CC", patient_rng_seed=0)
    reader = (1.0 - img.stored.astype(np.float32) / 16383.0).astype(np.float32)
    return reader, normalise(reader, breast_mask(reader))


def methods():
    """The other dehazing methods, each against the dark channel (Eq. 8) in the same run."""
    _, image = test_image()
    dark = timed(lambda: dehaze(image))
    rows = [("dehaze_tarel (p 0.9, 11x11 medians)", timed(lambda: dehaze_tarel(image), 3), dark),
            ("dehaze_meng (c0 0.08, 11x11, lam 1, sigma 0.5)", timed(lambda: dehaze_meng(image),
                                                                    3), dark)]
    print("| method | ms per image | dark channel (dehaze) ms | times the dark channel |")
    print("| --- | --- | --- | --- |")
    for name, ms, base in rows:
        print(f"| {name} | {ms:.0f} | {base:.1f} | {ms / base:.0f}x |")


def kernels():
    reader, image = test_image()
    rows = []
    t_norm = timed(lambda: normalise(reader, breast_mask(reader)))
    rows.append(("raw (mask + normalisation)", t_norm, None, None))
    ours, base = timed(lambda: dehaze(image)), timed(lambda: naive_dehaze(image), repeat=5)
    rows.append(("dehaze, Eq. 8", ours, "scipy minimum_filter + numpy", base))
    rows.append(("dehaze_guided (r 20, eps 1e-3)", timed(lambda: dehaze_guided(image)), None, None))
    base = timed(lambda: skimage_clahe(image), repeat=3)
    for semantics in ("matlab", "skimage"):
        ours = timed(lambda s=semantics: clahe(image, semantics=s))
        rows.append((f"clahe, {semantics} semantics (clip 0.01, 8x8, 256 bins)", ours,
                     "skimage equalize_adapthist", base))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"
        out = dehaze(image)
        rows.append(("write 16-bit PNG (zlib 3)", timed(lambda: save_image(path, out), 5), None,
                     None))
        rows.append(("read 16-bit PNG", timed(lambda: load_image(path), 5), None, None))
        size = path.stat().st_size
    return rows, size, image.shape


def job_overhead(n_images=8):
    """Seconds per dehaze job run by Snakemake beyond the in-process cost of the same work."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "bench.yaml"
        overlay.write_text("synthetic:\n  patients: 2\n  rows: 1024\n  cols: 832\n")
        base = [snakemake, "-s", str(REPO / "Snakefile"), "--directory", tmp, "--quiet", "all",
                "--configfile", str(REPO / "config.yaml"), str(overlay)]
        subprocess.run([*base, "--cores", "2", "results/dataset/folds.tsv"], check=True,
                       capture_output=True)
        import pandas as pd

        table = pd.read_csv(Path(tmp) / "private/sources.tsv", sep="\t")  # id -> source file
        ids = list(table["image_id"])[:n_images]
        sources = list(table["source"])[:n_images]
        targets = [f"results/preprocessed/dehaze/{i}.png" for i in ids]
        start = time.perf_counter()
        subprocess.run([*base, "--cores", "1", *targets], check=True, capture_output=True)
        per_job = (time.perf_counter() - start) / len(ids)

        def in_process():
            for src in sources:
                reader = read_mammogram(Path(tmp) / "data/synthetic/dicom" / src).image
                image = normalise(reader, breast_mask(reader))
                save_image(Path(tmp) / "inproc.png", dehaze(image))

        work = timed(in_process, repeat=3) / 1e3 / len(ids)
    return per_job, work, len(ids)


def main():
    print(f"Machine: {machine()}\n")
    if "--methods" in sys.argv[1:]:
        methods()
        return
    rows, size, shape = kernels()
    print(f"Image: synthetic raw mammogram {shape[0]}x{shape[1]} at 0.1 mm, float32; "
          f"median of repeated runs.\n")
    print("| operation | ms per image | baseline | baseline ms | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for name, ms, bname, bms in rows:
        if bname:
            print(f"| {name} | {ms:.1f} | {bname} | {bms:.1f} | {bms / ms:.1f}x |")
        else:
            print(f"| {name} | {ms:.1f} | | | |")
    print(f"\nOne dehazed image as 16-bit PNG: {size / 1e6:.2f} MB "
          f"({size / (shape[0] * shape[1] * 2):.0%} of the raw 16-bit size).\n")
    methods()
    per_job, work, n = job_overhead()
    print(f"Snakemake dehaze job (1024x832 image, {n} jobs, --cores 1): {per_job:.2f} s per job; "
          f"the same work in process: {work:.3f} s; overhead {per_job - work:.2f} s per job "
          f"(interpreter start, imports, Snakemake bookkeeping).")


if __name__ == "__main__":
    main()
