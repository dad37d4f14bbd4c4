"""Rule figures: paper Fig. 1 (Eq. 15 for several omega) and Fig. 2 (an example mammogram)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd

from mcdetect.figures import background_transform_figure, dehazing_example_figure
from mcdetect.imageio import load_image, load_mask
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    background_transform_figure(snakemake.output.fig1, p.omegas)
    mcs = pd.read_csv(snakemake.input.mcs, sep="\t")
    xy = mcs.loc[mcs["image_id"] == p.image, ["x", "y"]].to_numpy()
    images = {
        "raw": load_image(snakemake.input.raw),
        f"dehaze (ω {p.dehaze['omega']:g}, {p.dehaze['window']}x{p.dehaze['window']})":
            load_image(snakemake.input.dehaze),
        f"CLAHE (clip {p.clahe['clip_limit']:g}, {p.clahe['tiles'][0]}x{p.clahe['tiles'][1]})":
            load_image(snakemake.input.clahe),
    }
    dehazing_example_figure(snakemake.output.fig2, images, load_mask(snakemake.input.mask), xy,
                            title=f"{p.image}: {len(xy)} annotated MCs")
    log.info("figures written for example image %s (%d MCs)", p.image, len(xy))


run(main, snakemake.log[0])
