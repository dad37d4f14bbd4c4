"""The study design, shared by every stage: the preprocessing variants compared, their short labels,
the reference variant, the pairs tested (Bonferroni over their number) and the CNNs.

Read from the config (``preprocess.variants``, ``study``, ``train.architectures``) and checked when
the workflow is parsed, so a design that cannot reach the tables stops before any job runs, with a
message naming the config key. The default is the paper's Table 3: unprocessed (UN), CLAHE (CL)
and dehazed (DH) mammograms, the differences CL - UN, DH - UN and DH - CL, m = 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from mcdetect.errors import MCDetectError

__all__ = ["StudyDesign", "SweepDesign", "DesignError", "VARIANTS", "ARCHITECTURES"]

# preprocessing variants the workflow makes
VARIANTS = ("raw", "dehaze", "dehaze_guided", "dehaze_tarel", "dehaze_meng", "clahe")
ARCHITECTURES = ("alexnet", "vgg", "resnet")  # patch CNNs of mcdetect.cnn.models


class DesignError(MCDetectError):
    """A study design that cannot reach the tables; the message names the config key."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"config {key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class StudyDesign:
    """Which models exist and how they are compared.

    ``comparisons`` holds pairs (x, y) of variants, each reported as S_x - S_y with a paired
    two-sided p-value, significant when p < alpha / m, m the number of comparisons."""

    variants: tuple[str, ...]
    labels: dict
    reference: str
    comparisons: tuple[tuple[str, str], ...]
    archs: tuple[str, ...]
    alpha: float = 0.05

    @property
    def m(self) -> int:
        """The Bonferroni factor: the number of comparisons."""
        return len(self.comparisons)

    def label(self, variant: str) -> str:
        return self.labels[variant]

    @property
    def compared(self) -> list[tuple[str, str]]:
        """The comparisons as label pairs, e.g. [("CL", "UN"), ...]."""
        return [(self.labels[x], self.labels[y]) for x, y in self.comparisons]

    @classmethod
    def from_config(cls, config: dict) -> StudyDesign:
        """The design of a (schema-validated) config; raises DesignError naming the key at fault."""
        study = config.get("study", {})
        variants = tuple(config["preprocess"]["variants"])
        archs = tuple(config["train"]["architectures"])
        return cls.build(variants, study.get("labels", {}), study.get("reference", "raw"),
                         study.get("comparisons") or [], archs)

    @classmethod
    def build(cls, variants, labels, reference, comparisons, archs) -> StudyDesign:
        """Check a design and fill in its defaults: with no comparisons given, every pair of
        variants, the later one (in ``variants`` order, the reference first) minus the earlier."""
        variants, archs = tuple(variants), tuple(archs)
        if not variants:
            raise DesignError("preprocess.variants", "no variant to compare")
        for key, items, known in (("preprocess.variants", variants, VARIANTS),
                                  ("train.architectures", archs, ARCHITECTURES)):
            unknown = [v for v in items if v not in known]
            if unknown:
                raise DesignError(key, f"unknown {', '.join(unknown)} (known: {', '.join(known)})")
            if len(set(items)) != len(items):
                raise DesignError(key, "lists an entry twice")
        if not archs:
            raise DesignError("train.architectures", "no CNN to train")
        missing = [v for v in variants if not labels.get(v)]
        if missing:
            raise DesignError("study.labels", f"no label for {', '.join(missing)}: every variant "
                              "needs one to appear in the tables")
        labels = {v: str(labels[v]) for v in variants}
        if len(set(labels.values())) != len(labels):
            raise DesignError("study.labels", f"two variants share a label ({labels})")
        if reference not in variants:
            raise DesignError("study.reference", f"{reference!r} is not one of preprocess.variants "
                              f"({', '.join(variants)})")
        if comparisons:
            pairs = []
            for pair in comparisons:
                if len(pair) != 2:
                    raise DesignError("study.comparisons", f"{pair!r} is not a pair [x, y]")
                x, y = map(str, pair)
                for v in (x, y):
                    if v not in variants:
                        raise DesignError("study.comparisons", f"[{x}, {y}] names {v!r}, which is "
                                          f"not one of preprocess.variants ({', '.join(variants)})")
                if x == y:
                    raise DesignError("study.comparisons", f"[{x}, {y}] compares a variant with "
                                      "itself")
                if (x, y) in pairs or (y, x) in pairs:
                    raise DesignError("study.comparisons", f"[{x}, {y}] is listed twice")
                pairs.append((x, y))
        else:
            ordered = [reference, *[v for v in variants if v != reference]]
            pairs = [(later, earlier) for earlier, later in combinations(ordered, 2)]
            pairs.sort(key=lambda p: ordered.index(p[1]))
        return cls(variants, labels, reference, tuple(pairs), archs)

    def as_dict(self) -> dict:
        """Plain data for a rule's ``params:`` (``from_dict`` reads it back)."""
        return {"variants": list(self.variants), "labels": dict(self.labels),
                "reference": self.reference, "comparisons": [list(p) for p in self.comparisons],
                "archs": list(self.archs), "alpha": self.alpha}

    @classmethod
    def from_dict(cls, d: dict) -> StudyDesign:
        return cls(tuple(d["variants"]), dict(d["labels"]), d["reference"],
                   tuple(tuple(p) for p in d["comparisons"]), tuple(d["archs"]),
                   d.get("alpha", 0.05))


@dataclass(frozen=True)
class SweepDesign:
    """A parameter sweep of one preprocessing variant (config ``sweep``): every combination of the
    ``grid``'s values is one setting, preprocessed anew and learnt by each net of ``archs`` (every
    fold, the study's sample table and training protocol), then compared with the study's reference
    variant's nets on the same samples. An empty grid: no sweep.

    ``base`` holds the variant's parameters (preprocess.<variant>) and the normalisation's
    percentile (preprocess.normalise.percentile, which sets how strongly every variant acts) as the
    study sets them; a setting overrides those it names."""

    variant: str
    grid: dict
    archs: tuple[str, ...]
    reference: str
    base: dict

    @property
    def enabled(self) -> bool:
        return bool(self.grid)

    @classmethod
    def from_config(cls, config: dict, design: StudyDesign) -> SweepDesign:
        """The sweep of a (schema-validated) config; raises DesignError naming the key at fault."""
        sweep = config.get("sweep", {})
        variant = sweep.get("variant", "dehaze")
        grid = {str(k): list(v) for k, v in (sweep.get("grid") or {}).items()}
        archs = tuple(sweep.get("archs", ["vgg"]))
        prep = config["preprocess"]
        base = {**({} if variant == "raw" else dict(prep.get(variant, {}))),
                "percentile": prep["normalise"]["percentile"]}
        if not grid:
            return cls(variant, {}, archs, design.reference, base)
        if variant not in VARIANTS:
            raise DesignError("sweep.variant",
                              f"unknown {variant!r} (known: {', '.join(VARIANTS)})")
        for key, values in grid.items():
            if key not in base:
                known = [k for k in base if not isinstance(base[k], list | dict)]
                raise DesignError("sweep.grid", f"{key!r} is not a parameter of {variant} (it has: "
                                  f"{', '.join(known)})")
            if isinstance(base[key], list | dict):
                raise DesignError("sweep.grid", f"{key!r} of {variant} is not a single value and "
                                  "cannot be swept")
            if not values or len(set(map(str, values))) != len(values):
                raise DesignError("sweep.grid", f"{key}: give one or more distinct values")
        missing = [a for a in archs if a not in design.archs]
        if missing:
            raise DesignError("sweep.archs", f"{', '.join(missing)} not among train.architectures "
                              f"({', '.join(design.archs)}): the sweep is compared with the "
                              f"study's {design.reference} nets of the same architecture")
        return cls(variant, grid, archs, design.reference, base)

    def table(self):
        """Every setting, one row per combination of the grid's values (grid order, the last key
        fastest): the table ``snakemake.utils.Paramspace`` takes."""
        from itertools import product

        import pandas as pd

        keys = list(self.grid)
        combos = product(*(self.grid[k] for k in keys)) if keys else []
        return pd.DataFrame([dict(zip(keys, combo, strict=True)) for combo in combos],
                            columns=keys)

    def setting(self, values: dict) -> tuple[dict, float]:
        """The variant's parameters and the normalisation percentile of one setting (``values``:
        a Paramspace instance, numpy scalars allowed)."""
        merged = dict(self.base)
        for key, value in values.items():
            merged[key] = value.item() if hasattr(value, "item") else value
        percentile = merged.pop("percentile")
        return merged, percentile
