"""The practice model as stored in an index version: classifier + ranker + similarity profile.

`PracticeModel.save` writes into `practice/` of a partial version directory and returns the
manifest entry (status, counts, training metrics, each file's sha256); `load` refuses files whose
checksums differ from that entry, with a message that says what to run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag_dx.candidates import candidate_key
from rag_dx.errors import IndexCorruptError
from rag_dx.practice.features import Channels, candidate_keys, feature_matrix
from rag_dx.practice.ood import SimilarityProfile
from rag_dx.practice.ranker import CandidateRanker
from rag_dx.practice.textclf import TextClassifier

DIRNAME = "practice"
META_FILE = "practice.json"
#: How many of the classifier's top labels join the retrieved ones as candidates.
CLASSIFIER_TOP_K = 5


@dataclass
class PracticeModel:
    """What the practice's labels taught; `status` says which parts exist and why.

    status: "ranker" (classifier + learned ranker), "vote-fallback" (too few labels per diagnosis:
    today's similarity vote is used and said so) or "no-labels".
    """

    status: str
    reason: str
    names: dict[str, str] = field(default_factory=dict)       # candidate key -> display name
    log_prior: dict[str, float] = field(default_factory=dict)  # candidate key -> log frequency
    classifier: TextClassifier | None = None
    ranker: CandidateRanker | None = None
    profile: SimilarityProfile = field(default_factory=lambda: SimilarityProfile((), 0))
    metrics: dict[str, Any] = field(default_factory=dict)
    vote_temperature: float = 0.05
    #: Conformal (APS) threshold per coverage level ("0.9" -> cumulative probability); see conformal.py.
    conformal: dict[str, float] = field(default_factory=dict)
    #: Trained on negation-aware text (rag_dx.practice.negation): serving must read cases the same way.
    negation_aware: bool = False
    #: Trained with one token per present finding concept (negation.classifier_text); read cases alike.
    finding_tokens: bool = False
    #: Per diagnosis (candidate key): nearest same-diagnosis report similarity of its reports (train.py).
    label_profiles: dict[str, SimilarityProfile] = field(default_factory=dict)

    def concept_keys(self, vocabulary: Any = None) -> frozenset[str]:
        """Every key the practice's diagnoses are matched on: each one's concept key and its name key.

        Cached on the loaded model (its diagnoses never change); the cache is written whole, so
        threads that race here compute the same set and none reads a half-built one."""
        cached = self.__dict__.get("_concept_keys")
        if cached is None or cached[0] is not vocabulary:
            from rag_dx.candidates import concept_key

            keys = frozenset(k for n in self.names.values() for k in (concept_key(n, vocabulary), candidate_key(n)))
            cached = (vocabulary, keys)
            self.__dict__["_concept_keys"] = cached
        return cached[1]

    @property
    def active(self) -> bool:
        return self.status == "ranker" and self.classifier is not None and self.ranker is not None

    def classifier_probs(self, text: str) -> dict[str, float]:
        if self.classifier is None:
            return {}
        if self.negation_aware:
            from rag_dx.practice.negation import classifier_text

            text = classifier_text(text, finding_tokens=self.finding_tokens)
        row = self.classifier.predict_proba([text])[0]
        return {candidate_key(c): float(p) for c, p in zip(self.classifier.classes, row)}

    def rank(self, text: str, channels: Channels) -> list[tuple[str, float]]:
        """(candidate key, calibrated probability) best first, over retrieved + classifier labels."""
        if not self.active:
            raise RuntimeError("this practice model has no ranker; use the similarity vote")
        probs = self.classifier_probs(text)
        top = sorted(probs, key=probs.get, reverse=True)[:CLASSIFIER_TOP_K]
        keys = candidate_keys(channels, [self.names.get(k, k) for k in top])
        X = feature_matrix(keys, channels, probs, self.log_prior, vote_temperature=self.vote_temperature)
        p = self.ranker.probabilities(X)
        order = np.argsort(-p, kind="stable")
        return [(keys[i], float(p[i])) for i in order]

    # --- storage -------------------------------------------------------------------------------

    def save(self, version_dir: Path) -> dict[str, Any]:
        """Write `practice/` inside a version directory; returns the manifest entry."""
        from rag_dx.index.layout import artefact_checksums

        out = version_dir / DIRNAME
        out.mkdir(parents=True, exist_ok=True)
        files: list[str] = []
        if self.classifier is not None:
            files += self.classifier.save(out)
        if self.ranker is not None:
            files += self.ranker.save(out)
        meta = {"status": self.status, "reason": self.reason, "names": self.names, "log_prior": self.log_prior,
                "profile": self.profile.to_json(), "metrics": self.metrics,
                "label_profiles": {k: v.to_json() for k, v in self.label_profiles.items()},
                "vote_temperature": self.vote_temperature, "negation_aware": self.negation_aware,
                "finding_tokens": self.finding_tokens,
                "conformal": {k: (v if math.isfinite(v) else None) for k, v in self.conformal.items()}}
        (out / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        files.append(META_FILE)
        return {"status": self.status, "reason": self.reason, "metrics": self.metrics,
                "files": artefact_checksums(version_dir, DIRNAME, sorted(files))}

    @classmethod
    def load(cls, version_dir: Path, entry: Mapping[str, Any] | None, *, verify: bool = True) -> "PracticeModel | None":
        """The version's practice model, or None for a version built before practice models existed."""
        if not entry:
            return None
        from rag_dx.index.layout import verify_artefact

        base = version_dir / DIRNAME
        files: Mapping[str, str] = entry.get("files", {})
        try:
            if verify:
                verify_artefact(version_dir, files, "practice model")
            meta = json.loads((base / META_FILE).read_text(encoding="utf-8"))
            classifier = TextClassifier.load(base) if f"{DIRNAME}/textclf.json" in files else None
            ranker = CandidateRanker.load(base) if f"{DIRNAME}/ranker.json" in files else None
            profile = SimilarityProfile.from_json(meta.get("profile", {}))
            label_profiles = {k: SimilarityProfile.from_json(v) for k, v in meta.get("label_profiles", {}).items()}
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"index version {version_dir.name}: practice model cannot be read ({exc}); "
                                    "rebuild it with `rag-dx index rebuild`") from None
        return cls(status=str(meta["status"]), reason=str(meta.get("reason", "")), names=dict(meta["names"]),
                   log_prior={k: float(v) for k, v in meta["log_prior"].items()}, classifier=classifier,
                   ranker=ranker, profile=profile, metrics=dict(meta.get("metrics", {})), label_profiles=label_profiles,
                   vote_temperature=float(meta.get("vote_temperature", 0.05)),
                   negation_aware=bool(meta.get("negation_aware", False)),
                   finding_tokens=bool(meta.get("finding_tokens", False)),
                   conformal={k: (math.inf if v is None else float(v)) for k, v in meta.get("conformal", {}).items()})


def display_names(labels: Sequence[str]) -> dict[str, str]:
    """Candidate key -> the most frequent spelling of that label (first seen on ties)."""
    counts: dict[str, dict[str, int]] = {}
    for label in labels:
        spellings = counts.setdefault(candidate_key(label), {})
        spellings[label] = spellings.get(label, 0) + 1
    return {k: max(v.items(), key=lambda kv: kv[1])[0] for k, v in counts.items()}


def practice_of(index: Any) -> PracticeModel | None:
    """A loaded index version's practice model (None for versions built before practice models)."""
    return index.artefact(DIRNAME, PracticeModel.load)
