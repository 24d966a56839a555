"""Where each weight of a transformer sits (block, kind of module, a head's slices of the attention projections) for
every registered family, and patches that swap parts of a tuned model's update out in place and back exactly."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from bioprobe.errors import BioprobeError

BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")
"""A transformer block's index in a parameter name (`encoder.layer.3.`, `layers.3.`, `h.3.`)."""

GROUPS = (  # (group, name fragments), first match wins: norms before the projections whose names they extend
    ("norm", ("layernorm", "layer_norm", "ln_", "norm")),
    ("embeddings", ("embed", "wte.", "wpe.")),
    ("q", ("attention.self.query.", "q_proj.", "attn.q.")),
    ("k", ("attention.self.key.", "k_proj.", "attn.k.")),
    ("v", ("attention.self.value.", "v_proj.", "attn.v.")),
    ("qkv", ("attn.c_attn.",)),
    ("o", ("attention.output.dense.", "o_proj.", "out_proj.", "attn.c_proj.")),
    ("mlp", ("intermediate.", "output.dense.", "mlp.", "fc1.", "fc2.", "c_fc.", "gate_proj.", "up_proj.",
             "down_proj.")),
)
"""Module kinds: attention q / k / v / o (GPT-2's fused c_attn is `qkv`, split into its thirds by `weights`), MLP,
norms, embeddings; anything else in the body is `other`, the task head `head`."""

LORA = re.compile(r"\.lora_[AB]\.[^.]+\.weight$|\.lora_[AB]\.weight$")


def group_of(name: str) -> str:
    """The module kind of a body parameter's name (see `GROUPS`)."""
    lowered = name.lower() + "."
    for group, fragments in GROUPS:
        if any(fragment in lowered for fragment in fragments):
            return group
    return "other"


def unwrap(model):
    """The transformers model inside a PEFT wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def is_lora(model) -> bool:
    """Whether the model carries LoRA adapters (unmerged)."""
    return any(LORA.search(name) for name, _ in model.named_parameters())


def body_prefix(model) -> str:
    """The attribute holding the transformer body of a model with a task head (`bert`, `model`, `transformer`), or ""
    for a model that is the body itself."""
    import torch

    inner = unwrap(model)
    prefix = inner.base_model_prefix
    return prefix if isinstance(getattr(inner, prefix, None), torch.nn.Module) else ""


def canonical(name: str, prefix: str) -> str:
    """A parameter's name relative to the transformer body (`encoder.layer.0...`, `layers.0...`), the same for a
    model with a task head, one without (`prefix` ""), and inside a PEFT wrapper; a head parameter keeps its name
    behind `head:`. PEFT's `base_layer.` is dropped (the frozen weight an adapter sits on) and a head's trained copy
    (`modules_to_save.<adapter>.`) takes the head's name."""
    name = re.sub(r"^base_model\.model\.", "", name).replace(".base_layer.", ".")
    name = re.sub(r"\.modules_to_save\.[^.]+\.", ".", name)
    if not prefix:
        return name
    return name[len(prefix) + 1:] if name.startswith(prefix + ".") else "head:" + name


def locate(name: str, n_layers: int) -> tuple[int | None, str]:
    """`(layer, group)` of a canonical parameter name: layer 0 for the embeddings (their own norm included: BERT's
    `embeddings.LayerNorm`, a `norm` by kind), l for transformer block l (1-based, as hidden states are numbered),
    `n_layers` for what the body holds after its last block (the final norm, BERT's pooler); `(None, "head")` for
    the task head."""
    if name.startswith("head:"):
        return None, "head"
    found = BLOCK.search("." + name)
    group = group_of(name)
    if found:
        return int(found.group(1)) + 1, group
    return (0 if group == "embeddings" or "embed" in name.lower() else n_layers), group


def n_layers_of(model) -> int:
    config = unwrap(model).config
    return int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer"))


def blocks_of(model) -> list:
    """The transformer blocks of a model, in order.

    Raises:
        BioprobeError: when no list of blocks of the configured depth is found.
    """
    import torch

    n = n_layers_of(model)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n and \
                name.rsplit(".", 1)[-1] in ("layer", "layers", "h", "blocks"):
            return list(module)
    raise BioprobeError(f"Cannot find the {n} transformer blocks of {type(model).__name__}; erasure needs them.")


def heads_of(model) -> tuple[int, int, int]:
    """`(attention heads, key/value heads, head dimension)` of a model's config."""
    config = unwrap(model).config
    heads = int(config.num_attention_heads)
    kv = int(getattr(config, "num_key_value_heads", None) or heads)
    dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return heads, kv, dim


def state(model) -> dict:
    """Canonical name -> tensor of every weight of a model (tied weights under each of their names), LoRA factors and
    PEFT's untrained copies of a head left out."""
    prefix = body_prefix(model)
    return {canonical(name, prefix): tensor for name, tensor in unwrap(model).state_dict(keep_vars=True).items()
            if not LORA.search(name) and ".original_module." not in name}


@dataclass
class Patch:
    """One part of a tensor set to other values while a `swapped` context is open.

    Attributes:
        tensor: The tuned model's parameter.
        index: What part of it (a tuple of slices; `()` is all of it).
        value: What that part holds meanwhile (a pretrained tensor's same part), or None for zeros (a LoRA factor:
            its share of the update removed).
    """

    tensor: object
    index: tuple
    value: object = None


@contextlib.contextmanager
def swapped(patches: list[Patch]):
    """Apply `patches` in place; restore every tensor exactly on leaving (also after an error)."""
    import torch

    saved = []
    try:
        with torch.no_grad():
            for patch in patches:
                part = patch.tensor[patch.index] if patch.index else patch.tensor
                saved.append((patch, part.detach().clone()))
                if patch.value is None:
                    part.zero_()
                else:
                    part.copy_(patch.value[patch.index] if patch.index else patch.value)
        yield
    finally:
        with torch.no_grad():
            for patch, original in reversed(saved):
                (patch.tensor[patch.index] if patch.index else patch.tensor).copy_(original)


class Reverter:
    """The patches that take parts of a tuned model's update back: whole blocks, or one attention head's slices of
    the query / key / value and output projections.

    A fully tuned run's parts are set to the pretrained weights (`pretrained`: its model, loaded once, any head);
    a LoRA run's parts get their adapter factor zeroed there (B for a block and for a head's output rows of q / k / v,
    A's input columns for the output projection), so the delta B·A·scale vanishes exactly there. The task head is
    never reverted unless asked (`everything(head=True)`: the pretrained model itself, what an instruction run's size
    0 is). A head tied to the input embeddings gets its own copy once, so reverting the embeddings keeps the tuned head.

    Raises:
        BioprobeError: when a tuned weight has no pretrained counterpart of the same shape (another architecture, or
            tokens added to the vocabulary).
    """

    def __init__(self, model, pretrained=None):
        import torch

        self.model = model
        self.lora = is_lora(model)
        self.n_layers = n_layers_of(model)
        self.n_heads, self.n_kv, self.head_dim = heads_of(model)
        inner = unwrap(model)
        if not self.lora:
            output, inputs = inner.get_output_embeddings(), inner.get_input_embeddings()
            if output is not None and inputs is not None and output.weight is inputs.weight:
                output.weight = torch.nn.Parameter(inputs.weight.detach().clone())
        self.tuned = state(model)
        self.where = {name: locate(name, self.n_layers) for name in self.tuned}
        self.pretrained = state(pretrained) if pretrained is not None else {}
        if not self.lora:
            if pretrained is None:
                raise ValueError("A fully tuned model needs its pretrained model to revert to.")
            for name, tensor in self.tuned.items():
                if self.where[name][1] == "head":
                    continue
                other = self.pretrained.get(name)
                if other is None or tuple(other.shape) != tuple(tensor.shape):
                    what = "has no counterpart" if other is None else \
                        f"has shape {tuple(tensor.shape)} against the pretrained {tuple(other.shape)}"
                    raise BioprobeError(f"The tuned weight {name} {what} in the pretrained model, so the update "
                                        "cannot be taken back there (another architecture, or tokens added to the "
                                        "vocabulary).")
        self.adapters = self._adapters() if self.lora else {}
        prefix = body_prefix(model)  # GPT-2's Conv1D modules store their weight as [in, out]
        self.conv1d = {canonical(name + ".weight", prefix)[:-len(".weight")] for name, sub in inner.named_modules()
                       if type(sub).__name__ == "Conv1D"}

    def _adapters(self) -> dict:
        """Canonical module name -> (LoRA A weight, LoRA B weight) of the active adapter of every LoRA layer."""
        inner, prefix = unwrap(self.model), body_prefix(self.model)
        out = {}
        for name, module in inner.named_modules():
            if hasattr(module, "lora_A") and hasattr(module, "base_layer"):
                active = [key for key in module.lora_A if key in getattr(module, "active_adapters", ["default"])]
                if active:
                    key = active[0]
                    out[canonical(name + ".weight", prefix)[:-len(".weight")]] = (module.lora_A[key].weight,
                                                                                  module.lora_B[key].weight)
        return out

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer <= self.n_layers:
            raise BioprobeError(f"Layer {layer} is out of range: the model has layers 0-{self.n_layers} "
                                "(0 = embeddings).")

    def check_head(self, head: int) -> None:
        if not 0 <= head < self.n_heads:
            raise BioprobeError(f"Head {head} is out of range: the model has heads 0-{self.n_heads - 1} a layer.")

    def blocks(self, layers) -> list[Patch]:
        """Patches reverting every weight of the given layers (0 = embeddings; the last also holds the final norm)."""
        layers = set(layers)
        for layer in layers:
            self.check_layer(layer)
        if self.lora:
            return [Patch(b, ()) for name, (a, b) in self.adapters.items()
                    if locate(name + ".weight", self.n_layers)[0] in layers]
        return [Patch(tensor, (), self.pretrained[name]) for name, tensor in self.tuned.items()
                if self.where[name][0] in layers and self.where[name][1] != "head"]

    def everything(self, head: bool = False) -> list[Patch]:
        """Patches reverting the whole body (and with `head`, the head too where the pretrained model has it)."""
        patches = self.blocks(range(self.n_layers + 1))
        if head and not self.lora:
            patches += [Patch(tensor, (), self.pretrained[name]) for name, tensor in self.tuned.items()
                        if self.where[name][1] == "head" and name in self.pretrained
                        and tuple(self.pretrained[name].shape) == tuple(tensor.shape)]
        return patches

    def head(self, layer: int, head: int) -> list[Patch]:
        """Patches reverting one attention head of block `layer` (1-based): its rows of the query, key and value
        projections and its columns of the output projection. Under grouped-query attention (fewer key / value heads
        than heads) the key and value slices are shared by a group of heads and are left tuned."""
        self.check_layer(layer)
        self.check_head(head)
        if layer == 0:
            raise BioprobeError("Layer 0 is the embeddings; it has no attention heads (heads are in layers 1-"
                                f"{self.n_layers}).")
        rows = slice(head * self.head_dim, (head + 1) * self.head_dim)
        hidden = self.n_heads * self.head_dim
        parts = [("q", "out", rows), ("o", "in", rows)]
        if self.n_kv == self.n_heads:
            parts += [("k", "out", rows), ("v", "out", rows)]
        patches = []
        for name, (where, group) in self.where.items():
            if where != layer or not name.endswith(".weight") or group not in ("q", "k", "v", "o", "qkv"):
                continue
            module = name[:-len(".weight")]
            if group == "qkv":  # GPT-2's fused projection: q, k, v thirds of its output
                wanted = [("out", slice(rows.start + third * hidden, rows.stop + third * hidden))
                          for third in range(3)]
            else:
                wanted = [(axis, part) for kind, axis, part in parts if kind == group]
            for axis, part in wanted:
                patches += self._slice(module, axis, part)
        return patches

    def _slice(self, module: str, axis: str, part: slice) -> list[Patch]:
        """Patches of one module's output rows (`axis` "out") or input columns ("in")."""
        if self.lora:
            if module not in self.adapters:
                return []  # no adapter there: nothing of the update to remove
            a, b = self.adapters[module]
            return [Patch(b, (part, slice(None)))] if axis == "out" else [Patch(a, (slice(None), part))]
        weight = self.tuned[module + ".weight"]
        conv1d = module in self.conv1d
        dim = (1 if conv1d else 0) if axis == "out" else (0 if conv1d else 1)
        index = (slice(None), part) if dim == 1 else (part, slice(None))
        patches = [Patch(weight, index, self.pretrained[module + ".weight"])]
        bias = self.tuned.get(module + ".bias")
        if axis == "out" and bias is not None:
            patches.append(Patch(bias, (part,), self.pretrained[module + ".bias"]))
        return patches
