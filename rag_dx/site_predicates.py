"""Findings stated as a list of adjectives about one body site: "her left calf is swollen, warm, red and painful",
"a hot, swollen, tender right knee".

Why: the phrase tables (`rag_dx.finding_terms.pain_phrases`, `swelling_phrases`) match word for word,
so they read "her calf is painful" and "her knee is swollen" but nothing of a site followed by several
adjectives, the way vignettes and exam notes describe a limb or a joint; a textbook deep-vein-thrombosis
case found no finding at all, and its cards' finding words were empty. Each adjective of such a list is
read against the same tables (swollen / enlarged -> the site's swelling finding, painful / sore / tender ->
its pain finding) or, for "red", as Erythema; "warm" and "hot" name no HPO finding of their own and are
skipped. A subject of :data:`rag_dx.everyday_findings.STATED` reads its own adjectives first ("his eardrum
is red and bulging", "her skin is yellow and itchy", "his urine is dark and foamy").
Only a plain statement is read ("is not swollen" or "is neither red nor swollen" match nothing here);
its assertion is the one the matcher gave what it found in the same statement, if anything. Adjectives
written before the site are read only where the matcher found something in them ("swollen, tender right
knee": Knee pain from the phrase table), so that a denial before the list ("no red, swollen or tender
joints") reaches every adjective through the matcher's negation scope.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from rag_dx.everyday_findings import STATED, is_plural_site
from rag_dx.finding_terms import PAIN_SITES, SWELLING_SITES

#: adjective -> what it says of the site: its swelling finding, its pain finding, or an HPO name;
#: what a subject of `rag_dx.everyday_findings.STATED` is said to be comes from that table
_ADJECTIVES = {**{a: "stated" for adjectives in STATED.values() for a in adjectives if " " not in a},
               "swollen": "swell", "enlarged": "enlarge", "painful": "pain", "sore": "pain", "tender": "pain",
               "red": "Erythema", "warm": None, "hot": None}
#: "red" is Erythema, a skin finding, only where the site is skin: a red throat or eye is another finding
_NOT_SKIN = frozenset({"throat", "eye", "eyes", "gums", "tonsils", "tonsil", "eardrum", "tympanic membrane", "urine",
                       "stools", "stool"})
_FILLERS = ("very", "quite", "slightly", "mildly", "also", "extremely", "markedly", "now", "more", "really",
            "constantly", "always", "so")
_BE = r"(?P<be>is|are|was|were|has been|have been|had been|became|becomes|looks|look|looked|feels|feel|felt)"
_PLURAL_VERBS = frozenset({"are", "were", "have been", "look", "feel"})
_SINGULAR_VERBS = frozenset({"is", "was", "has been", "looks", "feels", "becomes"})


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The site stated, then its adjectives ("her calf is swollen and red"); the adjectives before the site
    ("a red, itchy right eye", "a hot, swollen, tender knee"); one adjective of such a list."""
    sites = "|".join(map(re.escape, sorted({*PAIN_SITES, *SWELLING_SITES, *STATED}, key=len, reverse=True)))
    adj = "|".join(sorted(_ADJECTIVES, key=len, reverse=True))
    word = rf"(?:(?:{'|'.join(_FILLERS)})\s+)*(?:{adj})"
    listed = rf"(?P<adjs>{word}(?:\s*(?:,\s*and|,|and|or)\s+{word})+)"
    return (re.compile(rf"\b(?:(?:his|her|my|the|their|both|its)\s+)?(?:(?:left|right)\s+)?(?P<site>{sites})"
                       rf"\s+{_BE}\s+{listed}\b", re.IGNORECASE),
            re.compile(rf"\b{listed}\s+(?:(?:left|right|both)\s+)?(?P<site>{sites})\b", re.IGNORECASE),
            re.compile(adj, re.IGNORECASE))


def predicated_findings(text: str, found: Sequence[tuple[str, tuple[int, int], str]] = ()
                        ) -> Iterator[tuple[str, tuple[int, int], str, str]]:
    """(HPO preferred name, character span of the adjective, the adjective, assertion) for each adjective
    of a site's list of two or more (one adjective is the phrase tables' to read). `found`: the
    matcher's (name, span, assertion). A name it already reports inside the same statement is not
    repeated ("her knee is swollen and painful": its Joint swelling, then Knee pain from here), and the
    statement takes the assertion of what it found there ("denies that her knee is swollen and tender":
    absent, as the matcher read "knee is swollen"); present otherwise."""
    if " and " not in text and "," not in text:
        return
    stated, before, words = _patterns()
    for m in [*stated.finditer(text), *before.finditer(text)]:
        site, be = m.group("site").lower(), (m.groupdict().get("be") or "").lower()
        if be in (_SINGULAR_VERBS if is_plural_site(site) else _PLURAL_VERBS):
            continue  # "the sores on my face are swollen": the verb is the sores', not the face's
        inside = [(name, assertion) for name, (s, e), assertion in found if m.start() <= s and e <= m.end()]
        if not be and not inside:
            continue  # adjectives before a site: only beside a finding the matcher read, whose assertion they share
        seen, assertion = {name for name, _ in inside}, inside[0][1] if inside else "present"
        for a in words.finditer(m.group("adjs")):
            target = _finding(site, a.group(0).lower())
            if target is None or target in seen:
                continue
            seen.add(target)
            start = m.start("adjs") + a.start()
            yield target, (start, start + len(a.group(0))), a.group(0), assertion


def _finding(site: str, adjective: str) -> str | None:
    """What one adjective says of a site, as an HPO preferred name (None: nothing HPO names)."""
    kind, stated = _ADJECTIVES[adjective], STATED.get(site, {}).get(adjective)
    return stated if stated or kind == "stated" else _by_kind(site, kind)


def _by_kind(site: str, kind: str | None) -> str | None:
    """What a swelling, pain or colour word says of a site that has no word of its own for it."""
    if kind in ("swell", "enlarge"):
        swelling, words = SWELLING_SITES.get(site, (None, ()))
        return swelling if kind in words else None
    if kind == "pain":
        return PAIN_SITES.get(site, (None, ()))[0]
    return None if kind is None or site in _NOT_SKIN else kind
