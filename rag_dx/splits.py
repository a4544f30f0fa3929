"""Leakage-safe holdout and K-fold splits of a labeled report file.

Why: a test case whose twin (same text, near-identical text, or same patient) sits in the index
is answered by lookup, not by reasoning, and inflates every metric. Symptom2Disease alone has 47
verbatim duplicate texts. So every split here works on *groups*:

* exact duplicates after normalization (lowercase, punctuation and whitespace collapsed);
* near-duplicates: word-bigram sets with Jaccard >= ``near_dup_jaccard`` (default 0.8), found
  with an exact prefix-filter set-similarity join (sort each set's shingles rarest-first; two
  sets that reach the threshold must share a shingle in their short prefixes), which is
  near-linear on real text: 1,200 reports take milliseconds, 5,000 notes well under a second;
* the same ``patient_id`` when the file has one.

Groups are merged with union-find and never straddle a split. ``split_by="date"`` puts the
latest reports in test and keeps only strictly earlier ones for training/retrieval. All
randomness is seeded.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

SplitBy = Literal["random", "date"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class LeakageError(ValueError):
    """A group (duplicate text or patient) has members on both sides of a split."""


def normalize_for_dedup(text: str) -> str:
    """Lowercase and collapse every run of punctuation/whitespace into one space."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def _shingles(norm: str, n: int = 2) -> frozenset[str]:
    toks = norm.split()
    if len(toks) < n:
        return frozenset(toks)
    return frozenset(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))


def word_bigrams(text: str) -> frozenset[str]:
    """The word-bigram set near-duplicate detection compares (the words themselves for one word)."""
    return _shingles(normalize_for_dedup(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 0 when either set is empty."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_pairs(texts: Sequence[str], threshold: float = 0.8) -> list[tuple[int, int]]:
    """Pairs (i < j) whose word-bigram Jaccard similarity is at least ``threshold``.

    Exact (not approximate) prefix-filter join: with shingles ordered by global frequency
    (rarest first), a set of size s can only reach Jaccard t with another set if they share one of
    its first ``s - ceil(t * s) + 1`` shingles. Candidates are then verified exactly, and a size
    filter (t * |a| <= |b| <= |a| / t) prunes the rest.
    """
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    sets = [word_bigrams(t) for t in texts]
    freq: Counter[str] = Counter()
    for s in sets:
        freq.update(s)
    ordered = [sorted(s, key=lambda x: (freq[x], x)) for s in sets]
    index: dict[str, list[int]] = defaultdict(list)
    pairs: list[tuple[int, int]] = []
    # process small sets first so the size filter only needs to look one way
    for i in sorted(range(len(sets)), key=lambda k: (len(sets[k]), k)):
        s = sets[i]
        if not s:
            continue
        prefix_len = len(s) - math.ceil(threshold * len(s)) + 1
        candidates: set[int] = set()
        for sh in ordered[i][:prefix_len]:
            candidates.update(index[sh])
        for j in candidates:
            other = sets[j]
            if len(other) < threshold * len(s):
                continue
            if jaccard(s, other) >= threshold:
                pairs.append((min(i, j), max(i, j)))
        for sh in ordered[i][:prefix_len]:
            index[sh].append(i)
    return sorted(set(pairs))


def duplicate_groups(
    texts: Sequence[str],
    *,
    patient_ids: Sequence[str | None] | None = None,
    near_dup_jaccard: float | None = 0.8,
) -> NDArray[np.int64]:
    """One group id per text: texts that must stay on the same side of any split share an id.

    Args:
        texts: report texts.
        patient_ids: optional; reports of one patient are grouped (None/"" = unknown, ungrouped).
        near_dup_jaccard: bigram-Jaccard threshold for near-duplicates; None disables them.
    """
    n = len(texts)
    uf = _UnionFind(n)
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        key = normalize_for_dedup(t)
        if key in first:
            uf.union(first[key], i)
        else:
            first[key] = i
    if near_dup_jaccard is not None:
        for a, b in near_duplicate_pairs(texts, near_dup_jaccard):
            uf.union(a, b)
    if patient_ids is not None:
        if len(patient_ids) != n:
            raise ValueError("patient_ids must have one entry per text")
        seen: dict[str, int] = {}
        for i, pid in enumerate(patient_ids):
            if pid is None or str(pid).strip() == "":
                continue
            if pid in seen:
                uf.union(seen[pid], i)
            else:
                seen[pid] = i
    roots = [uf.find(i) for i in range(n)]
    remap: dict[int, int] = {}
    return np.array([remap.setdefault(r, len(remap)) for r in roots], dtype=np.int64)


@dataclass
class Split:
    """Indices into the labeled file for one train/test split, plus what was set aside and why."""

    train: NDArray[np.int64]
    test: NDArray[np.int64]
    dropped: NDArray[np.int64] = field(default_factory=lambda: np.array([], dtype=np.int64))
    note: str = ""

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "test": int(self.test.size), "dropped": int(self.dropped.size)}


def check_no_leakage(split: Split, groups: NDArray[np.int64]) -> None:
    """Raise :class:`LeakageError` if any group has members in both train and test."""
    both = set(groups[split.train].tolist()) & set(groups[split.test].tolist())
    if both:
        raise LeakageError(f"{len(both)} duplicate/patient group(s) straddle the train/test split")


def _stratifiable(labels: Sequence[str], n_splits: int) -> bool:
    counts = Counter(labels)
    return len(counts) > 1 and min(counts.values()) >= n_splits


def holdout_split(
    labels: Sequence[str],
    groups: NDArray[np.int64],
    *,
    test_size: float = 0.2,
    seed: int = 0,
    split_by: SplitBy = "random",
    dates: Sequence[str | None] | None = None,
) -> Split:
    """One train/test split with no group on both sides.

    ``random``: when ``1 / test_size`` is (nearly) an integer, the first fold of a seeded
    StratifiedGroupKFold, so label proportions match; otherwise GroupShuffleSplit (group-safe,
    unstratified). ``date``: see :func:`date_split`.
    """
    if not 0 < test_size < 1:
        raise ValueError("test_size must be in (0, 1)")
    if split_by == "date":
        if dates is None:
            raise ValueError("--split-by date needs a date column")
        return date_split(dates, groups, test_size=test_size)
    n = len(labels)
    X = np.zeros((n, 1))
    inv = 1.0 / test_size
    k = int(round(inv))
    if k >= 2 and abs(inv - k) < 0.05 and _stratifiable(labels, k) and len(set(groups.tolist())) >= k:
        from sklearn.model_selection import StratifiedGroupKFold

        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        train, test = next(iter(cv.split(X, list(labels), groups)))
        note = f"StratifiedGroupKFold(n_splits={k}) fold 0"
    else:
        from sklearn.model_selection import GroupShuffleSplit

        gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, test = next(iter(gss.split(X, None, groups)))
        note = f"GroupShuffleSplit(test_size={test_size})"
    split = Split(np.sort(train).astype(np.int64), np.sort(test).astype(np.int64), note=note)
    check_no_leakage(split, groups)
    return split


def date_split(dates: Sequence[str | None], groups: NDArray[np.int64], *, test_size: float = 0.2) -> Split:
    """The latest ``test_size`` of reports are the test set; train is strictly earlier.

    Reports dated on the boundary day go to test (so nothing in train is as late as any test
    report). A duplicate/patient group with members on both sides keeps its test members and
    loses its train members (listed in ``dropped``): only earlier, unrelated reports stay
    retrievable. ISO dates (YYYY-MM-DD...) compare correctly as strings; undated reports are an
    error because their side cannot be decided.
    """
    missing = [i for i, d in enumerate(dates) if d is None or str(d).strip() == ""]
    if missing:
        raise ValueError(f"{len(missing)} report(s) have no date; --split-by date needs every date")
    d = np.array([str(x) for x in dates], dtype=object)
    order = np.argsort(d, kind="stable")
    n_test = max(1, int(round(test_size * len(d))))
    boundary = d[order[len(d) - n_test]]
    is_test = d >= boundary
    test_groups = set(groups[is_test].tolist())
    in_train = ~is_test & np.array([g not in test_groups for g in groups.tolist()], dtype=bool)
    dropped = np.nonzero(~is_test & ~in_train)[0]
    split = Split(
        np.nonzero(in_train)[0].astype(np.int64),
        np.nonzero(is_test)[0].astype(np.int64),
        dropped.astype(np.int64),
        note=f"by date: test from {boundary}",
    )
    check_no_leakage(split, groups)
    return split


def kfold_splits(
    labels: Sequence[str],
    groups: NDArray[np.int64],
    *,
    k: int = 5,
    seed: int = 0,
    split_by: SplitBy = "random",
    dates: Sequence[str | None] | None = None,
) -> list[Split]:
    """K group-safe folds; every report is tested exactly once (``random``).

    ``random``: StratifiedGroupKFold when every class has at least k members, else GroupKFold.
    ``date``: forward chaining: reports sorted by date are cut into k+1 blocks; fold i tests
    block i+1 with blocks 0..i as train (minus groups that reach into the test block), so the
    first block is never tested.
    """
    if k < 2:
        raise ValueError("--cv needs K >= 2")
    n = len(labels)
    if split_by == "date":
        if dates is None:
            raise ValueError("--split-by date needs a date column")
        d = np.array([str(x) for x in dates], dtype=object)
        uniq = np.unique(d)
        cuts = [uniq[int(round(i * len(uniq) / (k + 1)))] for i in range(1, k + 1)]
        ends = cuts[1:] + [None]
        out = []
        for start, end in zip(cuts, ends):
            is_test = (d >= start) & ((d < end) if end is not None else True)
            before = d < start
            test_groups = set(groups[is_test].tolist())
            ok_train = before & np.array([g not in test_groups for g in groups.tolist()], dtype=bool)
            s = Split(
                np.nonzero(ok_train)[0].astype(np.int64),
                np.nonzero(is_test)[0].astype(np.int64),
                np.nonzero(before & ~ok_train)[0].astype(np.int64),
                note=f"by date: test [{start}, {end or 'end'})",
            )
            check_no_leakage(s, groups)
            out.append(s)
        return out
    X = np.zeros((n, 1))
    if _stratifiable(labels, k):
        from sklearn.model_selection import StratifiedGroupKFold

        it = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, list(labels), groups)
        note = "StratifiedGroupKFold"
    else:
        from sklearn.model_selection import GroupKFold

        it = GroupKFold(n_splits=k).split(X, None, groups)
        note = "GroupKFold"
    out = []
    for i, (tr, te) in enumerate(it):
        s = Split(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64), note=f"{note} fold {i}")
        check_no_leakage(s, groups)
        out.append(s)
    return out
