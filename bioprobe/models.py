"""The one model loader: Auto* classes, decoder pad tokens, eager attention, GGUF, 4-bit, LoRA adapters, devices.

Nothing else in the project calls `from_pretrained` on a model or tokenizer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from bioprobe.errors import BioprobeError
from bioprobe.registry import MODELS, ResolvedModel, infer_kind, resolve_model

HEADS = ("token", "sequence", "multilabel", "base", "causal-lm", "masked-lm")
CLASSIFIERS = ("token", "sequence", "multilabel")
"""Heads that classify (they need labels): a label per token, one per sequence, any number per sequence."""
_HEAD_MODULES = ("score", "classifier", "lm_head")  # names transformers gives classification and LM heads


@dataclass
class Loaded:
    """A model and its tokenizer, ready for a task.

    Attributes:
        model: The torch module (a PeftModel when an adapter is attached).
        tokenizer: Its tokenizer, with a pad token and right padding.
        resolved: Where the model came from.
    """

    model: object
    tokenizer: object
    resolved: ResolvedModel


def cache_dir() -> Path:
    """Folder for converted models (`BIOPROBE_CACHE`, default `~/.cache/bioprobe`)."""
    return Path(os.environ.get("BIOPROBE_CACHE", Path.home() / ".cache" / "bioprobe"))


def resolve_device(device: str | None = None) -> str:
    """Check a device name, or pick one: this process's GPU when one is visible (`LOCAL_RANK` under DDP), else cpu.

    Raises:
        BioprobeError: for a name torch does not know, or cuda on a machine without a usable GPU.
    """
    import torch

    if device is None:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise BioprobeError(f"Unknown device '{device}'; use cpu, cuda or cuda:N.") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise BioprobeError(f"Device '{device}' was asked for but torch sees no CUDA GPU here; use --device cpu.")
    return device


def _hub_error(resolved: ResolvedModel, err: Exception) -> BioprobeError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "gated" in reason.lower() or "401" in reason or "403" in reason:
        return BioprobeError(f"Model '{resolved.source}' is gated on the Hugging Face hub; request access on its page "
                             "and log in (`hf auth login`), or pass a local model folder.")
    if Path(resolved.source).is_dir():
        return BioprobeError(f"Could not load the model folder '{resolved.source}': {reason}")
    return BioprobeError(
        f"Could not load model '{resolved.source}' from the Hugging Face hub ({reason.rstrip('.')}); "
        "check the name and your connection, or pass a local model folder (minilm and smollm2 work offline)."
    )


def convert_gguf(resolved: ResolvedModel) -> ResolvedModel:
    """Turn a GGUF checkpoint into a plain float32 model folder, once, and point at the cached folder.

    A model loaded from GGUF is dequantized but still flagged as quantized, so Trainer refuses to train it and
    `save_pretrained` refuses to save it; rebuilding it from its config without `quantization_config` gives a
    plain model.
    """
    if resolved.gguf_file is None:
        return resolved
    gguf = Path(resolved.source) / resolved.gguf_file
    stamp = f"{gguf.resolve()}|{gguf.stat().st_size}|{gguf.stat().st_mtime_ns}"
    target = cache_dir() / "converted" / f"{resolved.name}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    if not (target / "config.json").is_file():
        import torch
        from tqdm.auto import tqdm
        from transformers import AutoModelForCausalLM, AutoTokenizer

        steps = tqdm(total=3, desc=f"Converting {resolved.name} from GGUF (once)", unit="step")
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.source, gguf_file=resolved.gguf_file)
            with _quiet():
                gguf_model = AutoModelForCausalLM.from_pretrained(resolved.source, gguf_file=resolved.gguf_file,
                                                                  dtype=torch.float32)
        except ImportError as err:
            raise BioprobeError(f"Loading {resolved.name} from GGUF needs the gguf package ({err}); "
                                "install it with `pip install gguf`.") from None
        except (OSError, ValueError, KeyError) as err:
            raise BioprobeError(f"Could not read the GGUF file {gguf}: {str(err).splitlines()[0]}") from None
        steps.update()
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = type(gguf_model)(config)
        plain.load_state_dict(gguf_model.state_dict())
        plain.tie_weights()
        steps.update()
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        plain.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "bioprobe-source.json").write_text(json.dumps({"gguf": stamp}, indent=2))
        if target.exists():  # another process finished first: keep its copy
            import shutil

            shutil.rmtree(partial)
        else:
            partial.rename(target)
        steps.update()
        steps.close()
    return ResolvedModel(resolved.name, str(target), resolved.spec, None)


@contextlib.contextmanager
def _quiet():
    """Silence library chatter (GGUF progress bars, load reports, advisory warnings) around a load."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        logging.set_verbosity(level)


def load_tokenizer(resolved: ResolvedModel):
    """Load the tokenizer with the family's quirks: a pad token for decoders, right padding.

    The pad token of a decoder without one is its EOS token; callers also set `config.pad_token_id`.
    """
    from transformers import AutoTokenizer

    kwargs = {}
    if resolved.spec.add_prefix_space:
        kwargs["add_prefix_space"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, gguf_file=resolved.gguf_file, **kwargs)
    except (OSError, ValueError) as err:
        raise _hub_error(resolved, err) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise BioprobeError(f"The tokenizer of '{resolved.name}' has no pad, EOS or UNK token to pad with.")
    tokenizer.padding_side = "right"
    return tokenizer


def wants_four_bit(resolved: ResolvedModel, requested: bool | None = None) -> bool:
    """Whether a model's base weights load in 4-bit NF4: as requested (`--4bit/--no-4bit`), else its registry default
    (mistral, llama2, llama2-medtuned). The one rule for the model as released and the base of its tuned runs, in
    fine-tuning, generation and every analysis, so a released model means the same weights everywhere."""
    return bool(resolved.spec.four_bit if requested is None else requested)


def check_four_bit(device: str) -> None:
    """Raise a clear error when bitsandbytes cannot serve 4-bit NF4 on this machine."""
    import torch

    if device.startswith("cpu"):
        capability = torch.backends.cpu.get_cpu_capability()
        if capability not in ("AVX2", "AVX512"):
            raise BioprobeError(f"4-bit loading needs a GPU or an x86 CPU with AVX2 (this CPU reports "
                                f"'{capability}'); pass --no-4bit.")
    try:
        with _quiet():
            import bitsandbytes  # noqa: F401
    except Exception as err:  # bitsandbytes raises many kinds when it has no backend
        raise BioprobeError(f"4-bit loading needs bitsandbytes, which cannot run here ({err}); pass --no-4bit.") \
            from None


def load_model(
    name_or_resolved: str | ResolvedModel,
    head: str = "base",
    labels: tuple[str, ...] | None = None,
    four_bit: bool = False,
    eager_attention: bool = False,
    adapter: str | Path | None = None,
    device: str | None = None,
    dtype: str = "float32",
    random_init: bool = False,
    training: str | None = None,
) -> Loaded:
    """Load a model and tokenizer for a task head.

    Args:
        name_or_resolved: Registry name, hub id, local folder, or an already resolved model.
        head: "token", "sequence" or "multilabel" (classification heads with `labels`), "base" (hidden states only),
            "causal-lm" or "masked-lm" (an encoder with the masked-LM head it was saved with).
        labels: Label names for a classification head; their order defines the class ids.
        four_bit: Load the base weights as 4-bit NF4 with bitsandbytes (QLoRA).
        eager_attention: Use the eager attention implementation, needed to return attention maps.
        adapter: Folder of a saved PEFT adapter (with its trained head) to attach.
        device: "cpu", "cuda", ...; default: cuda when available. Ignored for 4-bit (placed by bitsandbytes).
        dtype: "float32", "bfloat16" or "float16" for the non-quantized weights.
        random_init: The same architecture with freshly initialised weights (seed with `transformers.set_seed`
            first): the baseline that shows what the architecture alone gives.
        training: "full" or "lora" when the model is loaded to be fine-tuned (what the memory check counts).

    Returns:
        The loaded model (eval mode) with its tokenizer.

    Raises:
        BioprobeError: for a model that cannot be read, or whose estimated memory (`bioprobe.memory`, from its config,
            before any weight is loaded) exceeds what the device has free.
    """
    import torch
    import transformers

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    resolved = name_or_resolved if isinstance(name_or_resolved, ResolvedModel) else resolve_model(name_or_resolved)
    resolved = convert_gguf(resolved)
    device = resolve_device(device)
    tokenizer = load_tokenizer(resolved)
    check_memory(resolved, head, labels, device, four_bit, dtype, training)

    auto = auto_class(head)
    kwargs: dict = {"dtype": getattr(torch, dtype)}
    if head in CLASSIFIERS:
        if not labels:
            raise ValueError("a classification head needs labels")
        kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={label: i for i, label in enumerate(labels)})
    if head == "multilabel":  # a sigmoid per label, binary cross-entropy on float 0/1 rows
        kwargs["problem_type"] = "multi_label_classification"
    if eager_attention:
        kwargs["attn_implementation"] = "eager"
    if four_bit:
        check_four_bit(device)
        cuda = device.startswith("cuda")
        compute = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
            # A new task head must stay a trainable float layer (transformers 5 would quantize a token head).
            llm_int8_skip_modules=list(_HEAD_MODULES) if head in CLASSIFIERS else None)
        kwargs["device_map"] = {"": torch.device(device).index or 0} if cuda else {"": "cpu"}
    if tokenizer.pad_token_id is not None:
        kwargs["pad_token_id"] = tokenizer.pad_token_id
    try:
        with _quiet():
            if random_init:
                if four_bit or adapter is not None:
                    raise ValueError("a randomly initialised model takes neither 4-bit weights nor an adapter")
                config = transformers.AutoConfig.from_pretrained(resolved.source, **{
                    k: v for k, v in kwargs.items() if k not in ("dtype",)})
                model = auto.from_config(config, dtype=kwargs["dtype"])
            elif head == "masked-lm":  # the head must come from the weights, not be initialised
                model, info = auto.from_pretrained(resolved.source, output_loading_info=True, **kwargs)
                _require_masked_lm_head(resolved, model, info)
            else:
                model = auto.from_pretrained(resolved.source, **kwargs)
    except (OSError, ValueError) as err:
        message = str(err)
        if "Unrecognized configuration class" in message or "does not support" in message:
            raise BioprobeError(f"The model '{resolved.name}' has no {head}-classification class in transformers "
                                f"({message.splitlines()[0]})") from None
        raise _hub_error(resolved, err) from None
    model.config.pad_token_id = tokenizer.pad_token_id
    if MODELS.get(resolved.spec.name) is not resolved.spec:  # unregistered: its config says encoder or decoder
        kind = infer_kind(model.config.model_type, getattr(model.config, "is_decoder", False))
        resolved = dataclasses.replace(resolved, spec=dataclasses.replace(resolved.spec, kind=kind))
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    if not four_bit:
        model.to(device)
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer, resolved=resolved)


def auto_class(head: str):
    """The transformers Auto* class a head loads with (`HEADS`)."""
    import transformers

    return {
        "token": transformers.AutoModelForTokenClassification,
        "sequence": transformers.AutoModelForSequenceClassification,
        "multilabel": transformers.AutoModelForSequenceClassification,
        "base": transformers.AutoModel,
        "causal-lm": transformers.AutoModelForCausalLM,
        "masked-lm": transformers.AutoModelForMaskedLM,
    }[head]


def check_memory(resolved: ResolvedModel, head: str, labels, device: str, four_bit: bool = False,
                 dtype: str = "float32", training: str | None = None) -> None:
    """Refuse a model that cannot fit the device (`bioprobe.memory.check_fits`), before loading it; a config that
    cannot be read is left for the load to report."""
    from bioprobe import memory

    if memory.skip_check():
        return
    need = estimate_of(resolved, head, labels, dtype)
    if need is not None:
        memory.check_fits(resolved.name, need, device, four_bit, training)


def estimate_of(resolved: ResolvedModel, head: str, labels=None, dtype: str = "float32"):
    """`bioprobe.memory.estimate` of a model (one cache entry per model, head and labels, whoever asks), or None when
    its config cannot be read (the load then reports why)."""
    from bioprobe import memory

    try:
        return memory.estimate(str(resolved.source), head, tuple(labels) if labels else None, dtype)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _require_masked_lm_head(resolved, model, info: dict) -> None:
    """Refuse a masked-LM model whose head weights were missing from the files (transformers would initialise them)."""
    prefix = model.base_model_prefix
    missing = sorted(key for key in info.get("missing_keys", ()) if not key.startswith(prefix + "."))
    if missing:
        raise BioprobeError(f"{resolved.name} has no masked-LM head in its weights ({missing[0]} and "
                            f"{len(missing) - 1} more are missing: a sentence-embedding package keeps the encoder "
                            "only), so no layer can be read as a token prediction; the lens applies to decoders and "
                            "to encoders saved with their MLM head (bert, biobert).")


def count_parameters(model) -> int:
    """Number of parameters (4-bit packed weights counted as their unpacked size)."""
    total = 0
    for parameter in model.parameters():
        n = parameter.numel()
        if parameter.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
    return total


def forward_parameters(model) -> set[str]:
    """The keyword names a model's forward takes, looking through a PEFT wrapper (whose own forward takes anything):
    what transformers' `generate` checks before passing e.g. `position_ids`, and how bioprobe tells which
    transformers 5 release it runs (`cache` replaced `past_key_values`) and whether `logits_to_keep` is there."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(inner.forward).parameters)
