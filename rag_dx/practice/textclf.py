"""TF-IDF (word 1-2 and char_wb 2-5 n-grams) into multinomial logistic regression.

Why both analyzers: words carry the clinical terms, character n-grams survive the misspellings
and inflections of real reports. Stored as a JSON vocabulary and `.npy` arrays (no pickle) and
rebuilt on load into the same scikit-learn objects, so prediction code is scikit-learn's own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Fixed in advance (not tuned on test data): see docs/practice-model.md for how they were chosen.
WORD_PARAMS: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1, "max_features": 40_000,
                               "dtype": np.float32}
CHAR_PARAMS: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2,
                               "max_features": 80_000, "dtype": np.float32}
FILES = ("textclf.json", "textclf_word_idf.npy", "textclf_char_idf.npy", "textclf_coef.npy",
         "textclf_intercept.npy")


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**WORD_PARAMS), TfidfVectorizer(**CHAR_PARAMS)


@dataclass
class TextClassifier:
    """A fitted classifier over report text.

    Example:
        >>> clf = TextClassifier.fit(["cough and fever", "itchy red rash", "fever, cough", "rash itches"],
        ...                          ["flu", "eczema", "flu", "eczema"])
        >>> clf.classes[int(clf.predict_proba(["a rash"]).argmax())]
        'eczema'
    """

    classes: list[str]
    word: Any
    char: Any
    coef: NDArray[np.float32]
    intercept: NDArray[np.float32]
    C: float = 10.0

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, C: float = 10.0, seed: int = 0) -> "TextClassifier":
        from scipy.sparse import hstack
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise ValueError("the practice classifier needs at least two distinct diagnoses")
        word, char = _vectorizers()
        X = hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
        lr = LogisticRegression(C=C, max_iter=3000, random_state=seed)
        lr.fit(X, list(labels))
        classes = [str(c) for c in lr.classes_]
        coef = np.asarray(lr.coef_, dtype=np.float32)
        intercept = np.asarray(lr.intercept_, dtype=np.float32)
        if len(classes) == 2:  # binary LR keeps one row; expand so predict_proba is one code path
            coef = np.vstack([-coef[0] / 2, coef[0] / 2]).astype(np.float32)
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
        return cls(classes=classes, word=word, char=char, coef=coef, intercept=intercept, C=C)

    def decision(self, texts: Sequence[str]) -> NDArray[np.float64]:
        from scipy.sparse import hstack

        X = hstack([self.word.transform(list(texts)), self.char.transform(list(texts))]).tocsr()
        return np.asarray(X @ self.coef.T, dtype=np.float64) + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """(n_texts, n_classes) probabilities, columns in `classes` order."""
        z = self.decision(texts)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> list[str]:
        """Write the model's files into `directory`; returns their names."""
        meta = {
            "classes": self.classes,
            "C": self.C,
            "word_vocabulary": _vocab_list(self.word),
            "char_vocabulary": _vocab_list(self.char),
        }
        (directory / FILES[0]).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.save(directory / FILES[1], np.asarray(self.word.idf_, dtype=np.float32), allow_pickle=False)
        np.save(directory / FILES[2], np.asarray(self.char.idf_, dtype=np.float32), allow_pickle=False)
        np.save(directory / FILES[3], self.coef, allow_pickle=False)
        np.save(directory / FILES[4], self.intercept, allow_pickle=False)
        return list(FILES)

    @classmethod
    def load(cls, directory: Path) -> "TextClassifier":
        meta = json.loads((directory / FILES[0]).read_text(encoding="utf-8"))
        word, char = _vectorizers()
        _restore(word, meta["word_vocabulary"], np.load(directory / FILES[1], allow_pickle=False))
        _restore(char, meta["char_vocabulary"], np.load(directory / FILES[2], allow_pickle=False))
        coef = np.load(directory / FILES[3], allow_pickle=False)
        intercept = np.load(directory / FILES[4], allow_pickle=False)
        n_features = len(meta["word_vocabulary"]) + len(meta["char_vocabulary"])
        if coef.shape != (len(meta["classes"]), n_features) or intercept.shape != (len(meta["classes"]),):
            raise ValueError(f"practice classifier in {directory}: array shapes disagree with its vocabulary")
        return cls(classes=list(meta["classes"]), word=word, char=char, coef=coef, intercept=intercept,
                   C=float(meta["C"]))


def _vocab_list(vectorizer: Any) -> list[str]:
    terms = [""] * len(vectorizer.vocabulary_)
    for term, i in vectorizer.vocabulary_.items():
        terms[i] = term
    return terms


def _restore(vectorizer: Any, terms: list[str], idf: NDArray[np.float32]) -> None:
    if len(terms) != len(idf):
        raise ValueError("practice classifier: vocabulary and idf lengths differ")
    vectorizer.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vectorizer.fixed_vocabulary_ = True
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
