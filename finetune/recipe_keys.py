"""Recipe tables are typed dataclasses; a misspelt key must fail loudly, not fall back to a default."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def check_recipe_keys(cls: type, values: dict[str, Any], section: str) -> None:
    """Raise ValueError naming the unknown keys of a ``[section]`` table (and the known ones)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section} recipe: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
