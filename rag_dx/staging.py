"""Write a whole directory (a model, an adapter, a checkpoint) so that readers see all of it or none.

A model directory is read by fingerprint (``rag_dx.models.dir_fingerprint``): a half-written one
left by a crash would get a fingerprint of its own and be trusted. So every producer writes into a
hidden sibling and swaps it in only when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_directory(target: Path, prefix: str | None = None) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``target``; it replaces ``target`` when the block succeeds.

    On any exception (KeyboardInterrupt included) the sibling is removed and ``target`` is left as
    it was. A previous ``target`` is removed just before the rename.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix or f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def staged_file(target: Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``target``; it replaces ``target`` when the block succeeds.

    The writer may create the file at the path or overwrite it; on any exception the temporary
    file is removed and ``target`` is untouched (the same guarantee as :func:`staged_directory`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
