"""The served app against loopback: no file escapes, the queue turns excess away, auth guards every route."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag_dx.audit import AuditLog
from rag_dx.feedback import FeedbackStore
from tests.helpers import PassThroughDeid, build_fixture_assistant
from ui.app import build_app
from ui.auth import hash_password
from ui.testing import serving

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fixture_assistant(tmp_path_factory, fake_encoder):
    return build_fixture_assistant(tmp_path_factory.mktemp("ui-http-idx"), fake_encoder)


def _app(assistant, tmp_path, **kwargs):
    return build_app(assistant, feedback_store=FeedbackStore.open(tmp_path / "fb.sqlite"),
                     audit_log=AuditLog(tmp_path / "audit.jsonl"), deidentifier=PassThroughDeid(), **kwargs)


@pytest.fixture(scope="module")
def served(fixture_assistant, tmp_path_factory):
    demo = _app(fixture_assistant, tmp_path_factory.mktemp("ui-http"))
    with serving(demo) as url:
        yield demo, url


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (httpx would normalize dot segments)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


SECRETS = {
    "/etc/passwd": b"root:",
    "pyproject.toml": b"[build-system]",
}
TRAVERSALS = [
    "/file=../../etc/passwd",
    "/file=/etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/gradio_api/file=....//....//....//etc/passwd",
    "/gradio_api/file=..\\..\\..\\etc\\passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
    "/gradio_api/file=//etc/passwd",
    "/gradio_api/file=file:///etc/passwd",
    "/gradio_api/file/../../../../etc/passwd",
    "/gradio_api/file/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/assets/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/svelte/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file=pyproject.toml",
    "/gradio_api/file=./pyproject.toml",
    f"/gradio_api/file={ROOT}/pyproject.toml",
    f"/gradio_api/file={urllib.parse.quote(str(ROOT / 'pyproject.toml'), safe='')}",
    "/file=pyproject.toml",
    "/gradio_api/file=rag_dx/settings.py",
    "/gradio_api/file=indexes",
    "/gradio_api/file=.venv/pyvenv.cfg",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_and_working_directory_files_are_refused(served, path):
    _, url = served
    status, body = raw_get(url, path)
    assert status != 200 or not any(marker in body for marker in SECRETS.values()), (path, status)
    assert b"root:x:0" not in body and b"[build-system]" not in body and b"pydantic" not in body


def test_ssrf_through_file_and_proxy_routes_is_refused(served):
    _, url = served
    target = f"{url}/config"
    for path in (f"/gradio_api/file={target}", f"/gradio_api/proxy={target}",
                 "/gradio_api/file=http://169.254.169.254/latest/meta-data/",
                 "/gradio_api/proxy=http://169.254.169.254/latest/meta-data/"):
        status, body = raw_get(url, path)
        assert status != 200 and b'"components"' not in body, (path, status)


def test_hardening_flags_and_quiet_routes(served):
    demo, url = served
    assert demo.share is False and demo.show_error is False and demo.allowed_paths == []
    assert demo.max_file_size == 1024 * 1024 and demo.enable_monitoring is False
    assert str(ROOT) in demo.blocked_paths or str(Path.cwd().resolve()) in demo.blocked_paths
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/monitoring", "/gradio_api/runs", "/gradio_api/mcp/sse"):
            assert client.get(path).status_code != 200, path
        schema = client.get("/gradio_api/openapi.json").text  # Gradio's own routes only
        assert "on_send" not in schema and "feedback" not in schema
        info = client.get("/gradio_api/info").json()
        assert info["named_endpoints"] == {} and info["unnamed_endpoints"] == {}  # every event is private
        cross = client.get("/config", headers={"Origin": "https://evil.example"})
        assert cross.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")


def test_uploads_are_capped(served):
    _, url = served
    files = {"files": ("big.txt", b"x" * (2 * 1024 * 1024), "text/plain")}
    resp = httpx.post(f"{url}/gradio_api/upload", files=files, timeout=20)
    assert resp.status_code == 413


class Blocking:
    """An assistant that holds every diagnosis until released, so the queue fills up."""

    def __init__(self, inner):
        self.inner, self.release = inner, threading.Event()

    def diagnose(self, text):
        self.release.wait(30)
        return self.inner.diagnose(text)


def test_the_queue_turns_excess_requests_away_promptly(fixture_assistant, tmp_path):
    slow = Blocking(fixture_assistant)
    demo = _app(slow, tmp_path, concurrency_limit=1, max_queue=2)
    fn_index = next(i for i, fn in demo.fns.items() if fn.name == "on_send")
    try:
        with serving(demo) as url:
            def join(_):
                t0 = time.perf_counter()
                resp = httpx.post(f"{url}/gradio_api/queue/join", timeout=10, json={
                    "data": ["Throbbing headache with nausea", None], "fn_index": fn_index,
                    "session_hash": uuid.uuid4().hex[:11], "event_data": None})
                return resp.status_code, time.perf_counter() - t0, resp.text

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(join, range(8)))
            codes = [code for code, _, _ in results]
            refused = [(dt, text) for code, dt, text in results if code == 503]
            assert codes.count(200) <= 3 and len(refused) >= 5, codes
            assert all(dt < 2.0 for dt, _ in refused) and all("Queue is full" in t for _, t in refused)
    finally:
        slow.release.set()


# -- authentication --------------------------------------------------------------------------------

USER, PASSWORD = "dr_a", "correct-horse-battery"
PUBLIC = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/theme.css", "/manifest.json",
          "/config", "/config/", "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/",
          "/gradio_api/startup-events"}


@pytest.fixture(scope="module")
def served_with_auth(fixture_assistant, tmp_path_factory):
    demo = _app(fixture_assistant, tmp_path_factory.mktemp("ui-auth"))
    with serving(demo, users={USER: hash_password(PASSWORD)}) as url:
        yield demo, url


def test_wrong_password_is_refused_and_right_one_opens_the_app(served_with_auth):
    _, url = served_with_auth
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200 and "auth_required" in page.text and "rdx-input" not in page.text
        assert client.get("/config").status_code == 401
        t0 = time.perf_counter()
        bad = client.post("/login", data={"username": USER, "password": "wrong-password"})
        assert bad.status_code == 400 and "set-cookie" not in bad.headers
        assert time.perf_counter() - t0 >= 0.5  # failed logins are slowed down
        unknown = client.post("/login", data={"username": "mallory", "password": PASSWORD})
        assert unknown.status_code == 400
        assert client.get("/config").status_code == 401
        good = client.post("/login", data={"username": USER, "password": PASSWORD})
        assert good.status_code == 200 and good.json() == {"success": True}
        config = client.get("/config")
        assert config.status_code == 200 and "rdx-input" in config.text


def _concrete(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", "x", path)


def _routes(routes) -> list[tuple[str, list[str]]]:
    out = []
    for r in routes:
        if getattr(r, "path", None) is not None:
            out.append((r.path, sorted(getattr(r, "methods", None) or {"GET"})))
        elif getattr(r, "original_router", None) is not None:  # FastAPI's lazily included routers
            out.extend(_routes(r.original_router.routes))
    return out


def test_every_route_is_behind_auth(served_with_auth):
    demo, url = served_with_auth
    routes = _routes(demo.server_app.routes)
    assert len(routes) > 30
    checked = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for path, methods in routes:
            concrete = _concrete(path)
            if path in PUBLIC or concrete.startswith(("/assets/", "/static/", "/svelte/")):
                continue
            for method in methods:
                if method in ("HEAD", "OPTIONS"):
                    continue
                resp = client.request(method, concrete, json={} if method == "POST" else None)
                assert resp.status_code in (401, 403, 404, 405), (method, path, resp.status_code)
                assert resp.status_code != 404 or path == "/{path:path}", (method, path)
                checked.append(path)
    for must in ("/gradio_api/queue/join", "/gradio_api/upload", "/gradio_api/heartbeat/{session_hash}",
                 "/gradio_api/reset", "/gradio_api/cancel", "/gradio_api/file={path_or_url:path}"):
        assert must in checked, must


# ------------------------------------------------------------------------------------------
# no case text in logs, bounded bodies, IPv6 loopback, private temp files (issue 14)
# ------------------------------------------------------------------------------------------

CASE_SECRET = "Zebulon Quackenbush"  # stands in for raw, not yet de-identified case text


def _chat_fn(url: str) -> int:
    deps = httpx.get(f"{url}/config", timeout=10).json()["dependencies"]
    return next(d["id"] for d in deps if len(d.get("inputs", [])) == 2)  # on_send: (message, case)


def test_a_malformed_queue_request_logs_no_case_text(served, capfd, caplog):
    import logging

    _, url = served
    caplog.set_level(logging.DEBUG)
    session = uuid.uuid4().hex
    body = {"data": [f"{CASE_SECRET} has a headache"], "fn_index": _chat_fn(url), "session_hash": session,
            "trigger_id": None, "event_data": None}  # one input where the handler takes two
    assert httpx.post(f"{url}/gradio_api/queue/join", json=body, timeout=10).status_code == 200
    events = []
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=30) as stream:
        for line in stream.iter_lines():
            events.append(line)
            if "process_completed" in line:
                break
    assert any('"success":false' in e for e in events)  # Gradio did fail on it
    out, err = capfd.readouterr()
    assert CASE_SECRET not in out and CASE_SECRET not in err and CASE_SECRET not in caplog.text
    assert CASE_SECRET not in "".join(events)


@pytest.mark.parametrize("path", ["/gradio_api/queue/join", "/gradio_api/run/predict", "/config", "/",
                                  "/gradio_api/upload"])
def test_request_bodies_are_capped_on_every_route(served, path, capfd):
    _, url = served
    big = b'{"data": ["' + CASE_SECRET.encode() + b" " + b"A" * (30 * 1024 * 1024) + b'"]}'
    resp = httpx.post(f"{url}{path}", content=big, headers={"content-type": "application/json"}, timeout=30)
    assert resp.status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"data": ["'
        for _ in range(64):
            yield b"B" * (64 * 1024)

    resp = httpx.post(f"{url}{path}", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert resp.status_code == 413
    out, err = capfd.readouterr()
    assert CASE_SECRET not in out and CASE_SECRET not in err


def test_small_requests_still_work(served):
    _, url = served
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/config").status_code == 200
        assert client.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000, "text/plain")}).status_code == 200


def test_ipv6_loopback_serves(fixture_assistant, tmp_path):
    import socket

    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    demo = _app(fixture_assistant, tmp_path)
    with serving(demo, host="::1") as url:
        assert url.startswith("http://[::1]:")
        assert httpx.get(f"{url}/config", timeout=10).status_code == 200


def test_library_log_records_lose_arguments_and_exception_text(caplog):
    import logging

    from ui.hardening import install_log_filters

    install_log_filters()
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError(f"Received inputs: [{CASE_SECRET}]")
    except ValueError:
        logging.getLogger("gradio.queueing").exception("event failed for %s", CASE_SECRET)
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=True)
    logging.getLogger("httpx").info("request %s", CASE_SECRET)
    assert CASE_SECRET not in caplog.text
    assert "ValueError" in caplog.text  # the type stays, for whoever debugs it


def test_gradio_temp_files_live_in_the_state_dir_and_are_removed(tmp_path, monkeypatch):
    import os

    from ui.commands import gradio_temp_dir

    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    root = tmp_path / "state"
    with gradio_temp_dir(root) as tmp:
        assert os.environ["GRADIO_TEMP_DIR"] == str(tmp) and tmp.parent == root
        assert (tmp.stat().st_mode & 0o777) == 0o700 and (root.stat().st_mode & 0o777) == 0o700
        (tmp / "upload.txt").write_text("x")
    assert not tmp.exists() and "GRADIO_TEMP_DIR" not in os.environ


def test_an_unexpected_error_in_a_turn_is_caught_at_the_event_boundary(fixture_assistant, tmp_path, capfd, caplog):
    import logging

    class Leaky:  # a bug whose exception message quotes the raw message
        def find(self, text):
            def spans():
                raise RuntimeError(f"cannot handle {text} here")
                yield  # a generator: it fails when read, outside the de-identifier's own guard

            return spans()

        def redact(self, text):
            return text

    caplog.set_level(logging.DEBUG)
    demo = build_app(fixture_assistant, feedback_store=FeedbackStore.open(tmp_path / "fb.sqlite"),
                     audit_log=AuditLog(tmp_path / "audit.jsonl"), deidentifier=Leaky())
    with serving(demo) as url:
        session = uuid.uuid4().hex
        body = {"data": [f"{CASE_SECRET} has a headache", None], "fn_index": _chat_fn(url), "session_hash": session,
                "trigger_id": None, "event_data": None}
        assert httpx.post(f"{url}/gradio_api/queue/join", json=body, timeout=10).status_code == 200
        events = []
        with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session},
                          timeout=30) as stream:
            for line in stream.iter_lines():
                events.append(line)
                if "process_completed" in line:
                    break
    assert any('"success":true' in e for e in events) and "something went wrong" in "".join(events)
    out, err = capfd.readouterr()
    assert CASE_SECRET not in out + err + caplog.text + "".join(events)
    assert "RuntimeError" in caplog.text
