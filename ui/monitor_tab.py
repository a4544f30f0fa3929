"""The administrators' Monitoring tab in the chat UI: the `rag-dx monitor` report, on request.

Who is an administrator: a signed-in user named in settings' ``monitor.admin_users``
(``RAG_DX_MONITOR__ADMIN_USERS='["dr_a"]'``); a UI without login serves everyone as ``local``,
which sees the tab only when ``local`` is listed. The tab is hidden from everyone else, and
its refresh handler checks the user again on the server (hiding is not access control).

It shows what `rag-dx monitor` writes (warnings first, the figures, the plots inline) computed
from the same audit log and feedback store the UI writes; no case text is read into it.
"""

# No `from __future__ import annotations`: Gradio reads the handlers' annotations at runtime to find
# their `gr.Request` parameter (as in ui/app.py).
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_dx.settings import MonitorSettings, Settings

from ui.service import ANONYMOUS_USER

__all__ = ["MonitorPanel"]

log = logging.getLogger(__name__)

NOT_ADMIN = "<p>Monitoring is shown to administrators only.</p>"


@dataclass(frozen=True)
class MonitorPanel:
    """What the panel reads and who may see it.

    Attributes:
        settings: thresholds, window and the administrators.
        audit_path / feedback_path: the UI's audit log and feedback store.
        index_dir: where index versions (and their similarity profiles) live, for drift.
    """

    settings: MonitorSettings
    audit_path: Path
    feedback_path: Path
    index_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings, audit_path: Path, feedback_path: Path) -> "MonitorPanel":
        return cls(settings=settings.monitor, audit_path=Path(audit_path), feedback_path=Path(feedback_path),
                   index_dir=Path(settings.index_dir))

    def is_admin(self, user: str | None) -> bool:
        return (user or ANONYMOUS_USER) in self.settings.admin_users

    def report_html(self, user: str | None) -> str:
        """The report as an HTML fragment for `user`, or a refusal for anyone but an administrator."""
        if not self.is_admin(user):
            return NOT_ADMIN
        from rag_dx.monitor_report import render_pngs, report_body
        from rag_dx.monitor_sources import monitor_summary

        summary = monitor_summary(self.audit_path, self.feedback_path, self.index_dir, self.settings)
        return report_body(summary, render_pngs(summary, drift_psi_warn=self.settings.drift_psi_warn))

    def build(self, demo: Any) -> None:
        """Add the (hidden) Monitoring tab and its events; call inside a `gr.Tabs()` of `demo` (`ui.app`)."""
        import gradio as gr

        from rag_dx.errors import RagDxError

        with gr.Tab("Monitoring", id="monitor", visible=False, elem_id="rdx-monitor") as box:
            refresh = gr.Button("Show / refresh the monitoring report", size="sm", elem_id="rdx-monitor-refresh")
            report = gr.HTML("", js_on_load=None, padding=False, elem_id="rdx-monitor-report")

        def show(request: gr.Request) -> Any:
            return gr.update(visible=self.is_admin(getattr(request, "username", None)))

        def on_refresh(request: gr.Request) -> str:
            try:
                return self.report_html(getattr(request, "username", None))
            except RagDxError as exc:  # messages name files and fields, never case text
                return f"<p role='alert'><b>The report could not be computed:</b> {_escape(str(exc))}</p>"
            except Exception as exc:  # noqa: BLE001 - the event boundary: the browser sees no internals
                log.error("monitoring report failed (%s)", type(exc).__name__)
                return "<p role='alert'>The report could not be computed; the error was logged.</p>"

        demo.load(show, None, box, api_visibility="private", queue=False, show_progress="hidden")
        refresh.click(on_refresh, None, report, api_visibility="private", concurrency_limit=1,
                      concurrency_id="monitor", show_progress="minimal")


def _escape(text: str) -> str:
    import html

    return html.escape(text)
