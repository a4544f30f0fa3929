"""The HTTP API through httpx (FastAPI's TestClient): auth, the same JSON as `diagnose --json`,
de-identification before diagnosis, one audit record per query, feedback, caps and errors that
never quote the case text. Fake encoder, keyword scorer: no real model loads."""

from __future__ import annotations

import json
import logging
import re

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from rag_dx.audit import AuditLog, sha256_hex, verify  # noqa: E402
from rag_dx.commands.serve import build_server_app, ui_guards  # noqa: E402
from rag_dx.errors import ConfigError  # noqa: E402
from rag_dx.feedback import FeedbackStore, canonical_json  # noqa: E402
from rag_dx.serve.app import create_app  # noqa: E402
from tests.helpers import build_fixture_assistant  # noqa: E402
from ui.auth import hash_password  # noqa: E402

SECRET_A = "a" * 20 + "-secret-A"
SECRET_B = "b" * 20 + "-secret-B"
TOKEN_A = {"Authorization": f"Bearer dr_a:{SECRET_A}"}
TOKEN_B = {"Authorization": f"Bearer dr_b:{SECRET_B}"}
MARKER = "Eberhardt"
MIGRAINE = f"Mr {MARKER} has a throbbing one-sided headache with nausea and sensitivity to light."


class NameDeid:
    """Finds the one surname the tests use, like presidio would (spans, as the UI reads them)."""

    def redact(self, text):
        return text.replace(MARKER, "<PERSON>")

    def find(self, text):
        return [("PERSON", m.start(), m.end()) for m in re.finditer(MARKER, text)]


class Recording:
    """The assistant, remembering every text it was asked about."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def diagnose(self, text, **kwargs):
        self.seen.append(text)
        return self.inner.diagnose(text, **kwargs)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, fake_encoder):
    return build_fixture_assistant(tmp_path_factory.mktemp("serve-idx"), fake_encoder)


@pytest.fixture()
def served(tmp_path, assistant):
    recording = Recording(assistant)
    audit = AuditLog(tmp_path / "audit.jsonl")
    store = FeedbackStore.open(tmp_path / "feedback.sqlite")
    guards = ui_guards(deidentifier=NameDeid(), audit_log=audit, feedback_store=store,
                       users={"dr_a": hash_password(SECRET_A), "dr_b": hash_password(SECRET_B)})
    settings = assistant.settings.model_copy(update={"index_name": "fx"})
    app = create_app(settings, lambda name: recording if name is None else assistant, guards=guards)
    with TestClient(app) as client:
        yield client, recording, audit, store


def test_every_route_needs_a_valid_token(served):
    client = served[0]
    for method, path in (("get", "/v1/health"), ("get", "/v1/indexes"), ("post", "/v1/diagnose"),
                         ("post", "/v1/feedback")):
        for headers in ({}, {"Authorization": f"Bearer dr_a:{'x' * 20}"}, {"Authorization": "Basic abc"}):
            r = getattr(client, method)(path, headers=headers, **({"json": {"text": MIGRAINE}} if method == "post" else {}))
            assert r.status_code == 401, (path, headers)
            assert r.headers["www-authenticate"] == "Bearer" and MARKER not in r.text
    assert client.get("/v1/health", headers=TOKEN_A).status_code == 200


def test_diagnose_returns_the_cli_json_and_audits_the_query(served):
    client, recording, audit, _ = served
    r = client.post("/v1/diagnose", json={"text": MIGRAINE}, headers=TOKEN_A)
    assert r.status_code == 200, r.text
    body = r.json()
    # the de-identified text reached the pipeline; the raw name never did
    assert recording.seen == [MIGRAINE.replace(MARKER, "<PERSON>")]
    expected = json.loads(recording.inner.diagnose(recording.seen[0]).model_dump_json())
    for d in (body, expected):
        d.pop("timings_ms")
    assert body == expected and body["differential"][0]["diagnosis"] == "Migraine"
    query_id = r.headers["x-query-id"]
    (line,) = audit.path.read_text().splitlines()
    rec = json.loads(line)
    assert rec["event"] == "query" and rec["query_id"] == query_id and rec["user"] == "dr_a"
    assert rec["versions"]["index"] == "fx/v0001"
    assert MARKER not in audit.path.read_text() and verify(audit.path).ok
    assert rec["output_sha256"] == sha256_hex(canonical_json(json.loads(r.text)))


def test_k_mode_and_index_options(served):
    client = served[0]
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "k": 1}, headers=TOKEN_A)
    assert r.status_code == 200 and len(r.json()["differential"]) == 1
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "mode": "retrieval", "index": "fx"}, headers=TOKEN_A)
    assert r.status_code == 200 and r.json()["ranking"] == "similarity vote"
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "mode": "generator",
                                          "candidates": ["Migraine", "Psoriasis"]}, headers=TOKEN_A)
    assert r.status_code == 200 and r.json()["ranking"] == "generator"
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "mode": "generator"}, headers=TOKEN_A)
    assert r.status_code == 422 and "candidates" in r.json()["detail"]
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "index": "nope"}, headers=TOKEN_A)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = client.post("/v1/diagnose", json={"text": MIGRAINE, "index": "../etc"}, headers=TOKEN_A)
    assert r.status_code == 422


def test_errors_and_logs_never_quote_the_case(served, caplog):
    client, _, audit, _ = served
    caplog.set_level(logging.DEBUG)
    cases = [
        ({"text": MIGRAINE * 200}, 413),                       # over the text cap, under the body cap
        ({"text": MIGRAINE, "k": 0}, 422),                      # invalid field beside the text
        ({"text": MIGRAINE, "surprise": MIGRAINE}, 422),        # unknown field holding text
        ({"text": "   "}, 422),                                 # empty after stripping
        ({"text": MIGRAINE * 2000}, 413),                       # over the body cap (BodyLimit)
    ]
    for body, status in cases:
        r = client.post("/v1/diagnose", json=body, headers=TOKEN_A)
        assert r.status_code == status, (r.status_code, r.text[:200])
        assert MARKER not in r.text and "headache" not in r.text
    r = client.post("/v1/diagnose", content=b'{"text": "' + MIGRAINE.encode() + b'"', headers={**TOKEN_A,
                    "content-type": "application/json"})
    assert r.status_code == 422 and MARKER not in r.text and "headache" not in r.text
    assert MARKER not in caplog.text and "headache" not in caplog.text
    assert "headache" not in (audit.path.read_text() if audit.path.exists() else "")


def test_feedback_on_an_answer_is_stored_deidentified_and_only_for_its_user(served):
    client, _, audit, store = served
    qid = client.post("/v1/diagnose", json={"text": MIGRAINE}, headers=TOKEN_A).headers["x-query-id"]
    r = client.post("/v1/feedback", json={"query_id": qid, "kind": "correct", "diagnosis": "Migraine"}, headers=TOKEN_A)
    assert r.status_code == 200 and r.json()["stored"] is True
    (rec,) = store.records(query_id=qid)
    assert rec.diagnosis == "Migraine" and MARKER not in rec.case_text and "<PERSON>" in rec.case_text
    assert [json.loads(x)["event"] for x in audit.path.read_text().splitlines()] == ["query", "feedback"]
    r = client.post("/v1/feedback", json={"query_id": qid, "kind": "wrong"}, headers=TOKEN_B)
    assert r.status_code == 404
    r = client.post("/v1/feedback", json={"query_id": "0" * 32, "kind": "wrong"}, headers=TOKEN_A)
    assert r.status_code == 404
    r = client.post("/v1/feedback", json={"query_id": qid, "kind": "correct"}, headers=TOKEN_A)
    assert r.status_code == 422


def test_health_indexes_and_openapi(served):
    client = served[0]
    h = client.get("/v1/health", headers=TOKEN_A).json()
    assert h["index"] == "fx" and h["version"] == "fx/v0001" and h["auth"] is True
    assert h["versions"]["encoder"].startswith("fake-bow@") and h["generator_backend"] == "hf"
    assert h["ranking"]
    idx = client.get("/v1/indexes", headers=TOKEN_A).json()["indexes"]
    assert [(i["name"], i["current"], i["default"]) for i in idx] == [("fx", "v0001", True)]
    spec = client.get("/openapi.json").json()
    assert {"/v1/diagnose", "/v1/feedback", "/v1/indexes", "/v1/health"} <= set(spec["paths"])
    ok = spec["paths"]["/v1/diagnose"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/Differential") and "DiagnoseRequest" in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_no_auth_off_loopback_is_refused(tmp_path):
    from rag_dx.settings import Settings

    with pytest.raises(ConfigError, match="bearer tokens"):
        build_server_app(Settings(index_dir=tmp_path, ui_state_dir=tmp_path / "state"), None,
                         host="0.0.0.0", auth_file=None)


def test_api_token_add_writes_a_hash_and_prints_the_token_once(tmp_path):
    from typer.testing import CliRunner

    from rag_dx.cli import app
    from rag_dx.serve.auth import BearerAuth
    from ui.auth import Authenticator, load_users

    result = CliRunner().invoke(app, ["api-token", "add", str(tmp_path / "tokens"), "ehr-bot"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    text = (tmp_path / "tokens").read_text()
    assert token.split(":", 1)[1] not in text and text.startswith("ehr-bot:scrypt$")
    auth = BearerAuth(Authenticator(load_users(tmp_path / "tokens")))
    assert auth.user(f"Bearer {token}") == "ehr-bot" and auth.user(f"Bearer {token}x") is None
