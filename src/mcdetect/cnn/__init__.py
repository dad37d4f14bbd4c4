"""CNN stage: the patch CNNs, the streams that feed them, their training and their scores."""
