"""Rule synthesize: write the embedded synthetic DICOM dataset and its MC-centre CSV."""

from mcdetect.data.synthetic import synthesize
from mcdetect.logs import run


def main(log):
    out = snakemake.output
    summary = synthesize(snakemake.params.synthetic, out_dir=snakemake.params.dicom_dir,
                         annotations_csv=out.mcs, all_mcs_csv=out.all_mcs,
                         summary_json=out.summary, log=log.info)
    log.info("synthetic dataset: %s", summary)


run(main, snakemake.log[0])
