"""The calibration a LoRA adapter ships with, read and applied at serving time.

``rag-dx finetune generator`` fits one temperature T on a validation split and writes it beside
the adapter as ``rag_dx_calibration.json`` (see :mod:`finetune.calibrate`), together with the
scoring the adapter was trained for (``generator_pmi``). The temperature only means something
for the probabilities it was fitted on, so ``diagnose`` applies it to exactly those: the blended
full-mode probabilities of a generator loaded with that adapter. It lives here, not in
``finetune``, because serving must not import the training stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag_dx.errors import ConfigError

CALIBRATION_FILE = "rag_dx_calibration.json"


@dataclass(frozen=True)
class AdapterCalibration:
    """What an adapter directory says about how its scores are to be used."""

    temperature: float
    generator_pmi: bool | None = None
    path: str = ""


def read_adapter_calibration(adapter_dir: str | Path | None) -> AdapterCalibration | None:
    """The adapter's calibration, or None when it has none (an uncalibrated adapter is valid).

    A file that exists but is unreadable is an error naming the file and the field: silently
    serving uncalibrated probabilities would mislead the clinician about confidence.
    """
    if not adapter_dir:
        return None
    path = Path(adapter_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable calibration file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    try:
        temperature = float(data["temperature"])
    except KeyError:
        raise ConfigError(f"{path}: field 'temperature' is missing") from None
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: field 'temperature' must be a number") from None
    if not np.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"{path}: field 'temperature' must be > 0")
    pmi = data.get("generator_pmi")
    if pmi is not None and not isinstance(pmi, bool):
        raise ConfigError(f"{path}: field 'generator_pmi' must be true or false")
    return AdapterCalibration(temperature=temperature, generator_pmi=pmi, path=str(path))


def apply_temperature(probs: Sequence[float] | np.ndarray, temperature: float) -> np.ndarray:
    """p_i^(1/T), renormalized; computed in log space, zeros stay zero, the order never changes.

    >>> apply_temperature([0.5, 0.25, 0.25], 1.0).round(3).tolist()
    [0.5, 0.25, 0.25]
    >>> apply_temperature([0.6, 0.4], 0.5).round(3).tolist()
    [0.692, 0.308]
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return p
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    with np.errstate(divide="ignore"):
        z = np.log(np.clip(p, 0.0, None)) / temperature
    z[~np.isfinite(z)] = -np.inf
    if not np.isfinite(z).any():
        return np.full_like(p, 1.0 / p.size)
    z = z - z[np.isfinite(z)].max()
    e = np.exp(z)
    return e / e.sum()
