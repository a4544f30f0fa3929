"""Versioned index directories and the atomic switch between them.

Layout of `index_dir/NAME/`:

    CURRENT              name of the serving version (replaced atomically with os.replace)
    versions/VERSION/    manifest.json, dense.faiss, bm25/, docstore.sqlite
    versions/.partial-*  a build in progress (or one killed mid-way; removed by the next build)
    .lock                held by the one writer allowed at a time

A version directory is complete before it gets its final name, and CURRENT is switched only
after that, so readers always see either the old or the new version, never a half-written one.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag_dx.errors import IndexCorruptError, IndexNotFoundError, RagDxError
from rag_dx.index.layout import (  # noqa: F401  (re-exported: file names and checks live in layout)
    FORMAT_VERSION,
    MANIFEST,
    file_checksums,
    read_manifest,
    sha256_file,
    verify_files,
)
from rag_dx.provenance import git_commit, utc_now  # noqa: F401  (re-exported)

AUDIT = "audit.jsonl"
CURRENT = "CURRENT"
VERSIONS = "versions"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^v\d{4,9}$")
"""A version directory's name. CURRENT must hold exactly one such name (no path: nothing outside
the index's own `versions/` can be served under its name)."""
FILE_MODE = 0o600
DIR_MODE = 0o700
"""Index files hold de-identified patient text: owner-only."""


def private_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 for the directories created (and `path` itself set to 0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    try:
        os.chmod(path, DIR_MODE)
    except PermissionError:  # not ours (a shared parent): leave it
        pass
    return path


def restrict_tree(root: Path) -> None:
    """Files 0600, directories 0700 under `root` (a version before it is sealed)."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def check_name(name: str) -> str:
    """Index names become directory names: refuse anything that could escape index_dir."""
    if not _NAME_RE.match(name):
        raise RagDxError(
            f"invalid index name {name!r}: use letters, digits, '.', '_' or '-' (max 64, no leading dot)"
        )
    return name


def fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    for directory in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class IndexStore:
    """The directory of one named index and its versions."""

    def __init__(self, index_dir: Path, name: str) -> None:
        self.name = check_name(name)
        self.root = Path(index_dir) / name
        self.versions_dir = self.root / VERSIONS

    # -- audit ---------------------------------------------------------------------------------
    def audit_log(self):
        from rag_dx.audit import AuditLog

        return AuditLog(self.root / AUDIT)

    def audit(self, event: str, **fields) -> None:
        """One hash-chained record per change (who, what, which version, counts); never text."""
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid:{os.getuid()}"
        self.audit_log().append({"event": event, "index": self.name, "user": user, **fields})

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        private_dir(self.root.parent)
        private_dir(self.root)
        # Fail closed: a change that cannot be audited is not made.
        self.audit_log().check_writable()
        with os.fdopen(os.open(self.root / ".lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "a") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RagDxError(
                    f"another process is writing index '{self.name}'; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def clean_partials(self) -> list[Path]:
        """Remove leftovers of builds that died; only call while holding the writer lock."""
        removed = []
        if self.versions_dir.is_dir():
            for path in self.versions_dir.glob(".partial-*"):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def new_partial(self) -> Path:
        private_dir(self.versions_dir)
        path = self.versions_dir / f".partial-{os.getpid()}-{time.time_ns()}"
        path.mkdir(mode=DIR_MODE)
        return path

    def next_version_name(self) -> str:
        existing = [p.name for p in self.versions() if p.name.startswith("v")]
        numbers = [int(m.group(1)) for n in existing if (m := re.match(r"v(\d+)", n))]
        return f"v{(max(numbers) + 1) if numbers else 1:04d}"

    def commit(self, partial: Path, manifest: dict, *, switch: bool = True) -> Path:
        """Seal a finished partial build: manifest, fsync, rename, then (optionally) switch CURRENT."""
        manifest = dict(manifest)
        manifest["files"] = file_checksums(partial)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        restrict_tree(partial)
        fsync_tree(partial)
        final = self.versions_dir / manifest["version"]
        os.replace(partial, final)
        self._fsync_dir(self.versions_dir)
        self.audit("version_created", version=final.name, operation=manifest.get("operation"),
                   parent=manifest.get("parent_version"), counts=manifest.get("counts"),
                   embedded_chunks=manifest.get("embedded_chunks"), changes=manifest.get("changes"))
        if switch:
            self.switch(final.name)
        return final

    def switch(self, version: str) -> None:
        if not self._is_version_dir(version):
            raise IndexNotFoundError(f"index '{self.name}' has no version {version}")
        tmp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "w") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        previous = self.current_version()
        os.replace(tmp, self.root / CURRENT)
        self._fsync_dir(self.root)
        self.audit("switched", version=version, previous=previous)

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading -------------------------------------------------------------------------------
    def _is_version_dir(self, version: str) -> bool:
        """`version` names a sealed version directory of this index (not a link, not elsewhere)."""
        if not VERSION_RE.match(version):
            return False
        path = self.versions_dir / version
        if path.is_symlink() or not path.is_dir() or not (path / MANIFEST).is_file():
            return False
        try:
            return path.resolve().parent == self.versions_dir.resolve()
        except OSError:
            return False

    def versions(self) -> list[Path]:
        """Sealed version directories (`vNNNN`, real directories inside `versions/`), oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p for p in self.versions_dir.iterdir()
                      if VERSION_RE.match(p.name) and p.is_dir() and not p.is_symlink())

    def _pointer(self) -> str | None:
        """CURRENT's content, or None when it is missing, empty or not text."""
        try:
            raw = (self.root / CURRENT).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        try:
            return raw.decode("ascii").strip() or None
        except UnicodeDecodeError:
            return "\ufffd"  # not a version name: reported as corrupt

    def current_version(self) -> str | None:
        """The serving version's name, or None when CURRENT is missing, empty or names anything but
        a version directory of this index (see `current_dir` for the reason)."""
        version = self._pointer()
        return version if version is not None and self._is_version_dir(version) else None

    def current_dir(self) -> Path:
        """The serving version's directory.

        Raises:
            IndexNotFoundError: no CURRENT and no version at all (nothing was ever built).
            IndexCorruptError: CURRENT is missing or empty while versions exist, holds anything
                but a `vNNNN` name (a path, `..`, an absolute path), or names a version that is
                missing, a link or incomplete. Readers fall back to the newest good version.
        """
        version = self._pointer()
        if version is None:
            if not self.versions():
                raise IndexNotFoundError(
                    f"no index named '{self.name}' under {self.root.parent}; build one with "
                    f"`rag-dx index build --name {self.name} --reports FILE`"
                )
            raise IndexCorruptError(
                f"index '{self.name}' has no serving version (its {CURRENT} file is missing or empty); "
                f"switch to one with `rag-dx index rollback --name {self.name} --to VERSION`"
            )
        if not VERSION_RE.match(version):
            # never echo the pointer's content: it is not ours to print (a path, garbage)
            raise IndexCorruptError(
                f"index '{self.name}': {CURRENT} does not name a version of this index (expected vNNNN); "
                f"roll back with `rag-dx index rollback --name {self.name} --to VERSION`"
            )
        if not self._is_version_dir(version):
            raise IndexCorruptError(
                f"index '{self.name}' points at version {version}, which is missing or incomplete; "
                f"rebuild with `rag-dx index build --name {self.name} ...`"
            )
        return self.versions_dir / version

    def version_dir(self, version: str) -> Path:
        if not self._is_version_dir(version):
            raise IndexNotFoundError(f"index '{self.name}' has no version {version!r}")
        return self.versions_dir / version

    def gc(self, keep: int) -> list[str]:
        """Remove partial builds and all but the newest `keep` versions (never the serving one)."""
        if keep < 1:
            raise RagDxError("gc must keep at least one version")
        removed = [p.name for p in self.clean_partials()]
        current = self.current_version()
        versions = self.versions()
        survivors = {p.name for p in versions[-keep:]} | ({current} if current else set())
        for path in versions:
            if path.name not in survivors:
                shutil.rmtree(path)
                removed.append(path.name)
        self.audit("gc", removed=removed, keep=keep)
        return removed

    read_manifest = staticmethod(read_manifest)
    verify_files = staticmethod(verify_files)
