"""The `openai` generator backend: parsing, errors and settings (fast, a mock transport), and the
scores of an in-process OpenAI-compatible server running the bundled model equal the `hf`
backend's (slow: loads the bundled generator)."""

# no `from __future__ import annotations`: the fake server's FastAPI routes are read at runtime

import json

import httpx
import numpy as np
import pytest

from rag_dx.errors import ConfigError, ModelUnavailableError
from rag_dx.generate_openai import OpenAIGenerator, candidate_scores_from_choices
from rag_dx.models import prepared_generator_dir
from rag_dx.settings import Settings, load_settings

SECRET_CASE = "Mrs Eberhardt, 54, throbbing headache with nausea"


def test_settings_select_and_validate_the_backend():
    assert Settings().generator_backend == "hf"
    with pytest.raises(ConfigError, match="generator_url"):
        load_settings(generator_backend="openai")
    with pytest.raises(ConfigError, match="http"):
        load_settings(generator_backend="openai", generator_url="gpu-box:8001")
    s = load_settings(generator_backend="openai", generator_url="http://127.0.0.1:8001/v1", generator_model="m")
    assert (s.generator_backend, s.generator_model) == ("openai", "m")
    with pytest.raises(ConfigError):
        load_settings(generator_backend="vllm")


def test_scores_from_echo_and_from_prompt_logprobs():
    prompt, cands = [1, 2, 3], [[7, 0], [8]]
    echo = [{"index": 0, "logprobs": {"token_logprobs": [None, -1.0, -1.0, -0.5, -1.5, -9.0]}},
            {"index": 1, "logprobs": {"token_logprobs": [None, -1.0, -1.0, -2.0, -9.0]}}]
    np.testing.assert_allclose(candidate_scores_from_choices(echo, 3, cands, prompt), [-1.0, -2.0])
    vllm = [{"index": 1, "prompt_logprobs": [None, {"2": {"logprob": -1.0}}, {"3": {"logprob": -1.0}},
                                             {"8": {"logprob": -2.0, "rank": 1}, "9": {"logprob": -0.1}}]},
            {"index": 0, "prompt_logprobs": [None, {"2": {"logprob": -1.0}}, {"3": {"logprob": -1.0}},
                                             {"7": {"logprob": -0.5}}, {"0": {"logprob": -1.5}}]}]
    np.testing.assert_allclose(candidate_scores_from_choices(vllm, 3, cands, prompt), [-1.0, -2.0])
    with pytest.raises(ModelUnavailableError, match="do not cover"):
        candidate_scores_from_choices(echo[:1] + [{"index": 1, "logprobs": {"token_logprobs": [None, -1.0]}}],
                                      3, cands, prompt)


@pytest.fixture(scope="module")
def tokenizer_dir(model_cache):
    path = prepared_generator_dir(model_cache)
    if not (path / "tokenizer_config.json").is_file():
        pytest.skip("the bundled generator is not prepared (rag-dx models prepare)")
    return path


def test_requests_carry_token_ids_and_errors_never_quote_the_prompt(tokenizer_dir, model_cache):
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "served-7b"}]})
        body = json.loads(request.content)
        seen.append(body)
        if len(seen) > 1:
            return httpx.Response(500, json={"error": f"cannot process {body['prompt']}"})
        choices = [{"index": i, "logprobs": {"token_logprobs": [None] + [-0.25] * (len(p) - 1) + [-3.0]}}
                   for i, p in enumerate(body["prompt"])]
        return httpx.Response(200, json={"choices": choices})

    gen = OpenAIGenerator.connect("http://server.invalid/v1", tokenizer_dir=None, cache_dir=model_cache,
                                  transport=httpx.MockTransport(handler))
    assert gen.served_model == "served-7b" and gen.name == "openai:served-7b" and len(gen.fingerprint) == 64
    prompt = gen.build_prompt(SECRET_CASE, [], evidence_chars=300)
    np.testing.assert_allclose(gen.score(prompt, ["Migraine", "Tension-type headache"]), [-0.25, -0.25])
    body = seen[0]
    assert body["model"] == "served-7b" and body["echo"] is True and body["max_tokens"] == 1
    assert all(isinstance(t, int) for seq in body["prompt"] for t in seq)  # token ids, never text
    with pytest.raises(ModelUnavailableError) as err:
        gen.score(prompt, ["Migraine"])
    assert "HTTP 500" in str(err.value) and "Eberhardt" not in str(err.value)


def _fake_openai_server(model, tokenizer):
    """An OpenAI-compatible /v1/completions that computes prompt log-probs with a local HF model."""
    import torch
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": "bundled", "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict:
        body = await request.json()
        prompts = body["prompt"]
        prompts = [prompts] if prompts and isinstance(prompts[0], int) else prompts
        choices = []
        for i, ids in enumerate(prompts):
            with torch.inference_mode():
                logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            token_lp = [None] + [float(logp[p - 1, ids[p]]) for p in range(1, len(ids))]
            nxt = int(logp[-1].argmax())
            if body.get("prompt_logprobs") is not None:
                choices.append({"index": i, "text": tokenizer.decode([nxt]), "finish_reason": "length",
                                "prompt_logprobs": [None] + [{str(ids[p]): {"logprob": token_lp[p], "rank": 1}}
                                                             for p in range(1, len(ids))]})
            else:
                choices.append({"index": i, "text": tokenizer.decode(ids + [nxt]), "finish_reason": "length",
                                "logprobs": {"token_logprobs": token_lp + [float(logp[-1, nxt])],
                                             "tokens": [tokenizer.decode([t]) for t in ids + [nxt]]}})
        return {"id": "cmpl-test", "object": "text_completion", "model": body["model"], "choices": choices}

    return app


def test_openai_backend_matches_hf_scores_on_the_bundled_model(generator, model_cache, tmp_path, fake_encoder):
    from rag_dx.serve.load import serving
    from rag_dx.scoring import generator_scores
    from tests.helpers import build_fixture_assistant

    with serving(_fake_openai_server(generator.model, generator.tokenizer)) as url:
        remote = OpenAIGenerator.connect(f"{url}/v1", tokenizer_dir=None, cache_dir=model_cache)
        assistant = build_fixture_assistant(tmp_path / "idx", fake_encoder)
        case = "Throbbing one-sided headache with nausea and sensitivity to light, worse with noise."
        hits = assistant.retrieve(case)[:4]
        names = ["Migraine", "Tension-type headache", "Cluster headache", "Pneumonia"]
        prompt = generator.build_prompt(case, hits, evidence_chars=300)
        assert remote.build_prompt(case, hits, evidence_chars=300) == prompt
        np.testing.assert_allclose(remote.score(prompt, names), generator.score(prompt, names), atol=1e-4)
        # through the one scoring function, with the no-case prior, as diagnose calls it
        np.testing.assert_allclose(generator_scores(remote, case, hits, names, evidence_chars=300),
                                   generator_scores(generator, case, hits, names, evidence_chars=300), atol=1e-4)
        # the whole generator path of diagnose (ranker off: similarity vote + generator)
        s = assistant.settings
        off = s.model_copy(update={"diagnosis": s.diagnosis.model_copy(update={"ranker": False})})
        a = assistant.with_generator(generator, settings=off).diagnose(case)
        b = assistant.with_generator(remote, settings=off).diagnose(case)
        assert a.ranking.startswith("similarity vote + generator")
        assert [d.diagnosis for d in a.differential] == [d.diagnosis for d in b.differential]
        np.testing.assert_allclose([d.generator_score for d in a.differential],
                                   [d.generator_score for d in b.differential], atol=2e-4)
        assert b.versions.generator.startswith("openai:bundled@")
        remote.close()
