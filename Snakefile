# Microcalcification detection study: raw vs dark-channel dehazing vs CLAHE, patch CNNs.
# Run: snakemake --cores all   (or: make run).  Config: config.yaml, schema in workflow/schemas/.
# The workflow itself is workflow/Snakefile (also usable as a Snakemake module).


configfile: "config.yaml"


include: "workflow/Snakefile"


# An included file's default target does not carry over: the whole study is this file's too.
localrules:
    study,


rule study:
    default_target: True
    input:
        rules.all.input,
