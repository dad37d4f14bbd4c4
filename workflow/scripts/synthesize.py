"""Rule synthesize: write the embedded synthetic DICOM dataset and its MC-centre CSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.data.synthetic import SyntheticConfig, synthesize
from mcdetect.logs import run


def main(log):
    cfg = SyntheticConfig.from_dict(snakemake.params.synthetic)
    summary = synthesize(
        cfg,
        out_dir=Path(snakemake.output.dicoms[0]).parent,
        annotations_csv=snakemake.output.mcs,
        all_mcs_csv=snakemake.output.all_mcs,
        summary_json=snakemake.output.summary,
        log=log.info,
    )
    log.info("synthetic dataset: %s", summary)


run(main, snakemake.log[0])
