"""Plain functions behind the CLI commands `rag-dx ui` and `rag-dx feedback export`.

Where the UI keeps its state: ``$RAG_DX_UI_STATE_DIR`` if set, else ``$XDG_STATE_HOME/rag-dx``
(default ``~/.local/state/rag-dx``, mode 0700), holding ``feedback.sqlite`` (de-identified case
text, answers and clinician feedback), ``audit.jsonl`` and its anchor (the hash-chained audit log),
all mode 0600, and, while the UI runs, ``gradio-tmp-PID/`` (Gradio's temporary files, removed on
exit).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag_dx.errors import ConfigError
from rag_dx.settings import Settings

__all__ = ["STATE_DIR_ENV", "export_feedback", "gradio_temp_dir", "launch_ui", "state_dir"]

STATE_DIR_ENV = "RAG_DX_UI_STATE_DIR"
FEEDBACK_FILE = "feedback.sqlite"
AUDIT_FILE = "audit.jsonl"
GRADIO_TEMP_ENV = "GRADIO_TEMP_DIR"

log = logging.getLogger(__name__)


def state_dir(settings: Settings | None = None) -> Path:
    """Where feedback and the audit log live: ``settings.ui_state_dir`` (see the module docstring)."""
    return Path((settings or Settings()).ui_state_dir).expanduser()


def launch_ui(settings: Settings, index: str | None, host: str, port: int, auth_file: Path | None) -> None:
    """Load the pipeline and serve the chat until interrupted.

    Args:
        settings: the loaded settings (models, index directory).
        index: index name (default: settings.index_name).
        host: bind address; anything but loopback requires users (auth_file or RAG_DX_UI_USERS).
        port: TCP port.
        auth_file: users file (`username:scrypt$...` lines, see `python -m ui.auth add-user`).

    Raises:
        ConfigError: a public host without users, a bad users file, an unwritable audit log.
        DeidUnavailableError: the de-identifier cannot load (the UI never runs without it).
    """
    from rag_dx.audit import AuditLog
    from rag_dx.diagnose import build_assistant
    from rag_dx.feedback import FeedbackStore
    from rag_dx.ingest.deid import Deidentifier

    from ui.app import build_app, launch_app
    from ui.auth import is_loopback, load_users
    from ui.monitor_tab import MonitorPanel

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ui.auth import USERS_ENV

    users = load_users(auth_file, env={USERS_ENV: settings.ui_users or ""})
    if not is_loopback(host) and not users:
        raise ConfigError(f"binding to {host} needs authentication: pass --auth-file FILE or set RAG_DX_UI_USERS "
                          "(create users with `python -m ui.auth add-user FILE USER`)")
    root = state_dir(settings)
    private_dir(root)
    audit = AuditLog(root / AUDIT_FILE)
    audit.check_writable()  # refuse to start rather than refuse every query
    store = FeedbackStore.open(root / FEEDBACK_FILE)
    deid = Deidentifier.load()
    assistant = build_assistant(settings, index)
    print(f"rag-dx: ready after a warm-up answer ({assistant.warm_up():.1f} s)", flush=True)
    with gradio_temp_dir(root):
        demo = build_app(assistant, feedback_store=store, audit_log=audit, deidentifier=deid,
                         monitor_panel=MonitorPanel.from_settings(settings, root / AUDIT_FILE, root / FEEDBACK_FILE))
        shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        print(f"rag-dx UI on http://{shown_host}:{port}  (index {assistant.versions.index}; "
              f"feedback and audit log in {root}; Ctrl-C to stop)", flush=True)
        launch_app(demo, host=host, port=port, users=users or None,
                   blocked_paths=[settings.index_dir, root, settings.cache_dir], quiet=True)


def private_dir(path: Path) -> Path:
    """mkdir -p `path` with mode 0700 (and make an existing one 0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@contextmanager
def gradio_temp_dir(root: Path) -> Iterator[Path]:
    """Point Gradio's temporary files (uploads, cached outputs) at a fresh 0700 directory inside the
    state dir instead of the world-readable /tmp/gradio, and remove it when the UI stops.

    Gradio reads GRADIO_TEMP_DIR when components and the server app are created, so both happen
    inside this block. The previous value is restored after.
    """
    path = private_dir(private_dir(root) / f"gradio-tmp-{os.getpid()}")
    previous = os.environ.get(GRADIO_TEMP_ENV)
    os.environ[GRADIO_TEMP_ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(GRADIO_TEMP_ENV, None)
        else:
            os.environ[GRADIO_TEMP_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def export_feedback(settings: Settings, out: Path, fmt: str = "csv") -> int:
    """Write the clinicians' confirmed (text, diagnosis) pairs to `out`; return how many.

    The file is a reports file: `rag-dx index build --name N --reports OUT` indexes it, and the
    fine-tune recipes read its `text` and `diagnosis` columns.
    """
    from rag_dx.feedback import FeedbackStore, export_training_pairs

    store = FeedbackStore(state_dir(settings) / FEEDBACK_FILE)
    return export_training_pairs(store, out, fmt)  # type: ignore[arg-type]
