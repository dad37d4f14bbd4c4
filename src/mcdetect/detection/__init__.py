"""Detection stage: microcalcifications found on whole mammograms -- detections from a score map,
and their scoring as the field scores it (FROC: sensitivity against false marks per image)."""
