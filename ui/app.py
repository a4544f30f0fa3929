"""The clinician's chat: `build_app(...)` returns a Gradio Blocks app, `launch_app(...)` serves it safely.

Nothing starts at import and there is no module-level state: each browser session keeps its case
in a `gr.State` (a `ui.service.CaseState`), and the one `ClinicianService` built per app holds
only shared, read-only things.

Example:
    >>> from rag_dx.settings import load_settings                                # doctest: +SKIP
    >>> from rag_dx.diagnose import build_assistant
    >>> from rag_dx.ingest.deid import Deidentifier
    >>> from rag_dx.feedback import FeedbackStore
    >>> from rag_dx.audit import AuditLog
    >>> demo = build_app(build_assistant(load_settings(), "demo"),
    ...                  feedback_store=FeedbackStore.open("feedback.sqlite"),
    ...                  audit_log=AuditLog("audit.jsonl"), deidentifier=Deidentifier.load())
    >>> launch_app(demo)          # http://127.0.0.1:7860, blocks until Ctrl-C

Hardening (see `launch_app`): loopback by default and auth required elsewhere, `share=False`, no
`allowed_paths` (and GRADIO_ALLOWED_PATHS refused), the working directory and the data
directories in `blocked_paths`, errors hidden from the browser, uploads capped, a bounded queue
with a concurrency limit, every event `api_visibility="private"`, monitoring, run history, MCP,
SSR and PWA off, strict CORS.
"""

# No `from __future__ import annotations` here: Gradio reads the handlers' annotations at runtime to
# find their `gr.Request` parameter, and string annotations naming a local import would hide it.
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_dx.audit import AuditLog
from rag_dx.errors import ConfigError
from rag_dx.feedback import FeedbackStore

from ui.auth import AuthGate, Authenticator, async_login_check, is_loopback
from ui.hardening import BodyLimit, install_log_filters, quiet_library_tracebacks
from ui.render import (
    DISCLAIMER,
    PANEL_CSS,
    differential_html,
    empty_panel_html,
    message_html,
    rationale_sentences,
    versions_markdown,
)
from ui.service import CaseState, ClinicianService, Diagnoser, Redactor, UserFacingError

if TYPE_CHECKING:
    import gradio as gr

    from ui.monitor_tab import MonitorPanel

__all__ = ["build_app", "launch_app"]

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_SIZE = "1mb"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
"""Request bodies over this are refused on every route (a turn is at most a few KB of JSON)."""

_HEADER = f"""
<div id="rdx-header" style="display:flex;align-items:baseline;gap:1rem;flex-wrap:wrap">
  <h2 style="margin:0">rag-dx</h2>
  <span style="color:var(--body-text-color-subdued)">differential diagnosis from your practice's reports and guidelines</span>
</div>
<div id="rdx-disclaimer" role="note" style="margin-top:0.4rem;padding:0.45rem 0.8rem;border-radius:8px;
  background:#e8f0fe;color:#174ea6;border-left:4px solid #1a73e8;font-size:0.92rem">
  <b>Decision support for a clinician, not a replacement.</b> {DISCLAIMER.split(". ", 1)[1]}
  Identifiers are redacted before anything is stored; do not enter more than the case needs.
</div>
"""


def _user(request: Any) -> str | None:
    return getattr(request, "username", None) if request is not None else None


@contextmanager
def _tabbed(demo: "gr.Blocks", monitor_panel: "MonitorPanel | None") -> Iterator[None]:
    """Lay the chat out alone, or, with a monitoring panel, as the "Case" tab beside the panel's tab.

    The panel's tab stays hidden unless the signed-in user is an administrator (`ui.monitor_tab`),
    so a clinician sees one tab; without a panel there is no tab bar at all.
    """
    if monitor_panel is None:
        yield
        return
    import gradio as gr

    with gr.Tabs(elem_id="rdx-tabs"):
        with gr.Tab("Case", id="case", elem_id="rdx-tab-case"):
            yield
        monitor_panel.build(demo)


def build_app(
    assistant: Diagnoser,
    *,
    feedback_store: FeedbackStore,
    audit_log: AuditLog,
    deidentifier: Redactor,
    title: str = "rag-dx",
    concurrency_limit: int = 1,
    max_queue: int = 16,
    max_turn_chars: int = 4000,
    max_case_chars: int = 12000,
    monitor_panel: "MonitorPanel | None" = None,
) -> "gr.Blocks":
    """Build the chat app around a loaded assistant. Launch it with `launch_app`.

    Args:
        assistant: a `rag_dx.diagnose.Assistant` (or anything with `diagnose(text) -> Differential`).
        feedback_store: where feedback goes (`FeedbackStore.open(path)`).
        audit_log: one record per query; a query whose record cannot be written is refused.
        deidentifier: `Deidentifier.load()`; every message is redacted before anything else.
        title: the browser tab's title.
        concurrency_limit: diagnoses computed at once (the models are CPU-bound: keep it small).
        max_queue: requests waiting beyond that; more are turned away at once ("queue full").
        max_turn_chars / max_case_chars: longer input is refused.
        monitor_panel: the administrators' monitoring panel (`ui.monitor_tab.MonitorPanel`); None = none.
    """
    import gradio as gr

    service = ClinicianService(assistant, feedback_store=feedback_store, audit_log=audit_log,
                               deidentifier=deidentifier, max_turn_chars=max_turn_chars,
                               max_case_chars=max_case_chars)

    with gr.Blocks(title=title, analytics_enabled=False, fill_width=True) as demo:
        case = gr.State(None)  # this session's CaseState
        gr.HTML(_HEADER, js_on_load=None, padding=False)
        with _tabbed(demo, monitor_panel):  # the chat, or the chat and an administrators' Monitoring tab
            with gr.Row(equal_height=False):
                with gr.Column(scale=4, min_width=340):
                    chat = gr.Chatbot(
                        label="Case", height=470, elem_id="rdx-chat", buttons=["copy"], feedback_options=None,
                        watermark="(rag-dx decision support: verify against the evidence and the patient)",
                        placeholder="Describe the case: age, sex, symptoms and their course, findings. "
                                    "Follow-ups (\"also has a rash\") refine the same case.",
                    )
                    msg = gr.Textbox(label="Case description or follow-up", lines=3, max_lines=10,
                                     max_length=max_turn_chars, elem_id="rdx-input", autofocus=True,
                                     placeholder="e.g. 34-year-old woman, throbbing one-sided headache with nausea "
                                                 "and light sensitivity for 6 hours…")
                    with gr.Row():
                        send = gr.Button("Send", variant="primary", elem_id="rdx-send", scale=3)
                        new = gr.Button("New case", variant="secondary", elem_id="rdx-new", scale=1)
                    notice = gr.Markdown("", elem_id="rdx-notice")
                with gr.Column(scale=6, min_width=440):
                    panel = gr.HTML(empty_panel_html(), css_template=PANEL_CSS, js_on_load=None,
                                    elem_id="rdx-panel", label="Differential")
                    rationale = gr.Markdown("", elem_id="rdx-rationale")
                    with gr.Group(visible=False, elem_id="rdx-feedback") as fb_group:
                        fb_dx = gr.Dropdown(label="Feedback: the correct diagnosis (pick from the differential or type it)",
                                            choices=[], value=None, allow_custom_value=True, elem_id="rdx-fb-dx")
                        with gr.Row():
                            fb_correct = gr.Button("Mark as correct diagnosis", size="sm", elem_id="rdx-fb-correct")
                            fb_wrong = gr.Button("Answer is wrong", size="sm", elem_id="rdx-fb-wrong")
                            fb_evidence = gr.Button("Evidence is wrong", size="sm", elem_id="rdx-fb-evidence")
                    fb_msg = gr.Markdown("", elem_id="rdx-fb-msg")
                    versions = gr.Markdown("", elem_id="rdx-versions")

        def on_send(message: str, state: CaseState | None, request: gr.Request) -> Iterator[dict]:
            try:
                yield from _on_send(message, state, request)
            except Exception as exc:  # noqa: BLE001 - the event boundary: nothing with case text escapes
                log.error("chat turn failed (%s); message withheld", type(exc).__name__)
                yield {notice: "**Not sent:** something went wrong; the error was logged without the case text.",
                       panel: message_html("Something went wrong; please try again.", kind="error")}

        def _on_send(message: str, state: CaseState | None, request: Any) -> Iterator[dict]:
            try:
                shown, turn = service.begin_turn(state, message)
            except UserFacingError as exc:
                yield {notice: f"**Not sent:** {exc}"}
                return
            yield {
                msg: "", notice: "", fb_msg: "",
                chat: [*shown.chat(), {"role": "assistant", "content": "_Searching similar reports and guidelines…_"}],
            }
            try:
                answer = service.answer(state, turn, user=_user(request))
            except UserFacingError as exc:
                yield {
                    chat: [*shown.chat(), {"role": "assistant",
                                           "content": f"**Refused:** {exc} (This message was not added to the case.)"}],
                    panel: message_html(str(exc), kind="error"),
                    rationale: "", versions: "", fb_group: gr.update(visible=False),
                }
                return
            result = answer.result
            # The differential first; the rationale follows.
            yield {
                case: answer.state, chat: answer.state.chat(), panel: differential_html(result),
                rationale: "<small>_writing a short rationale…_</small>", versions: versions_markdown(result),
                fb_group: gr.update(visible=True),
                fb_dx: gr.update(choices=list(answer.state.choices), value=None),
            }
            text = "**Rationale.** "
            for sentence in rationale_sentences(result):
                text += sentence + " "
                yield {rationale: text}

        def on_new() -> dict:
            return {
                case: None, chat: [], msg: "", notice: "", panel: empty_panel_html(), rationale: "",
                versions: "", fb_msg: "", fb_group: gr.update(visible=False),
                fb_dx: gr.update(choices=[], value=None),
            }

        def feedback(kind: str):
            def handler(diagnosis: str | None, state: CaseState | None, request: gr.Request) -> str:
                try:
                    return "**Saved.** " + service.give_feedback(state, kind, diagnosis, user=_user(request))
                except UserFacingError as exc:
                    return f"**Not saved:** {exc}"
                except Exception as exc:  # noqa: BLE001 - the event boundary (see on_send)
                    log.error("feedback failed (%s); message withheld", type(exc).__name__)
                    return "**Not saved:** something went wrong; the error was logged without the case text."
            handler.__name__ = f"feedback_{kind}"
            return handler

        send_outputs = [case, chat, msg, notice, panel, rationale, versions, fb_group, fb_dx, fb_msg]
        common = dict(api_visibility="private", show_progress="hidden")
        ev_click = send.click(on_send, [msg, case], send_outputs, concurrency_limit=concurrency_limit,
                              concurrency_id="diagnose", **common)
        ev_submit = msg.submit(on_send, [msg, case], send_outputs, concurrency_limit=concurrency_limit,
                               concurrency_id="diagnose", **common)
        new.click(on_new, None, send_outputs, cancels=[ev_click, ev_submit], queue=False, **common)
        chat.clear(on_new, None, send_outputs, cancels=[ev_click, ev_submit], queue=False, **common)  # the bin icon
        for button, kind in ((fb_correct, "correct"), (fb_wrong, "wrong"), (fb_evidence, "evidence_wrong")):
            button.click(feedback(kind), [fb_dx, case], fb_msg, concurrency_limit=4, concurrency_id="feedback",
                         **common)

    demo.queue(max_size=max_queue, default_concurrency_limit=concurrency_limit, api_open=False)
    demo.rdx_service = service  # for tests and callers that want the same service
    return demo


def launch_app(
    demo: "gr.Blocks",
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    users: Mapping[str, str] | None = None,
    prevent_thread_lock: bool = False,
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
    blocked_paths: Sequence[str | Path] = (),
    quiet: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> tuple[Any, str]:
    """Serve `demo` with the hardened settings; return (FastAPI app, local URL).

    Args:
        host: bind address. Anything but a loopback address needs `users`.
        port: TCP port.
        users: username -> scrypt hash (`ui.auth.load_users`). When given, Gradio's login is on and
            `ui.auth.AuthGate` keeps every other route behind it.
        prevent_thread_lock: return at once (tests; call `demo.close()` after).
        max_file_size: upload cap (the UI takes no uploads; this bounds what Gradio's upload route accepts).
        blocked_paths: more directories Gradio must never serve (the working directory is always blocked).
        max_body_bytes: request bodies over this are refused (413) on every route but the upload
            route, which takes `max_file_size` plus multipart overhead.
        host: an IPv6 literal ("::1") is bracketed for Gradio's URLs.

    Logging: Gradio's, uvicorn's, starlette's and httpx's log records lose their arguments,
    exception messages and tracebacks, and Gradio's printed tracebacks lose the exception message
    (`ui.hardening`): those can quote a request's raw case text.

    Raises:
        ConfigError: a non-loopback host without users, or GRADIO_ALLOWED_PATHS set.
    """
    from starlette.middleware import Middleware

    if not is_loopback(host) and not users:
        raise ConfigError(f"binding to {host} exposes the UI beyond this machine: give users "
                          "(--auth-file or RAG_DX_UI_USERS), or bind 127.0.0.1")
    if os.environ.get("GRADIO_ALLOWED_PATHS", "").strip():
        raise ConfigError("GRADIO_ALLOWED_PATHS is set; rag-dx serves no files, unset it")
    auth = async_login_check(Authenticator(users)) if users else None
    app_kwargs: dict[str, Any] = {"openapi_url": None, "docs_url": None, "redoc_url": None}
    upload_cap = _file_size_bytes(max_file_size) + 64 * 1024
    middleware = [Middleware(BodyLimit, max_bytes=max_body_bytes,
                             limits={"/gradio_api/upload": upload_cap, "/upload": upload_cap})]
    if auth is not None:
        middleware.append(Middleware(AuthGate))
    app_kwargs["middleware"] = middleware
    install_log_filters()
    quiet_library_tracebacks()
    blocked = [str(Path.cwd().resolve())] + [str(Path(p).resolve()) for p in blocked_paths]
    server_name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    app, local_url, _ = demo.launch(
        share=False,
        server_name=server_name,
        server_port=port,
        auth=auth,
        auth_message="rag-dx: sign in with your practice account.",
        show_error=False,
        prevent_thread_lock=prevent_thread_lock,
        max_file_size=max_file_size,
        allowed_paths=None,
        blocked_paths=blocked,
        app_kwargs=app_kwargs,
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        run_history=False,
        pwa=False,
        footer_links=[],
        strict_cors=True,
        favicon_path=None,
        inbrowser=False,
        inline=False,
        quiet=quiet,
    )
    install_log_filters()  # loggers the launch created
    if demo.allowed_paths:  # pragma: no cover - guarded above; belt and braces
        demo.close()
        raise ConfigError("Gradio was given allowed_paths; refusing to serve")
    return app, local_url


def _file_size_bytes(size: str | int) -> int:
    """Gradio's max_file_size ("1mb", "500kb", 1048576) in bytes."""
    if isinstance(size, int):
        return size
    text = size.strip().lower()
    for unit, factor in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024), ("b", 1)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text))
