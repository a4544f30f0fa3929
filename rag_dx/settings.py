"""One typed settings object: defaults < TOML file < `RAG_DX_*` environment variables < explicit kwargs.

The TOML file is `rag-dx.toml` in the working directory, or the path in `RAG_DX_CONFIG`. Nested
sections use `__` in environment variables (`RAG_DX_RETRIEVAL__K_DENSE=50`). Construction only
validates; it never loads a model or touches the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "rag-dx.toml"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rag-dx`` (``~/.cache/rag-dx``): prepared models and derived tables."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-dx"


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rag-dx"


class RetrievalSettings(BaseModel):
    k_dense: int = Field(30, ge=1, description="dense candidates before fusion")
    k_sparse: int = Field(30, ge=1, description="BM25 candidates before fusion")
    k_evidence: int = Field(12, ge=1, description="fused hits kept as evidence")
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant")
    dense_weight: float = Field(1.0, ge=0)
    sparse_weight: float = Field(1.0, ge=0)


class DiagnosisSettings(BaseModel):
    max_candidates: int = Field(10, ge=1)
    min_candidates: int = Field(3, ge=1, description="top up from nearest vocabulary terms below this")
    generator_weight: float = Field(0.25, ge=0, le=1, description="blend weight of the generator vs the retrieval vote")
    temperature: float = Field(1.0, gt=0, description="softmax temperature on generator scores")
    generator_pmi: bool = Field(
        True, description="score log P(dx | case) - log P(dx | no case), removing the model's prior for a name"
    )
    vote_temperature: float = Field(
        0.05, gt=0, description="hit weight = exp((cos - best cos) / this): lower trusts the nearest hits more"
    )
    guideline_vote_weight: float = Field(0.5, ge=0, description="a guideline hit's vote relative to a similar case")
    abstain_below: float = Field(0.2, ge=0, le=1, description="abstain when the top probability is below this")
    min_similarity: float = Field(0.25, ge=-1, le=1, description="abstain when no evidence is at least this similar")
    evidence_chars: int = Field(300, ge=50, description="characters of each passage shown to the generator")
    prompt_evidence: int = Field(4, ge=0, description="passages included in the generator prompt")
    practice_model: bool = Field(
        True, description="train the practice model (classifier + ranker) into every index version built")
    card_finding_words: bool = Field(
        True, description="the disease cards' TF-IDF also reads the HPO names and synonyms of the case's present "
        "findings ('orthopnea' -> 'shortness of breath when lying down'), bridging clinical and lay wording "
        "(rag_dx.topic_cards.with_finding_words)")
    sex_filter: bool = Field(
        True, description="leave out diagnoses of the other sex's genital organs or of pregnancy when the case states "
        "the patient's sex ('a 58-year-old woman'), and say so in the answer's warnings (rag_dx/patient_sex.py)")
    expand_abbreviations: bool = Field(
        True, description="write the long form beside each clinical abbreviation of a case ('SOB (shortness of "
        "breath)') before it is retrieved, classified and matched (rag_dx/abbreviations.py); only "
        "abbreviations with one dominant sense in real notes")
    negation_aware: bool = Field(
        True, description="retrieve and classify on the case without its denied findings ('no fever' is not a "
        "query term); the practice model is trained the same way")
    finding_tokens: bool = Field(
        False, description="the practice classifier also reads one token per present finding concept (HPO), so a "
        "case written in other words than the practice's reports still shares its findings with them; applies "
        "to index versions built from now on (with negation_aware). Off by default: the classifier alone gains "
        "on cross-style dev cases, the whole system does not (docs/results/protocols.md, 'finding tokens')")
    ranker: bool = Field(
        True, description="rank with the index version's learned practice ranker when it has one (else the "
        "similarity vote blended with the generator)")
    outside_quantile: float = Field(
        0.02, ge=0, le=1, description="abstain as outside the practice when the case's best report similarity is "
        "below this fraction of past reports' nearest-neighbour similarities (0 = never)")
    novel_quantile: float = Field(
        0.05, ge=0, le=1, description="flag a case in the practice's style as possibly a diagnosis the practice never "
        "recorded when its nearest report of the top diagnosis is less similar than this fraction of that "
        "diagnosis's reports are to each other (0 = never): the share of the practice's own cases of that "
        "diagnosis expected to be flagged. 0.05 (was 0.02, shared with outside_quantile) cut the confident wrong "
        "answers on unrecorded dev diagnoses from 84 to 58 of 409 for 2-5 points more in-practice abstention "
        "(docs/results/protocols.md, 'possibly unrecorded')")
    novel_conformal_level: float = Field(
        0.95, ge=0, lt=1, description="flag a case in the practice's style as possibly a diagnosis the practice never "
        "recorded when the practice ranker gives its top diagnosis less than it gave the right diagnosis on this share "
        "of the practice's own reports in cross-fitting (the conformal set at this level is empty; 0 = never). The "
        "ranker's unflagged answers on unrecorded dev diagnoses were all wrong at a mean 0.82, on the practice's own "
        "cases right at 0.999 (docs/results/protocols.md, 'less sure than on its own reports')")
    outside_vote_weight: float = Field(
        0.9, ge=0, le=1, description="for a case outside the practice, how much the similarity vote counts beside "
        "the learned ranker (whose classifier is fitted to the practice's own writing); below 1 so the ranker "
        "still orders diagnoses no retrieved report carries")
    novel_vote_weight: float = Field(
        0.5, ge=0, le=1, description="the same for a case in the practice's style whose top diagnosis is weakly "
        "supported (possibly one the practice never recorded): the ranker is on its own ground there and keeps "
        "more weight (at 0.9 the negation protocol lost 7 of 462 top-1s)")
    outside_confidence: float = Field(
        0.5, gt=0, le=1, description="probabilities of a case outside the practice (or of a possibly unrecorded "
        "diagnosis) are multiplied by this; the rest is left unassigned")
    floored_confidence: float = Field(
        0.9, gt=0, le=1, description="used instead of outside_confidence for a flagged case the guideline floor applied "
        "to (outside_guideline_share): it is led by the disease cards, whose probabilities are not the practice "
        "ranker's. Halved, the 992 floored cases of the dev protocols were shown at about 0.11 while 0.19 were "
        "right; 0.9 minimises their pooled log-loss (docs/results/protocols.md, 'floored cases')")
    guidelines_only_confidence: float = Field(
        0.4, gt=0, le=1, description="probabilities of an answer whose evidence is guideline passages alone (an index "
        "without the practice's reports, or a case that retrieves none) are multiplied by this; the rest is left "
        "unassigned. Fitted on the guidelines-only dev protocol's symptom lists (ECE 0.18 -> 0.02); checked on its "
        "lay narratives (0.19 -> 0.02)")
    outside_guideline_share: float = Field(
        0.9, ge=0, le=1, description="for a case unlike every past report (and for one like them whose top "
        "diagnosis is weakly supported, when the disease cards' mass on the practice can judge it), the least share "
        "of the probability that goes to the diagnoses guidelines support (the share of guideline passages among "
        "the retrieved evidence when that is more); the practice ranker's diagnoses keep the rest. Withheld when "
        "the disease cards find the case likely one of the practice's diagnoses written another way "
        "(outside_card_mass), or, with outside_card_mass 0, when the ranker's top diagnosis has no card in the "
        "version (that test cannot judge it), or when most of the case's evidence is past reports of the ranker's "
        "top diagnosis. 0.9 (was 0.8): at 0.8 the ranker's one confident practice diagnosis still led 348 floored dev "
        "cases over the guidelines' spread-out share and was right in 11 (docs/results/protocols.md, 'floored cases')")
    outside_reports_share: float = Field(
        0.2, ge=0, lt=1, description="when the guideline floor is withheld because most of the case's evidence is past "
        "reports of the ranker's top diagnosis while the disease cards put little on the practice's diagnoses, the "
        "least share of the probability that goes to the diagnoses guidelines support (0 = the ranker's order alone). "
        "The top diagnosis keeps its lead; the practice's other labels at 0.01 no longer fill the top 5. 0.2, the "
        "middle of 0.15-0.5: unrecorded dev diagnoses top-5 +0.054 / +0.056 on the two indexes (22 / 23 won, none "
        "lost), symptom lists on a narrative practice 1 lost, no top-1 moved (docs/results/protocols.md, 'cases the "
        "reports keep')")
    outside_reports_card_lead: float = Field(
        0.5, ge=0, le=1, description="the reports keep the ranker's order (outside_reports_share) only while the disease "
        "cards' best diagnosis holds less than this share of the probability of the case's best cards; at or above it "
        "the guideline floor applies instead (0 = the reports always keep it). Those cards name a diagnosis the "
        "practice never recorded (they put under outside_card_mass on the practice's), and retrieval's majority of one "
        "practice label is then the weaker evidence. 0.5 of 0.3-0.5: unrecorded dev diagnoses top-1 +0.024 / +0.020 on "
        "the two indexes (10 / 8 won, none lost; all of them reflux kept as peptic ulcer), nothing else moved; "
        "0.3 lost an in-practice case, 0.4 switched 6-7 more cases to wrong cards (docs/results/protocols.md, 'a "
        "confident card over the reports')")
    outside_kept_card_share: float = Field(
        0.1, ge=0, lt=1, description="when the guideline floor is withheld because the disease cards put enough of their "
        "probability on the practice's diagnoses, the least share the diagnoses guidelines support get beside the "
        "ranker's (0 = the ranker's order alone). Their share comes out of the probability the outside scale leaves "
        "unassigned; the ranker's rows keep theirs, which on this route were already below their dev accuracy "
        "(docs/results/protocols.md, 'cases the cards keep')")
    outside_support_share: float = Field(
        0.0, ge=0, lt=1, description="the guideline floor is withheld when more than this share of the practice "
        "ranker's probability is on diagnoses among the case's disease cards (0: any card that is one of the "
        "ranker's diagnoses, however improbable); only when outside_card_mass is 0")
    outside_card_mass: float = Field(
        0.05, ge=0, lt=1, description="the guideline floor is withheld when the disease cards put at least this share "
        "of their probability (a softmax over every card) on the practice's diagnoses: the guidelines, which do not "
        "depend on how the practice writes, then find the case likely one of them. 0.05, the middle of 0.04-0.06 "
        "that gained on the dev protocols (0.07 lost symptom lists on a 24-diagnosis practice); a practice of "
        "fewer diagnoses gets the floor more often. 0: the older test, any of the case's cards being one of the "
        "ranker's diagnoses however improbable (docs/results/protocols.md, 'the cards' probability on the practice')")
    topic_cards: bool = Field(
        True, description="build guideline disease cards into every index version and, for a case outside the "
        "practice, rank guideline diagnoses by how the whole case matches each card (rag_dx.topic_cards) instead "
        "of by which topics the retrieved passages carry")
    card_share: float = Field(
        0.75, ge=0, le=1, description="share of a guideline diagnosis's weight that comes from how the whole case "
        "matches its disease card; the rest comes from how strongly the retrieved passages name it "
        "(rag_dx.practice.serve.blend_topics)")
    rare_source_prior: float = Field(
        -0.1, le=0, description="added to the card score of a guideline diagnosis whose passages all come from a "
        "rare-disease source (MedQuAD's GARD / GHR): common diseases before rare syndromes for a common "
        "presentation; 0 switches the prior off")
    commonness_prior: float = Field(
        0.03, ge=0, description="weight of log(1 + how many clinical notes name the diagnosis) in a disease card's "
        "score (rag_dx.commonness, rag_dx/data/commonness.tsv): common diseases before rare syndromes for a common "
        "presentation; 0 switches the prior off")
    consumer_topic_prior: float = Field(
        0.04, ge=0, description="added to the card score of a guideline diagnosis with a page from a consumer "
        "health-topic source (MedQuAD's MedlinePlus topics, rag_dx.topic_cards.CONSUMER_SOURCES): the conditions "
        "the public asks about are common ones; 0 switches the prior off")
    commonness_table: Path | None = Field(
        None, description="the practice's own table for the commonness prior, in the format of the bundled "
        "rag_dx/data/commonness.tsv (concept key, count, names; tab-separated, '#' comments); unset: the bundled "
        "counts from MTSamples notes")
    adapter_calibration: bool = Field(
        True, description="apply the temperature (and scoring) stored with a LoRA adapter in rag_dx_calibration.json"
    )
    explain: bool = Field(
        True, description="fill each answer's matches/against findings, red flags and next questions; false only "
        "to measure what that costs (eval.bench's 'explain off' variant)")

    @field_validator("novel_conformal_level")
    @classmethod
    def _calibrated_level(cls, value: float) -> float:
        from rag_dx.practice.conformal import LEVELS  # the levels a practice model stores thresholds for

        if value and not any(abs(value - level) < 1e-9 for level in LEVELS):
            raise ValueError(f"{value} has no conformal threshold; expected 0 (off) or one of "
                             f"{', '.join(f'{level:g}' for level in LEVELS)}")
        return value


class ChunkSettings(BaseModel):
    chunk_tokens: int = Field(200, ge=16)
    overlap_tokens: int = Field(30, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> "ChunkSettings":
        from rag_dx.ingest.chunking import check_chunk_sizes  # the one rule for chunk sizes

        check_chunk_sizes(self.chunk_tokens, self.overlap_tokens, prefix="chunk.")
        return self


class FaissSettings(BaseModel):
    """Dense index type by corpus size, recorded in the manifest. The one FAISS configuration:
    `rag_dx.index.faiss_index.FaissConfig` is this class, so it is validated in one place.

    Constructed directly (not as part of `Settings`), a bad value raises ConfigError.
    """

    exact_below: int = Field(50_000, ge=0, description="exact search (IDMap2,Flat) below this many vectors, IVF "
                             "above; 0 = always IVF (needs training data)")
    nlist: int = Field(0, ge=0, description="IVF lists; 0 = the power of two nearest sqrt(vectors), at most n / 39")
    nprobe: int = Field(0, ge=0, description="IVF lists probed per query; 0 = calibrated at build time")
    target_recall: float = Field(
        0.995, gt=0, le=1, description="recall@10 vs exact that nprobe calibration must reach on its hard queries "
        "(midpoints of corpus pairs); 0.995 there measured >= 0.99 on real off-domain queries")
    calibration_queries: int = Field(500, ge=10, description="number of calibration queries")
    nprobe_margin: float = Field(1.0, ge=1, description="calibrated nprobe is multiplied by this")
    compress_above: int = Field(
        1_000_000, ge=0, description="above this many vectors the IVF index stores compressed codes "
        "(IVF{nlist},{compress_codec}) instead of float32 vectors; 0 = never. See docs/performance.md")
    compress_codec: str = Field(
        "SQ8", pattern=r"^(PQ[0-9]+(x[0-9]+)?|SQ(4|6|8|fp16))$", description="faiss code of a compressed index: "
        "SQ8 (8-bit scalar, 4x smaller, recall kept at 1M) or PQ{m} (product quantization, m bytes per vector; "
        "m must divide the dimension; much smaller, recall lower)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where dense search runs when an index is loaded: auto = a GPU when faiss-gpu sees "
        "one (else CPU), cuda = a GPU or an error; the file on disk is the same either way")

    def __init__(self, **data: Any) -> None:
        from pydantic import ValidationError

        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc, prefix="faiss.") from None


class ScaleSettings(BaseModel):
    """Where chunks are embedded when an index is built: in this process, or on Ray (the `scale` extra)."""

    engine: Literal["local", "ray"] = Field("local", description="local = this process; ray = Ray Data, an actor "
                                            "pool of encoders (one GPU each when the cluster has GPUs)")
    ray_address: str | None = Field(
        None, description="Ray cluster to join (e.g. 'auto' or 'ray://head:10001'); None = this process's Ray if "
        "already started, else a local instance started for the build")
    actors: int = Field(0, ge=0, description="encoder actors; 0 = one per GPU when the cluster has GPUs, else "
                        "one per CPU the cluster offers, at most 8")
    rows_per_batch: int = Field(256, ge=1, description="texts per Ray batch handed to an actor")
    encoder_factory: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="'module:function' returning the encoder from "
        "settings, imported on every Ray worker; None = rag_dx.embed.load_encoder (for encoders outside BACKENDS)")


class MonitorSettings(BaseModel):
    """What `rag-dx monitor` and the UI's admin panel warn about (docs/monitoring.md)."""

    drift_psi_warn: float = Field(
        0.2, gt=0, description="warn when the population stability index of recent cases' best report similarity "
        "(placed in the index's own nearest-neighbour profile) reaches this; 0.1-0.2 is a moderate shift, 0.2+ a "
        "large one")
    disagreement_warn: float = Field(
        0.3, gt=0, le=1, description="warn when this share of recent clinician feedback disagrees with the top-1")
    window_days: int = Field(7, ge=1, description="how many recent days the warnings judge")
    min_queries: int = Field(
        100, ge=1, description="queries with a best similarity the recent window needs before drift is judged: "
        "with no drift PSI averages 0.10 by chance at 100 queries (1.1 at 20); see docs/monitoring.md")
    min_feedback: int = Field(
        20, ge=1, description="judged feedback the recent window needs before disagreement is judged")
    set_level: float = Field(0.9, gt=0, lt=1, description="the conformal set level whose agreement is reported")
    admin_users: list[str] = Field(
        default_factory=list, description="UI users who see the monitoring panel (RAG_DX_MONITOR__ADMIN_USERS="
        "'[\"dr_a\"]'); 'local' is the user of a UI without login")


class Settings(BaseSettings):
    """Everything a run can be configured with. See the module docstring for precedence."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_DX_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=DEFAULT_CONFIG_FILE,
    )

    encoder: str | None = Field(None, description="sentence-transformers dir; None = bundled all-MiniLM-L6-v2")
    generator: str | None = Field(None, description="HF causal LM dir; None = bundled SmolLM2-135M-Instruct")
    adapter: str | None = Field(None, description="peft LoRA adapter dir (optional)")
    generator_backend: Literal["hf", "openai"] = Field(
        "hf", description="a name in rag_dx.generate.GENERATOR_BACKENDS: hf (local transformers model) or openai "
        "(an OpenAI-compatible completions server returning prompt log-probs: vLLM, llama.cpp; `generator` is then "
        "the served model's tokenizer dir). See docs/serving.md")
    generator_url: str | None = Field(None, description="base URL of the openai backend's server, e.g. "
                                      "http://gpu-box:8001/v1")
    generator_model: str | None = Field(None, description="served model (or LoRA module) name for the openai backend; "
                                        "None = the server's first model")
    index_dir: Path = Field(Path("indexes"), description="where named, versioned indexes live")
    index_name: str = "demo"
    cache_dir: Path = Field(default_factory=default_cache_dir, description="prepared models live here")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    generator_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="generator weights: auto = bfloat16 on a CUDA GPU that supports it, float32 on CPU")
    threads: int = Field(0, ge=0, description="torch/faiss threads; 0 = number of cores")
    batch_size: int = Field(32, ge=1)
    encoder_backend: str = Field(
        "torch", description="a name in rag_dx.embed.BACKENDS: torch, or the encoder exported locally to ONNX "
        "(onnx, onnx-int8); each has its own fingerprint, so switching means `rag-dx index rebuild`"
    )
    log_level: str = "WARNING"
    ui_state_dir: Path = Field(default_factory=_default_state_dir, description="where the UI keeps feedback.sqlite "
                               "and audit.jsonl (RAG_DX_UI_STATE_DIR; default $XDG_STATE_HOME/rag-dx)")
    ui_users: str | None = Field(None, repr=False, exclude=True, description="UI users as 'name:scrypt$...' entries "
                                 "separated by ';' (RAG_DX_UI_USERS); hashes only, never written to a manifest")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    diagnosis: DiagnosisSettings = Field(default_factory=DiagnosisSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    faiss: FaissSettings = Field(default_factory=FaissSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    scale: ScaleSettings = Field(default_factory=ScaleSettings)

    @field_validator("encoder_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from rag_dx.embed import BACKENDS  # the one list of backends

        if value not in BACKENDS:
            raise ValueError(f"unknown encoder backend {value!r}; expected one of {', '.join(BACKENDS)}")
        return value

    @model_validator(mode="after")
    def _generator_url_for_openai(self) -> "Settings":
        if self.generator_backend == "openai" and not self.generator_url:
            raise ValueError("generator_backend 'openai' needs generator_url (e.g. http://127.0.0.1:8001/v1)")
        if self.generator_url is not None and not self.generator_url.startswith(("http://", "https://")):
            raise ValueError(f"generator_url must start with http:// or https://, not {self.generator_url!r}")
        return self

    @field_validator("encoder", "generator", "adapter")
    @classmethod
    def _dir_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_dir():
            raise ValueError(f"model directory does not exist: {value}")
        return str(Path(value).expanduser()) if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("RAG_DX_CONFIG", DEFAULT_CONFIG_FILE)
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)),
        )

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_threads(self) -> int:
        return self.threads or (os.cpu_count() or 1)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's validation error into a ConfigError with every problem."""
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _config_error(exc) from None


def _config_error(exc: Any, prefix: str = "") -> Exception:
    """A ConfigError naming every problem of a pydantic ValidationError, and where each value came from.

    pydantic-settings merges the environment and the TOML file before validating, so its error
    names the field only; a user with a long rag-dx.toml then had to search for the bad line.
    """
    from rag_dx.errors import ConfigError

    problems = []
    for e in exc.errors():
        field = f"{prefix}{'.'.join(str(p) for p in e['loc'])}"
        where = _value_source(field)
        problems.append(f"{field}: {e['msg']}" + (f" ({where})" if where else ""))
    return ConfigError(f"invalid settings: {'; '.join(problems)}")


def _value_source(field: str) -> str | None:
    """The environment variable or the TOML file and line that set a dotted settings field, if either did."""
    parts = [p for p in field.split(".") if p and not p.isdigit()]
    if not parts:
        return None
    env = "RAG_DX_" + "__".join(parts).upper()
    if env in os.environ:
        return f"environment variable {env}"
    path = Path(os.environ.get("RAG_DX_CONFIG", DEFAULT_CONFIG_FILE))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    section, key = ".".join(parts[:-1]), parts[-1]
    current = ""
    for n, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text.startswith("[") and text.endswith("]"):
            current = text.strip("[] ").strip()
        elif current == section and text.split("=", 1)[0].strip().strip('"') == key and "=" in text:
            return f"{path}:{n}"
    return None
