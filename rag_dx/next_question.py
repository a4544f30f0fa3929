"""The next question to ask: findings that would tell the top candidates apart, read from their evidence.

Why: a differential with two close candidates is most useful with the one question that separates
them. Frontier-model agents generate such questions; rag-dx reads them off what it already cites,
so every question points at passages the clinician can check and nothing is invented.

How, for the top candidates (default three) and each pair of them (A, B):

* A finding *supports* a candidate when one of its cited passages (similar reports or guideline
  passages, :attr:`Diagnosis.evidence`) asserts it present or possible (:mod:`rag_dx.findings`,
  negation-aware: "no fever" in a passage is not support).
* A finding tells A from B when A's passages support it and none of B's do, counting B's mentions
  of the finding or of any more specific concept ("thunderclap headache" is a headache).
* It is worth asking only if the case does not mention it yet in any assertion (present, denied,
  possible, past, family), nor a more specific concept: after "thunderclap headache", "headache?"
  is moot (:mod:`rag_dx.hpo_tree`).
* A finding that names a compared candidate ("Tension-type headache" in a guideline passage is
  an HPO term too) is not a question: it is the diagnosis itself. Nor is a tumour (HPO's Neoplasm
  and below: "a mass in the colon" is what imaging or pathology answers) or one of HPO's grouping
  terms ("Abnormal lung morphology", "Abnormality of the skin"): nothing to ask at the bedside.
* Score: the expected information gain of the answer about "A or B" (bits), times the pair's
  probability mass p(A) + p(B), so questions separating the leading candidates come first. The
  prior is p(A) : p(B) from the differential; P(finding | candidate) is the share of its cited
  passages that assert it, smoothed as (count + 1/2) / (passages + 1) because a report that does
  not mention a finding is weak evidence the patient lacked it. A finding most of A's passages
  assert and none of B's gains most; one that only confirms an already dominant candidate gains
  little. Each finding is asked once (its best pair).

The follow-up turn (the chat appends the answer to the case) then re-ranks with the answer in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from rag_dx.findings import Finding, FindingExtractor, extract_findings
from rag_dx.hpo_tree import HpoTree, load_hpo_tree
from rag_dx.labels import candidate_key
from rag_dx.schemas import Diagnosis, Differential, Evidence, NextQuestion

if TYPE_CHECKING:
    from rag_dx.vocab import Vocabulary

__all__ = ["candidate_support", "information_gain", "next_questions", "question_groups"]

NEOPLASM = "HP:0002664"
# HPO names its organ-level grouping terms this way ("Abnormal lung morphology", "Abnormal cardiovascular
# system physiology", "Abnormality of the skin"); 1,280 of its 19,034 terms, none a symptom or sign.
_GROUPING_TERM = re.compile(r"^abnormal(?:ity)?\b.*\b(?:morphology|physiology)$|^abnormality of\b", re.IGNORECASE)


def candidate_support(
    dx: Diagnosis, by_id: dict[str, Evidence], findings_of: dict[str, list[Finding]]
) -> tuple[dict[str, list[str]], dict[str, str], int]:
    """What `dx`'s cited passages assert: concept -> ids supporting it, concept -> name, passages read."""
    support: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    ids = [i for i in dict.fromkeys(dx.evidence) if i in by_id]
    for i in ids:
        for f in findings_of[i]:
            if f.assertion in ("present", "possible"):
                if i not in support.setdefault(f.concept_id, []):
                    support[f.concept_id].append(i)
                names.setdefault(f.concept_id, f.name)
    return support, names, len(ids)


def next_questions(
    text: str,
    differential: Differential,
    evidence: Sequence[Evidence] | None = None,
    k: int = 5,
    *,
    top: int = 3,
    require_absent: bool = True,
    prior: Literal["differential", "even"] = "differential",
    extractor: FindingExtractor | None = None,
    tree: HpoTree | None = None,
    vocabulary: "Vocabulary | None" = None,
) -> list[NextQuestion]:
    """Up to `k` findings to ask about, best first (see the module docstring).

    Args:
        text: the case as the differential was computed from it.
        differential: the answer whose top candidates are to be told apart.
        evidence: the passages the candidates cite; default ``differential.evidence``.
        top: how many leading candidates are compared (pairwise).
        require_absent: True (the rule above): none of the other candidate's passages may assert
            the finding. False: it need only be asserted by a larger smoothed share of them.
        prior: "differential": the pair's probabilities; "even": 1/2 each, so a question is scored
            by how well it separates the two, not by which of them currently leads.
        vocabulary: also leave out a finding whose name, as written, is a candidate's ICD-10-CM category
            (HPO's "Myocardial infarction" to tell Angina from Heart Attack, "Allergic rhinitis" for Hay
            Fever): the name differs, the question is still the diagnosis itself.
    """
    evidence = differential.evidence if evidence is None else evidence
    by_id = {ev.id: ev for ev in evidence}
    cands = [dx for dx in differential.differential[:top] if any(i in by_id for i in dx.evidence)]
    if len(cands) < 2 or k <= 0:
        return []
    tree = tree or load_hpo_tree()
    cited = list(dict.fromkeys(i for dx in cands for i in dx.evidence if i in by_id))
    findings_of = {i: extract_findings(by_id[i].text, extractor) for i in cited}
    broad_of: dict[str, set[str]] = {}  # per passage: what it asserts, with every ancestor
    for i, fs in findings_of.items():
        broad_of[i] = set()
        for f in fs:
            if f.assertion in ("present", "possible"):
                broad_of[i] |= tree.ancestors(f.concept_id)
    moot: set[str] = set()
    for f in extract_findings(text, extractor):
        moot |= tree.ancestors(f.concept_id)
    per = [candidate_support(dx, by_id, findings_of) for dx in cands]
    cited_by = [[i for i in dict.fromkeys(dx.evidence) if i in by_id] for dx in cands]
    categories = {d.icd10.upper()[:3] for d in cands if d.icd10} if vocabulary is not None else set()
    # never asked: what the case already says, and a finding that is a compared candidate (decided once per concept)
    named = {cid: name for _s, names, _n in per for cid, name in names.items()}
    not_asked = moot | {cid for cid, name in named.items()
                        if _names_a_candidate(name, cands) or _same_category(name, categories, vocabulary)
                        or _not_a_bedside_question(cid, name, tree)}

    def share(c: int, cid: str) -> float:
        return (sum(cid in broad_of[i] for i in cited_by[c]) + 0.5) / (len(cited_by[c]) + 1)

    best: dict[str, NextQuestion] = {}
    for a, b in combinations(range(len(cands)), 2):
        mass = cands[a].probability + cands[b].probability
        prior_a = cands[a].probability / mass if mass > 0 and prior == "differential" else 0.5
        for fav, other in ((a, b), (b, a)):
            support, names, _n = per[fav]
            p_fav = prior_a if fav == a else 1.0 - prior_a
            for cid, ids in support.items():
                if cid in not_asked:
                    continue
                q_fav, q_other = share(fav, cid), share(other, cid)
                in_other = any(cid in broad_of[i] for i in cited_by[other])
                if (in_other if require_absent else q_other >= q_fav):
                    continue
                score = round(information_gain(p_fav, q_fav, q_other) * mass, 4)
                if cid not in best or score > best[cid].score:
                    best[cid] = NextQuestion(finding=names[cid], concept_id=cid, favours=cands[fav].diagnosis,
                                             versus=cands[other].diagnosis, evidence=list(ids), score=score)
    return sorted(best.values(), key=lambda q: (-q.score, q.finding))[:k]


def information_gain(prior: float, p_yes_a: float, p_yes_b: float) -> float:
    """Expected entropy reduction (bits) of "A or B" from asking a yes/no finding.

    Args:
        prior: P(A) between the two (P(B) = 1 - prior).
        p_yes_a / p_yes_b: P(finding | A), P(finding | B).
    """
    def h(p: float) -> float:
        return 0.0 if p <= 0.0 or p >= 1.0 else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))

    p_yes = prior * p_yes_a + (1 - prior) * p_yes_b
    after = 0.0
    if p_yes > 0:
        after += p_yes * h(prior * p_yes_a / p_yes)
    if p_yes < 1:
        after += (1 - p_yes) * h(prior * (1 - p_yes_a) / (1 - p_yes))
    return max(0.0, h(prior) - after)


def _names_a_candidate(finding: str, cands: Sequence[Diagnosis]) -> bool:
    f = f" {candidate_key(finding)} "
    return any(f" {k} " in f or f in f" {k} " for k in (candidate_key(d.diagnosis) for d in cands) if k)


def _not_a_bedside_question(cid: str, name: str, tree: HpoTree) -> bool:
    return bool(_GROUPING_TERM.search(name)) or NEOPLASM in tree.ancestors(cid)


def _same_category(finding: str, categories: set[str], vocabulary: "Vocabulary | None") -> bool:
    # The name as written only (a title, inclusion term or synonym): 0.1 ms a name, where the looser
    # tiers of `Vocabulary.normalize` cost ~50 ms each the first time and a case has dozens of findings.
    code = vocabulary.literal_code(finding) if vocabulary is not None and categories else None
    return code is not None and code.upper()[:3] in categories


def question_groups(questions: Sequence[NextQuestion]) -> list[tuple[str, str, list[NextQuestion]]]:
    """Questions grouped by the pair they separate, as (A, B, questions), in order of each pair's best.

    For display: "to tell A from B, ask about: x (A), y (B)". A is the pair's member that the
    best question of the group favours.
    """
    groups: dict[frozenset[str], tuple[str, str, list[NextQuestion]]] = {}
    for q in questions:
        key = frozenset((q.favours, q.versus))
        if key not in groups:
            groups[key] = (q.favours, q.versus, [])
        groups[key][2].append(q)
    return list(groups.values())
