"""Training checkpoints without pickle: the adapter (peft safetensors), the AdamW state as
safetensors, and a JSON state (step, RNG, recipe, data fingerprint) checked on resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rag_dx.staging import staged_directory


def save_checkpoint(ckpt_root: Path, step: int, model, optimizer, state: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save_file

    final = ckpt_root / f"step-{step:06d}"
    with staged_directory(final, prefix=f".step-{step:06d}-") as tmp:
        model.save_pretrained(tmp / "adapter")
        tensors: dict[str, Any] = {}
        opt_state = optimizer.state_dict()
        for idx, st in opt_state["state"].items():
            for key, value in st.items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{idx}.{key}"] = t.detach().cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt_state["param_groups"]]
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "param_groups": groups}, indent=1))
    for old in sorted(ckpt_root.glob("step-*"))[:-2]:  # keep the last two
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    done = sorted(p for p in Path(ckpt_root).glob("step-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def load_checkpoint(path: Path, model, optimizer, expect: dict[str, Any]) -> int:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from rag_dx.errors import ConfigError

    state = json.loads((path / "state.json").read_text())
    for key in ("recipe", "data_fingerprint", "base_fingerprint"):
        if state.get(key) != expect.get(key):
            raise ConfigError(
                f"checkpoint {path} was made with a different {key.replace('_', ' ')}; resume with the same "
                "recipe and data, or start afresh without --resume (or delete the checkpoint directory)"
            )
    set_peft_model_state_dict(model, load_file(str(path / "adapter" / "adapter_model.safetensors")))
    tensors = load_file(str(path / "optimizer.safetensors"))
    opt_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
    for name, value in tensors.items():
        if name.startswith("rng."):
            continue
        idx, key = name.split(".", 1)
        opt_state["state"].setdefault(int(idx), {})[key] = value
    for group in opt_state["param_groups"]:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return int(state["step"])
