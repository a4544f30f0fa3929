"""Planning an evaluation run: which mode, which cases, which splits, which systems.

Nothing here loads a model. :func:`plan_eval` validates the options, loads the labeled file,
groups duplicates and near-duplicates, cuts leakage-safe splits (:mod:`rag_dx.splits`) and
lists the systems to run, including compared model variants.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_dx.errors import ConfigError
from rag_dx.splits import Split, duplicate_groups, holdout_split, kfold_splits

if TYPE_CHECKING:
    from rag_dx.schemas import Guideline, Report
    from rag_dx.settings import Settings

SYSTEMS_ABLATION = ("retrieval", "generator", "full", "tfidf_logreg")
#: The learned ranker retrained with one group of signals left out (holdout/cv only: needs the train part).
SIGNAL_ABLATIONS: dict[str, tuple[str, ...]] = {
    "full-no_knn": ("dense_vote", "dense_gap", "dense_top"),
    "full-no_bm25": ("bm25_vote",),
    "full-no_classifier": ("clf_logp", "clf_top"),
    "full-no_guidelines": ("guideline_vote",),
    "full-no_prior": ("log_prior",),
}
BASELINE = "tfidf_logreg"


@dataclass(frozen=True)
class Variant:
    """Another encoder and/or LoRA adapter, evaluated beside the configured models on the same split.

    Its systems are named ``<mode>+<name>`` ("full+encoder") and compared case by case with the
    configured ``<mode>`` system in ``metrics.json["comparison"]``.
    """

    name: str
    modes: tuple[str, ...]
    encoder: str | None = None  # None: the configured encoder
    adapter: str | None = None  # None: the configured adapter (or none)

    def settings(self, base: "Settings") -> "Settings":
        update: dict[str, Any] = {}
        if self.encoder is not None:
            update["encoder"] = self.encoder
        if self.adapter is not None:
            update["adapter"] = self.adapter
        return base.model_copy(update=update)


def compare_variants(encoder: Path | str | None = None, adapter: Path | str | None = None) -> list[Variant]:
    """What ``--compare-encoder`` / ``--compare-adapter`` add to a run, and why each mode.

    * the encoder: retrieval-only (the encoder alone decides) and full;
    * the adapter: generator-only (the adapter alone decides) and full (with its calibration);
    * both: full, the pipeline a practice would serve after fine-tuning.
    """
    for flag, value in (("--compare-encoder", encoder), ("--compare-adapter", adapter)):
        if value is not None and not Path(value).expanduser().is_dir():
            raise ConfigError(f"{flag}: model directory does not exist: {value}")
    enc = str(Path(encoder).expanduser()) if encoder is not None else None
    ada = str(Path(adapter).expanduser()) if adapter is not None else None
    out: list[Variant] = []
    if enc:
        out.append(Variant("encoder", ("retrieval", "full"), encoder=enc))
    if ada:
        out.append(Variant("adapter", ("generator", "full"), adapter=ada))
    if enc and ada:
        out.append(Variant("encoder+adapter", ("full",), encoder=enc, adapter=ada))
    return out


@dataclass
class EvalPlan:
    """Everything a run decided before any model is loaded."""

    settings: "Settings"
    labeled: Path
    mode: str                      # "index NAME", "holdout 0.2" or "cv 5"
    index: str | None
    split_by: str                  # "random" or "date" ("n/a" with an existing index)
    seed: int
    reports: list["Report"]
    guidelines: list["Guideline"]
    splits: list[Split]
    duplicate_groups: int
    systems: list[str]
    compare: list[Variant] = field(default_factory=list)
    variant_systems: list[tuple[Variant, str, str]] = field(default_factory=list)  # (variant, system, mode)
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def n_test(self) -> int:
        return sum(len(s.test) for s in self.splits)

    def test_reports(self) -> list["Report"]:
        return [self.reports[i] for s in self.splits for i in s.test]


def check_mode(index: str | None, holdout: float | None, cv: int | None, split_by: str | None) -> tuple[str, str]:
    """(mode flag, split mode); exactly one of index/holdout/cv, and --split-by only with a split."""
    modes = [m for m, v in (("--index", index), ("--holdout", holdout), ("--cv", cv)) if v is not None]
    if len(modes) != 1:
        raise ConfigError("give exactly one of --index NAME, --holdout FRACTION or --cv K"
                          + (f" (got {', '.join(modes)})" if modes else ""))
    split_mode = split_by or "random"
    if split_mode not in ("random", "date"):
        raise ConfigError("--split-by must be 'random' or 'date'")
    if index is not None and split_by is not None:
        raise ConfigError("--split-by only applies with --holdout or --cv")
    return modes[0], split_mode


def load_labeled(labeled: Path, *, text_col: str, label_col: str, id_col: str) -> tuple[list["Report"], Any]:
    """The labeled reports (every one must have a label) and their patient ids."""
    from rag_dx.ingest.loaders import load_reports

    loaded = load_reports(labeled, text_col=text_col, label_col=label_col, id_col=id_col, skip_invalid=False)
    reports = list(loaded.reports)
    missing = [r.line for r in reports if not (r.diagnosis or "").strip()]
    if missing:
        raise ConfigError(
            f"{labeled}: {len(missing)} report(s) have no '{label_col}' value (first at line {missing[0]}); "
            "evaluation needs a label on every report"
        )
    return reports, loaded.patient_ids


def make_splits(reports: list["Report"], patient_ids: Any, *, index: str | None, holdout: float | None,
                cv: int | None, split_mode: str, seed: int) -> tuple[list[Split], int]:
    """Leakage-safe splits (or every case as a test case against an index) and the duplicate-group count."""
    groups = duplicate_groups([r.text for r in reports], patient_ids=patient_ids)
    n_dup_groups = int(sum(c > 1 for c in Counter(groups.tolist()).values()))
    labels = [r.diagnosis or "" for r in reports]
    dates = [r.date for r in reports]
    if index is not None:
        splits = [Split(np.array([], dtype=np.int64), np.arange(len(reports), dtype=np.int64), note=f"index {index}")]
    elif holdout is not None:
        splits = [holdout_split(labels, groups, test_size=holdout, seed=seed, split_by=split_mode,  # type: ignore[arg-type]
                                dates=dates)]
    else:
        assert cv is not None
        splits = kfold_splits(labels, groups, k=cv, seed=seed, split_by=split_mode, dates=dates)  # type: ignore[arg-type]
    return splits, n_dup_groups


def plan_systems(ablations: bool, index: str | None, compare: list[Variant],
                 skip_generator: bool = False) -> tuple[list[str], list[tuple[Variant, str, str]]]:
    """Systems to run (the baseline last among the configured ones) and each variant's (variant, system, mode)."""
    systems = list(SYSTEMS_ABLATION) if ablations else ["full"]
    if ablations and index is None:
        systems[systems.index("full") + 1:systems.index("full") + 1] = list(SIGNAL_ABLATIONS)
    if ablations and skip_generator:
        systems.remove("generator")
    if index is not None and BASELINE in systems:
        systems.remove(BASELINE)  # the baseline needs a train part
    if index is not None and any(v.encoder is not None for v in compare):
        raise ConfigError("--compare-encoder needs --holdout or --cv: an existing index is tied to the encoder "
                          "that built it")
    for v in compare:  # every compared mode needs the configured system beside it
        for mode in v.modes:
            if mode not in systems:
                systems.insert(len(systems) - (BASELINE in systems), mode)
    variant_systems = [(v, f"{mode}+{v.name}", mode) for v in compare for mode in v.modes]
    return systems + [name for _, name, _ in variant_systems], variant_systems


def cap_train(split: "Split", reports: Sequence["Report"], per_label: int, seed: int) -> "Split":
    """The split with at most `per_label` train reports per diagnosis (seeded); the test part is kept."""
    import dataclasses



    if per_label < 1:
        raise ConfigError("--train-per-label must be at least 1")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i in split.train.tolist():
        by_label.setdefault(reports[i].diagnosis or "", []).append(i)
    keep = sorted(i for rows in by_label.values() for i in rng.permutation(rows)[:per_label].tolist())
    return dataclasses.replace(split, train=np.asarray(keep, dtype=np.int64),
                               note=f"{split.note}; train capped at {per_label} per diagnosis")


def plan_eval(settings: "Settings", *, labeled: Path, index: str | None, holdout: float | None, cv: int | None,
              split_by: str | None, ablations: bool, text_col: str, label_col: str, id_col: str, seed: int,
              guidelines: list[Path], compare: list[Variant], train_per_label: int | None = None,
              skip_generator: bool = False) -> EvalPlan:
    """Validate the options and decide cases, splits and systems (see :func:`eval.run.run_eval`)."""
    from rag_dx.ingest.loaders import load_guidelines

    flag, split_mode = check_mode(index, holdout, cv, split_by)
    reports, patient_ids = load_labeled(labeled, text_col=text_col, label_col=label_col, id_col=id_col)
    gls = [g for path in guidelines for g in load_guidelines(path)]
    splits, n_dup = make_splits(reports, patient_ids, index=index, holdout=holdout, cv=cv, split_mode=split_mode,
                                seed=seed)
    if train_per_label is not None:
        splits = [cap_train(sp, reports, train_per_label, seed) for sp in splits]
    systems, variant_systems = plan_systems(ablations, index, compare, skip_generator)
    value = holdout if holdout is not None else cv if cv is not None else index
    args = {"index": index, "holdout": holdout, "cv": cv, "split_by": split_by, "ablations": ablations,
            "train_per_label": train_per_label, "skip_generator": skip_generator, "text_col": text_col, "label_col": label_col, "id_col": id_col,
            "guidelines": [Path(g).name for g in guidelines],
            "compare": [{"name": v.name, "encoder": v.encoder and Path(v.encoder).name,
                         "adapter": v.adapter and Path(v.adapter).name} for v in compare]}
    return EvalPlan(settings=settings, labeled=Path(labeled), mode=f"{flag.lstrip('-')} {value}", index=index,
                    split_by=split_mode if index is None else "n/a (existing index; own report id excluded)",
                    seed=seed, reports=reports, guidelines=gls, splits=splits, duplicate_groups=n_dup,
                    systems=systems, compare=compare, variant_systems=variant_systems, args=args)
