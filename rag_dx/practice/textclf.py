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


#: Above this many training reports the classifier is fitted by SGD instead of L-BFGS.
SGD_ABOVE = 500


@dataclass
class TextFeatures:
    """The fitted word and character vectorizers (label-free, so fitting them on all reports leaks nothing)."""

    word: Any
    char: Any

    @classmethod
    def fit(cls, texts: Sequence[str]) -> "TextFeatures":
        word, char = _vectorizers()
        word.fit(list(texts))
        char.fit(list(texts))
        return cls(word=word, char=char)

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([self.word.transform(list(texts)), self.char.transform(list(texts))]).tocsr()


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
        features = TextFeatures.fit(texts)
        return cls.fit_features(features, features.transform(texts), labels, C=C, seed=seed)

    @classmethod
    def fit_features(cls, features: "TextFeatures", X: Any, labels: Sequence[str], *, C: float = 10.0,
                     seed: int = 0) -> "TextClassifier":
        """Fit on rows already vectorized by `features` (cross-fitting reuses one vectorization).

        Why two learners: L-BFGS logistic regression is the most accurate on small practices, but
        its cost grows with n_reports x n_features x n_diagnoses; above `SGD_ABOVE` reports a
        log-loss SGD reaches the same accuracy (measured on MTSamples specialties) in a quarter
        of the time, which keeps index builds of 10,000 reports near a minute on 2 cores.
        """
        from sklearn.linear_model import LogisticRegression, SGDClassifier

        if len(set(labels)) < 2:
            raise ValueError("the practice classifier needs at least two distinct diagnoses")
        if X.shape[0] > SGD_ABOVE:
            model: Any = SGDClassifier(loss="log_loss", alpha=2e-5, max_iter=30, tol=None, random_state=seed)
        else:
            model = LogisticRegression(C=C, max_iter=500, tol=1e-3, random_state=seed)
        model.fit(X, list(labels))
        classes = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float32)
        intercept = np.asarray(model.intercept_, dtype=np.float32)
        if len(classes) == 2:  # binary models keep one row; expand so predict_proba is one code path
            coef = np.vstack([-coef[0] / 2, coef[0] / 2]).astype(np.float32)
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
        return cls(classes=classes, word=features.word, char=features.char, coef=coef, intercept=intercept, C=C)

    @classmethod
    def average(cls, models: Sequence["TextClassifier"]) -> "TextClassifier":
        """One linear model whose scores are the mean of `models`' (same vectorizers required).

        A diagnosis missing from one model's training folds gets that model's lowest score
        for it, so rare diagnoses are not promoted by the averaging.
        """
        first = models[0]
        classes = sorted({c for m in models for c in m.classes})
        coef = np.zeros((len(classes), first.coef.shape[1]), dtype=np.float64)
        intercept = np.zeros(len(classes), dtype=np.float64)
        for m in models:
            if m.word is not first.word or m.char is not first.char:
                raise ValueError("only classifiers sharing one vectorization can be averaged")
            row = {c: i for i, c in enumerate(m.classes)}
            for j, c in enumerate(classes):
                if c in row:
                    coef[j] += m.coef[row[c]]
                    intercept[j] += m.intercept[row[c]]
                else:
                    intercept[j] += float(m.intercept.min()) - 5.0
        n = float(len(models))
        return cls(classes=classes, word=first.word, char=first.char, coef=(coef / n).astype(np.float32),
                   intercept=(intercept / n).astype(np.float32), C=first.C)

    def decision(self, texts: Sequence[str]) -> NDArray[np.float64]:
        X = TextFeatures(self.word, self.char).transform(texts)
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
