"""The `openai` generator backend: candidate scores from an OpenAI-compatible completions server.

Any server that returns the log-probabilities of the *prompt's* tokens can score candidates the
way :class:`rag_dx.generate.HFGenerator` does: vLLM (``echo`` + ``logprobs``, or its
``prompt_logprobs`` extension), llama.cpp's server where its build supports ``echo``, or a
hosted ``/v1/completions`` that still offers ``echo``. The prompt and the candidate tokens are
built locally with the served model's tokenizer (the same :meth:`HFGenerator.build_prompt` and
:meth:`HFGenerator.candidate_ids`, so the adapter's training prompt is unchanged) and sent as
token ids, one sequence ``prompt + candidate`` per candidate, in one request. A candidate's
score is the mean of the returned log-probabilities of its tokens: :func:`rag_dx.scoring.
candidate_logprobs` computed by the server (tests/test_generate_openai.py checks they match on
the bundled model). vLLM's prefix caching shares the prompt's KV cache across the candidates.

Settings: ``generator_backend = "openai"``, ``generator_url`` (e.g. ``http://gpu-box:8001/v1``),
``generator_model`` (the served model or LoRA module name; default: the server's first model),
``generator`` (a local directory holding the served model's tokenizer; default: the bundled
one), ``adapter`` (optional: the local adapter directory, for its identity and calibration file;
the server serves the weights). ``RAG_DX_GENERATOR_API_KEY`` is sent as a bearer token if set.

Nothing is sent but token ids; error messages name the server and the HTTP status only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag_dx.errors import ModelUnavailableError
from rag_dx.generate import HFGenerator
from rag_dx.models import BUNDLED_GENERATOR_NAME, dir_fingerprint, prepared_generator_dir

__all__ = ["API_KEY_ENV", "OpenAIGenerator", "candidate_scores_from_choices"]

log = logging.getLogger(__name__)

API_KEY_ENV = "RAG_DX_GENERATOR_API_KEY"


def _choice_logprobs(choice: dict[str, Any], n_tokens: int, ids: Sequence[int]) -> list[float | None]:
    """Log-probabilities of the first `n_tokens` prompt tokens of one completion choice.

    Reads vLLM's ``prompt_logprobs`` (one ``{token_id: {"logprob": ...}}`` per position, the
    first None) when present, else ``logprobs.token_logprobs`` of an ``echo`` request (prompt
    tokens first, then the generated ones).
    """
    prompt_lp = choice.get("prompt_logprobs")
    if prompt_lp is not None:
        out: list[float | None] = []
        for pos, entry in enumerate(prompt_lp[:n_tokens]):
            if entry is None:
                out.append(None)
                continue
            hit = entry.get(str(ids[pos]), entry.get(ids[pos]))  # JSON keys are strings
            out.append(None if hit is None else float(hit["logprob"] if isinstance(hit, dict) else hit))
        return out
    token_lp = (choice.get("logprobs") or {}).get("token_logprobs")
    if token_lp is None:
        raise ModelUnavailableError("the generator server returned no prompt log-probabilities: it must support "
                                    "`echo` with `logprobs` (vLLM, llama.cpp with echo) on /v1/completions")
    return [None if v is None else float(v) for v in token_lp[:n_tokens]]


def candidate_scores_from_choices(choices: Sequence[dict[str, Any]], prompt_len: int,
                                  cand_ids: Sequence[Sequence[int]], prompt_ids: Sequence[int]) -> np.ndarray:
    """Mean log-probability of each candidate's tokens, from one choice per candidate (by ``index``)."""
    by_index = {int(c.get("index", i)): c for i, c in enumerate(choices)}
    scores = np.zeros(len(cand_ids), dtype=np.float64)
    for row, cand in enumerate(cand_ids):
        choice = by_index.get(row)
        if choice is None:
            raise ModelUnavailableError(f"the generator server returned {len(choices)} choices for {len(cand_ids)} candidates")
        seq = list(prompt_ids) + list(cand)
        lps = _choice_logprobs(choice, len(seq), seq)[prompt_len:]
        if len(lps) != len(cand) or any(v is None for v in lps):
            raise ModelUnavailableError("the generator server's log-probabilities do not cover the candidate tokens")
        scores[row] = float(np.mean(lps))
    return scores


@dataclass
class OpenAIGenerator(HFGenerator):
    """Scores candidates on an OpenAI-compatible server; prompts are built exactly as HFGenerator's.

    ``model`` (the local torch model) stays None: only the tokenizer is local.
    """

    url: str = ""
    served_model: str = ""
    timeout: float = 60.0
    api_key: str | None = field(default=None, repr=False)
    _client: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def connect(cls, url: str, *, tokenizer_dir: str | None, cache_dir: Path, served_model: str | None = None,
                adapter: str | None = None, timeout: float = 60.0, api_key: str | None = None,
                transport: Any = None) -> "OpenAIGenerator":
        """Load the tokenizer locally, ask the server which model it serves (if not given), and check it answers.

        Raises:
            ModelUnavailableError: no tokenizer, httpx missing, or the server does not answer.
        """
        from transformers import AutoTokenizer

        tok_dir = Path(tokenizer_dir) if tokenizer_dir else prepared_generator_dir(cache_dir)
        if not (tok_dir / "tokenizer_config.json").is_file() and not (tok_dir / "tokenizer.json").is_file():
            raise ModelUnavailableError(f"no tokenizer in {tok_dir}: point `generator` at a directory with the "
                                        "served model's tokenizer (or run `rag-dx models prepare` for the bundled one)")
        tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        gen = cls(model=None, tokenizer=tokenizer, name="", fingerprint="", url=url.rstrip("/"),
                  served_model=served_model or "", timeout=timeout, api_key=api_key)
        gen._client = gen._make_client(transport)
        if not gen.served_model:
            models = gen._request("GET", "/models").get("data") or []
            if not models:
                raise ModelUnavailableError(f"the generator server at {gen.url} lists no models")
            gen.served_model = str(models[0]["id"])
        tok_name = BUNDLED_GENERATOR_NAME if tokenizer_dir is None else tok_dir.name
        gen.name = f"openai:{gen.served_model}"
        gen.fingerprint = hashlib.sha256(f"{gen.served_model}|{tok_name}|{dir_fingerprint(tok_dir)}".encode()).hexdigest()
        if adapter:
            gen.adapter = f"{Path(adapter).name}@{dir_fingerprint(Path(adapter))[:12]}"
            gen.adapter_dir = str(adapter)
        return gen

    def _make_client(self, transport: Any = None) -> Any:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx comes with the serve extra
            raise ModelUnavailableError("the openai generator backend needs httpx: pip install 'rag-dx[serve]'") from exc
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout, transport=transport)

    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        import httpx

        try:
            r = self._client.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise ModelUnavailableError(f"the generator server at {self.url} did not answer ({type(exc).__name__})") from None
        if r.status_code != 200:
            # the body may quote the prompt: never shown
            raise ModelUnavailableError(f"the generator server at {self.url} answered HTTP {r.status_code} on {path}")
        return r.json()

    @property
    def device(self):  # pragma: no cover - nothing runs locally
        return "remote"

    def score(self, prompt: str, candidates: Sequence[str]) -> np.ndarray:
        """Mean per-token log-likelihood of each candidate after `prompt`, computed by the server."""
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        cand_ids = self.candidate_ids(candidates)
        payload = {"model": self.served_model, "prompt": [list(prompt_ids) + list(c) for c in cand_ids],
                   "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 0}
        body = self._request("POST", "/completions", payload)
        return candidate_scores_from_choices(body.get("choices") or [], len(prompt_ids), cand_ids, prompt_ids)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
