"""Will a model fit? Its memory estimated from its config before any weight is loaded, against what the device has
free, so a 7B model on a small GPU (or a laptop) ends in one sentence with the estimate and what would fit, not in an
out-of-memory crash minutes into a load."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from bioprobe.errors import BioprobeError

GIB = 1024 ** 3
FOUR_BIT_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
"""Bytes per 4-bit NF4 weight: half a byte, plus the double-quantised absmax constants (bitsandbytes' blocks of 64
weights, one 8-bit constant each, and a float32 per 256 constants): about 0.516."""
ADAMW_BYTES = 4 + 4 + 8
"""Bytes per trained float32 parameter under full fine-tuning: the gradient, AdamW's two moments (and the weight
itself, counted apart)."""
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Estimate:
    """The memory a model needs, from its config alone.

    Attributes:
        parameters: Parameters of the model with its head (tied weights once).
        quantizable: Of these, the weights a 4-bit load quantises (the body's linear layers).
        dtype: Weight dtype of the non-quantised parameters.
        kind: "encoder" or "decoder", as the config says (`bioprobe.registry.infer_kind`).
    """

    parameters: int
    quantizable: int
    dtype: str = "float32"
    kind: str = "encoder"

    def weights(self, four_bit: bool = False) -> float:
        """Bytes of the weights as loaded (4-bit: the body's linear layers in NF4, the rest in `dtype`)."""
        width = DTYPE_BYTES[self.dtype]
        if not four_bit:
            return self.parameters * width
        return self.quantizable * FOUR_BIT_BYTES + (self.parameters - self.quantizable) * width

    def need(self, four_bit: bool = False, training: str | None = None) -> float:
        """Bytes needed at least: the weights, and under full fine-tuning (`training="full"`) the gradients and
        AdamW state of every parameter (LoRA's few trained parameters are left out; activations always are)."""
        total = self.weights(four_bit)
        if training == "full":
            total += self.parameters * ADAMW_BYTES
        return total


@functools.lru_cache(maxsize=32)
def estimate(source: str, head: str = "base", labels: tuple[str, ...] | None = None,
             dtype: str = "float32") -> Estimate:
    """Count a model's parameters from its config: the architecture built on the meta device (no memory, no
    weights read), so the count is exact for any model transformers knows. Kept per process (the training loader
    asks before loading for its LoRA rule, the memory check then for the same model).

    Args:
        source: A local folder or hub id with a config.
        head: The head it will be loaded with (`bioprobe.models.HEADS`).
        labels: The labels of a classification head.
        dtype: Weight dtype of the load.
    """
    import torch
    import transformers

    from bioprobe.models import CLASSIFIERS, _HEAD_MODULES, _quiet, auto_class
    from bioprobe.registry import infer_kind

    auto = auto_class(head)
    options = {"num_labels": len(labels)} if head in CLASSIFIERS and labels else {}
    with _quiet():
        config = transformers.AutoConfig.from_pretrained(source, **options)
        with torch.device("meta"):
            model = auto.from_config(config)
    parameters = sum(p.numel() for p in model.parameters())
    quantizable = sum(module.weight.numel() for name, module in model.named_modules()
                      if isinstance(module, torch.nn.Linear) and name.split(".")[-1] not in _HEAD_MODULES)
    return Estimate(parameters, quantizable, dtype, infer_kind(config.model_type, getattr(config, "is_decoder", False)))


def available(device: str) -> float | None:
    """Bytes free on the device: a GPU's free memory, or the machine's available memory (Linux `MemAvailable`);
    None when it cannot be told."""
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index
        free, _ = torch.cuda.mem_get_info(index if index is not None else torch.cuda.current_device())
        return float(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.virtual_memory().available)


def check_fits(name: str, need: Estimate, device: str, four_bit: bool = False, training: str | None = None,
               free: float | None = None) -> None:
    """Refuse, before loading, a model whose weights (and training state) exceed what the device has free.

    Args:
        name: The model's name, for the message.
        need: Its `estimate`.
        device: Where it would be loaded.
        four_bit: Loaded in 4-bit.
        training: "full" or "lora" when it is loaded to be fine-tuned, else None.
        free: Bytes free (default: `available(device)`; when that is unknown nothing is refused).

    Raises:
        BioprobeError: with the estimate, what the device has and what would fit.
    """
    free = available(device) if free is None else free
    required = need.need(four_bit, training)
    if free is None or required <= free:
        return
    what = {"full": "fine-tuning all its weights (weights, gradients and AdamW state)",
            "lora": "LoRA fine-tuning (its weights)"}.get(training, "its weights")
    options = []
    if training == "full" and need.need(four_bit, "lora") <= free:
        options.append(f"LoRA (--lora: {need.need(four_bit, 'lora') / GIB:.1f} GiB)")
    if not four_bit and need.need(True, "lora" if training else None) <= free:
        options.append(f"4-bit weights ({'--4bit with LoRA' if training else 'as the --4bit of finetune'}: "
                       f"{need.need(True, 'lora' if training else None) / GIB:.1f} GiB)")
    fits = (f"; it would fit with {' or '.join(options)}" if options
            else "; it needs a device with more free memory")
    raise BioprobeError(f"{name} ({need.parameters / 1e9:.2f} B parameters) needs about {required / GIB:.1f} GiB for "
                        f"{what} in {'4-bit' if four_bit else need.dtype}, but {device} has {free / GIB:.1f} GiB "
                        f"free{fits} (BIOPROBE_NO_MEMORY_CHECK=1 loads it anyway).")


def skip_check() -> bool:
    """`BIOPROBE_NO_MEMORY_CHECK=1` loads without the estimate (when the device's free memory is misreported)."""
    return os.environ.get("BIOPROBE_NO_MEMORY_CHECK", "") not in ("", "0")


def batch_tokens(model, least: int, gradients: bool = False, keep_hidden: bool = True, share: float = 0.5,
                 ceiling: int = 65536, free: float | None = None) -> int:
    """Padded tokens per forward pass on a GPU, chosen from the memory it has free after loading the model rather
    than from the device's type: `share` of the free memory over the bytes a token costs in one pass (`token_bytes`:
    every hidden state kept when `keep_hidden`, as extraction does; with `gradients`, the activations a backward pass
    keeps, as Integrated Gradients does), a multiple of 256 between `least` and `ceiling`. (On a CPU a pass is bound
    by compute, not memory, and the callers keep their measured CPU defaults.)

    Args:
        model: The loaded model (its config, dtype and device).
        least: The fewest tokens per pass (the fixed GPU default before).
        gradients, keep_hidden: What the pass keeps (see above).
        share: Share of the free memory the batch may take.
        ceiling: The most tokens per pass.
        free: Bytes free (default: `available` on the model's device; `least` when that cannot be told).
    """
    import torch

    free = available(str(next(model.parameters()).device)) if free is None else free
    element = 2 if getattr(model, "dtype", None) in (torch.float16, torch.bfloat16) else 4
    per_token = token_bytes(model.config, element, gradients, keep_hidden)
    if free is None or per_token <= 0:
        return least
    return max(least, min(ceiling, int(share * free / per_token) // 256 * 256))


@dataclass(frozen=True)
class Shape:
    """The sizes of a transformer that its memory per token depends on, read from its (text) config under either
    naming (BERT / Llama: `hidden_size`, ...; GPT-2: `n_embd`, ...)."""

    hidden: int
    layers: int
    heads: int
    inner: int
    kv_heads: int
    head_size: int
    vocab: int

    @classmethod
    def of(cls, config) -> Shape:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd", 0)
        heads = getattr(text, "num_attention_heads", None) or getattr(text, "n_head", 0)
        return cls(hidden, getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", 0), heads,
                   getattr(text, "intermediate_size", None) or getattr(text, "n_inner", None) or 4 * hidden,
                   getattr(text, "num_key_value_heads", None) or heads,
                   getattr(text, "head_dim", None) or hidden // max(heads, 1), getattr(text, "vocab_size", 0))


def cache_bytes(config, element: int = 4) -> float:
    """Bytes one token's keys and values take in a decoder's cache: 2 x layers x key/value heads x head size."""
    shape = Shape.of(config)
    return float(2 * shape.layers * shape.kv_heads * shape.head_size * element)


def generation_rows(model, longest: int, prompt: int, fallback: int, share: float = 0.5, ceiling: int = 256,
                    free: float | None = None) -> int:
    """Prompts per generation batch on a GPU, from the memory it has free after loading the model: `share` of it
    over what a row costs — its key/value cache of `longest` tokens twice (scoring fixed answers reads a copy of the
    batch's cache), one layer's activations of its `prompt` tokens while they are read (`token_bytes` with a context
    of `longest`) and two vocabulary-wide float32 logit rows — at least 1 and at most `ceiling`; `fallback` (the
    fixed default) when the free memory cannot be told.

    Args:
        model: The loaded causal LM (its config, dtype and device).
        longest: Tokens of a row's cache, padding included.
        prompt: Tokens of the longest prompt read in one pass.
        fallback: Rows when the free memory is unknown.
        share: Share of the free memory the batch may take.
        ceiling: The most rows per batch.
        free: Bytes free (default: `available` on the model's device).
    """
    import torch

    free = available(str(next(model.parameters()).device)) if free is None else free
    if free is None:
        return fallback
    element = 2 if getattr(model, "dtype", None) in (torch.float16, torch.bfloat16) else 4
    config = model.config
    row = (2 * longest * cache_bytes(config, element)
           + prompt * token_bytes(config, element, keep_hidden=False, context=longest)
           + 2 * 4 * Shape.of(config).vocab)
    return max(1, min(ceiling, int(share * free / row)))


def token_bytes(config, element: int = 4, gradients: bool = False, keep_hidden: bool = True,
                context: int = 512) -> float:
    """Bytes one token costs in a forward pass of a transformer with this config: its hidden state at every layer
    when kept (else one layer's), a layer's transient activations (the MLP's intermediate twice, four hidden-sized
    projections, the attention scores of `context` positions per head when they are materialised); with
    `gradients`, every layer's transient activations are kept for the backward pass instead of one layer's."""
    shape = Shape.of(config)
    transient = 2 * shape.inner + 4 * shape.hidden + shape.heads * context
    kept = (shape.layers + 1) * shape.hidden if keep_hidden else shape.hidden
    return float(element * (kept + (shape.layers if gradients else 1) * transient))
