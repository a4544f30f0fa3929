"""Where an artefact came from: package versions, the git commit, the time. One helper for every
manifest (index versions, eval runs, fine-tuned models, benchmark results)."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent


def utc_now() -> str:
    """The current UTC time, to the second, ISO 8601 with a Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(*, short: bool = False) -> str | None:
    """The commit of the checkout rag_dx runs from; None outside a git checkout or without git."""
    try:
        out = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], cwd=_REPO,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_version(name: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def provenance(packages: Iterable[str] = (), *, created_key: str = "created") -> dict[str, Any]:
    """`{created, rag_dx, git_commit, python, packages}` for a manifest."""
    from rag_dx import __version__

    return {
        created_key: utc_now(),
        "rag_dx": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(packages),
    }
