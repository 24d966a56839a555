"""Reading a language model's hidden states in its output vocabulary: one forward pass of the body per batch gives
every layer's hidden state (0 = the embeddings, l = the output of block l), which the model's final norm and
unembedding (an encoder's masked-LM head) turn into token distributions. Read this way the last layer is the model's
own logits; a lower layer is the logit lens (nostalgebraist 2020)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bioprobe.errors import BioprobeError

FINAL_NORMS = ("norm", "ln_f", "layer_norm", "final_layer_norm", "final_layernorm", "final_norm", "norm_f")
"""Names of the norm a decoder body applies after its last block (Llama / Mistral / Gemma, GPT-2, BioGPT, OPT in
its `decoder`, Phi, ...)."""
CHUNK = 256
"""Positions projected onto the vocabulary at once (smollm2: 256 x 49k floats, 50 MB)."""


@dataclass
class Readout:
    """How one model's hidden states become token logits.

    Attributes:
        body: The transformer body (called directly: no position is projected onto the vocabulary in the pass).
        norm: The final norm of a pre-norm decoder, or None (a post-norm encoder's layers are normed already).
        head: The unembedding (`lm_head`) or an encoder's whole masked-LM head (transform and decoder).
        n_layers: Transformer blocks.
        softcap: The final logit soft-capping the model applies (Gemma 2: cap * tanh(logits / cap)), or None.
    """

    body: object
    norm: object | None
    head: object
    n_layers: int
    softcap: float | None = None

    @classmethod
    def of(cls, model, name: str = "the model") -> Readout:
        """The readout of a causal- or masked-LM model (inside a PEFT wrapper too).

        Raises:
            BioprobeError: for a model without a language-model head (a classifier), a decoder whose final norm
                cannot be found (its lower layers would be read without it), or a model whose last layer read this
                way is not its own prediction (a head this reading does not know: `check`).
        """
        from bioprobe.causal.params import body_prefix, n_layers_of, unwrap

        inner = unwrap(model)
        prefix = body_prefix(model)
        output = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
        if not prefix or output is None:
            raise BioprobeError(f"{name} has no language-model head ({type(inner).__name__}); the divergence and the "
                                "lens read token distributions through one.")
        body = getattr(inner, prefix)
        head = next(child for child_name, child in inner.named_children() if child_name != prefix and
                    any(module is output for module in child.modules()))
        owners = (body, *body.children())  # on the body, or one level down (OPT: body.decoder)
        norm = next((getattr(owner, n) for owner in owners for n in FINAL_NORMS
                     if getattr(owner, n, None) is not None), None)
        if norm is None and not type(inner).__name__.endswith("ForMaskedLM"):  # a post-norm BERT encoder has none
            raise BioprobeError(f"Cannot find the final norm of {name} ({type(inner).__name__}: none of "
                                f"{', '.join(FINAL_NORMS)}), so its lower layers cannot be read as its last layer "
                                "is.")
        readout = cls(body, norm, head, n_layers_of(model), getattr(inner.config, "final_logit_softcapping", None))
        readout.check(model, name)
        return readout

    def check(self, model, name: str = "the model") -> None:
        """Refuse a model whose last layer, read through this readout, is not its own prediction (a head or norm
        this reading does not know, e.g. ModernBERT's transform beside its decoder): one forward pass of 8 tokens.

        Raises:
            BioprobeError: naming the largest difference.
        """
        import torch

        from bioprobe.causal.params import unwrap

        device = next(model.parameters()).device
        ids = torch.arange(1, 9, device=device)[None] % unwrap(model).get_output_embeddings().weight.shape[0]
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        with torch.inference_mode():
            own = model(**inputs).logits.float()
            read = self.logits(self.states(inputs)[-1])
        gap = float((own - read).abs().max())
        if gap > 1e-3 * max(1.0, float(own.abs().max())):
            raise BioprobeError(f"The last layer of {name} read through its final norm and head differs from its own "
                                f"logits (by up to {gap:.3g}), so its layers cannot be read this way; the lens and "
                                "the divergence support decoders with a final norm and BERT-style masked-LM heads.")

    def states(self, inputs: dict) -> list:
        """One forward pass of the body: the hidden state of every layer, `[batch, length, hidden]` each, layers 0
        (the embeddings) to `n_layers`. The last is what the final norm receives (the body returns it normed)."""
        kept = []
        handle = None
        if self.norm is not None:
            def keep(module, args, kwargs):
                kept.append(args[0] if args else kwargs["hidden_states"])
            handle = self.norm.register_forward_pre_hook(keep, with_kwargs=True)
        try:
            allowed = ("input_ids", "attention_mask", "token_type_ids")
            out = self.body(**{k: v for k, v in inputs.items() if k in allowed}, output_hidden_states=True)
        finally:
            if handle is not None:
                handle.remove()
        hidden = list(out.hidden_states)
        if len(hidden) != self.n_layers + 1:
            raise BioprobeError(f"The body returned {len(hidden)} hidden states for {self.n_layers} blocks.")
        if self.norm is not None:
            hidden[-1] = kept[-1]
        return hidden

    def logits(self, hidden):
        """`[..., hidden]` -> `[..., vocabulary]` float32 logits: the final norm, the head, any soft-capping."""
        if self.norm is not None:
            hidden = self.norm(hidden)
        logits = self.head(hidden).float()
        if self.softcap:
            import torch

            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def log_probs(self, hidden, chunk: int = CHUNK):
        """`[positions, hidden]` -> `[positions, vocabulary]` log-probabilities, projected `chunk` positions at a
        time (yields `(start, log_probs)` so a caller never holds more than a chunk's vocabulary rows)."""
        import torch

        for start in range(0, len(hidden), chunk):
            yield start, torch.log_softmax(self.logits(hidden[start:start + chunk]), dim=-1)


def gold_prob_rank(logits, gold):
    """Probability and rank (1 = the top logit; 1 + the number of tokens with a strictly larger logit) of the gold
    token at each position.

    Args:
        logits: `[positions, vocabulary]`.
        gold: `[positions]` token ids.

    Returns:
        `(prob [positions], rank [positions])` tensors.
    """
    import torch

    chosen = logits.gather(-1, gold[:, None])
    prob = torch.exp(chosen[:, 0] - torch.logsumexp(logits, dim=-1))
    rank = 1 + (logits > chosen).sum(-1)
    return prob, rank


def same_tokenizer(a, b) -> bool:
    """Whether two tokenizers map the same strings to the same ids (their vocabularies, added tokens included)."""
    return a.get_vocab() == b.get_vocab()


def load_masked_lm(name_or_resolved, device: str | None = None):
    """An encoder with its masked-LM head (`load_model(head="masked-lm")`).

    Raises:
        BioprobeError: when the weights hold no masked-LM head (a sentence-embedding model such as minilm, whose
            package keeps the encoder only), or for a hub id that cannot be reached.
    """
    from bioprobe.models import load_model

    return load_model(name_or_resolved, head="masked-lm", device=device)


def has_masked_lm_head(name: str) -> bool | None:
    """Whether a local encoder's weight files hold a masked-LM head (read from the tensor names, no weights loaded);
    None when it cannot be told here (a hub id, a .bin checkpoint)."""
    import json
    from pathlib import Path

    from bioprobe.registry import resolve_model

    try:
        folder = Path(resolve_model(name).source)
    except BioprobeError:
        return None
    names: list[str] = []
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = list(json.loads(index.read_text()).get("weight_map", {}))
    elif (folder / "model.safetensors").is_file():
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            names = list(weights.keys())
    if not names:
        return None
    return any(n.startswith(("cls.predictions.", "lm_head.", "generator_lm_head.")) for n in names)


@contextlib.contextmanager
def nothing():
    """A context that changes nothing (the reading of a model as it is)."""
    yield
