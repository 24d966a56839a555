"""Concept erasure inside a forward pass: LEACE erasers (Belrose et al. 2023, the `concept-erasure` package) fitted on
cached hidden states, a random subspace of the same rank as their control, and hooks that apply an eraser to every
position of one hidden-state layer."""

from __future__ import annotations

import contextlib

import numpy as np

from bioprobe.errors import BioprobeError


def concept_matrix(labels) -> tuple[np.ndarray, list[str]]:
    """The concept to erase as a `[items, classes]` 0/1 matrix: one-hot labels, or a multi-hot row of a label set
    ("|"-joined, multi-label tasks), with the class names."""
    sets = [str(label).split("|") if "|" in str(label) else [str(label)] for label in labels]
    names = sorted({name for names in sets for name in names if name})
    index = {name: i for i, name in enumerate(names)}
    z = np.zeros((len(sets), len(names)))
    for row, names_ in enumerate(sets):
        for name in names_:
            if name:
                z[row, index[name]] = 1
    return z, names


def fit_leace(features: np.ndarray, labels):
    """A LEACE eraser of the concept `labels` from `features` (`[items, dim]`): the least-squares change after which
    no linear classifier predicts the concept better than a constant.

    Raises:
        BioprobeError: when the items hold fewer than two classes (nothing to erase).
    """
    import torch
    from concept_erasure import LeaceEraser

    z, names = concept_matrix(labels)
    if len(names) < 2:
        raise BioprobeError(f"The items hold one class ({names[0] if names else 'none'}); there is no concept to "
                            "erase.")
    return LeaceEraser.fit(torch.as_tensor(np.asarray(features, dtype=np.float64)), torch.as_tensor(z))


def rank_of(eraser) -> int:
    """The dimension of the subspace an eraser removes (its nonzero directions)."""
    import torch

    return int(torch.linalg.matrix_rank(eraser.proj_left @ eraser.proj_right).item())


def random_eraser(dim: int, rank: int, mean, seed: int):
    """The control: the orthogonal projection out of a random `rank`-dimensional subspace (about the same mean as the
    eraser it controls for)."""
    import torch
    from concept_erasure import LeaceEraser

    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, max(rank, 1), generator=generator, dtype=torch.float64))
    basis = basis[:, :rank]
    return LeaceEraser(basis, basis.T.clone(), torch.as_tensor(mean, dtype=torch.float64))


def erase(eraser, hidden):
    """`hidden` (`[..., dim]`) with the eraser applied, in its own dtype and device."""
    left = eraser.proj_left.to(hidden.device, hidden.dtype)
    right = eraser.proj_right.to(hidden.device, hidden.dtype)
    delta = hidden - eraser.bias.to(hidden.device, hidden.dtype) if eraser.bias is not None else hidden
    return hidden - (delta @ right.T) @ left.T


def last_layer_module(model, inputs: dict):
    """The module whose output is the last hidden state the model reports (`hidden_states[-1]`): the last block, or
    the final norm after it (decoders), found by comparing on one batch."""
    import torch

    from bioprobe.causal.params import blocks_of

    blocks = blocks_of(model)
    candidates = [blocks[-1]] + [module for name, module in model.named_modules()
                                 if name.rsplit(".", 1)[-1] in ("norm", "ln_f", "layer_norm", "final_layer_norm")
                                 and not any(module is m for block in blocks for m in block.modules())]
    seen = {}
    handles = [module.register_forward_hook(lambda mod, args, out, i=i: seen.setdefault(i, _hidden(out)))
               for i, module in enumerate(candidates)]
    try:
        with torch.inference_mode():
            wanted = model(**inputs, output_hidden_states=True).hidden_states[-1]
    finally:
        for handle in handles:
            handle.remove()
    for i, module in enumerate(candidates):
        if i in seen and seen[i].shape == wanted.shape and torch.allclose(seen[i], wanted, atol=1e-5):
            return module
    raise BioprobeError(f"Cannot tell which module of {type(model).__name__} gives its last hidden state.")


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def erasing(model, layer: int, eraser, last_module=None):
    """Apply `eraser` to hidden-state layer `layer` (0 = embeddings, l = after block l) at every position while the
    context is open: on the input of block `layer`, or on the output of `last_module` for the last layer."""
    from bioprobe.causal.params import blocks_of

    blocks = blocks_of(model)
    if layer < len(blocks):
        def before(module, args, kwargs):
            if args:
                return (erase(eraser, args[0]), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": erase(eraser, kwargs["hidden_states"])}

        handle = blocks[layer].register_forward_pre_hook(before, with_kwargs=True)
    else:
        def after(module, args, output):
            if isinstance(output, tuple):
                return (erase(eraser, output[0]), *output[1:])
            return erase(eraser, output)

        handle = last_module.register_forward_hook(after)
    try:
        yield
    finally:
        handle.remove()
