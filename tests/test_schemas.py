"""Output records refuse unknown fields; every answer carries the one disclaimer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag_dx.schemas import DISCLAIMER, Diagnosis, Differential, Versions


def test_output_schemas_refuse_unknown_fields():
    with pytest.raises(ValidationError, match="extra"):
        Differential(query="a case", differential=[], evidence=[], abstained=True, versions=Versions(package="x"))
    with pytest.raises(ValidationError, match="extra"):
        Diagnosis(diagnosis="Flu", probability=1.0, evidence=[], confidence=0.9)


def test_every_answer_carries_the_disclaimer():
    d = Differential(differential=[], evidence=[], abstained=True, versions=Versions(package="x"))
    assert d.disclaimer == DISCLAIMER and "not a replacement" in DISCLAIMER
