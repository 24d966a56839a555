"""The weight-space difference of a tuned run (`bioprobe diff`): per weight, block and module kind, the relative
change ||W_tuned - W_pre||_F / ||W_pre||_F and the spectrum of the change; a LoRA run's from its adapter (B·A·scale),
without merging. Data-free: no item is read."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.settings import DiffSettings

SPECTRUM_TOP = (1, 8)
"""The spectrum rows: the share of the change's energy (squared singular values) in its top 1 and top 8 directions."""


def spectrum(delta) -> dict[str, float]:
    """How concentrated a matrix's change is.

    Args:
        delta: `[rows, columns]` tensor, the change of one weight matrix.

    Returns:
        `top1_energy`, `top8_energy` (share of sum of squared singular values in the largest 1 / 8) and
        `effective_rank` (Roy & Vetterli 2007: exp of the entropy of the singular values normalised to sum 1; a rank-r
        change with equal singular values has r). NaN for a zero change.
    """
    import torch

    values = torch.linalg.svdvals(delta.detach().double()).cpu().numpy()
    energy = values ** 2
    total = energy.sum()
    if total <= 0:
        return {f"top{k}_energy": float("nan") for k in SPECTRUM_TOP} | {"effective_rank": float("nan")}
    out = {f"top{k}_energy": float(energy[:k].sum() / total) for k in SPECTRUM_TOP}
    p = values / values.sum()
    p = p[p > 0]
    out["effective_rank"] = float(math.exp(-(p * np.log(p)).sum()))
    return out


def lora_delta(module, adapter: str):
    """The update a LoRA layer adds to its base weight, `scale · B @ A`, in the base weight's layout (transposed for
    GPT-2's Conv1D, `fan_in_fan_out`).

    Returns:
        `(delta, pretrained weight)` tensors of the same shape (a 4-bit base weight dequantised).
    """
    from peft.utils.integrations import dequantize_module_weight

    a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
    delta = (b.double() @ a.double()) * float(module.scaling[adapter])
    if getattr(module, "fan_in_fan_out", False):
        delta = delta.T
    return delta, dequantize_module_weight(module.base_layer).double()


def changes(model, pretrained=None):
    """Every weight's change, as `(name, layer, group, delta, pretrained)`.

    Args:
        model: The tuned model (a PEFT model for a LoRA run, unmerged).
        pretrained: The pretrained model of a fully tuned run (ignored for a LoRA run).

    Yields:
        Canonical names (`bioprobe.causal.params.canonical`); GPT-2's fused `c_attn` split into q / k / v thirds
        (`...c_attn.weight[q]`); a task head with no pretrained counterpart has `pretrained` None.
    """
    from bioprobe.causal import params

    n_layers = params.n_layers_of(model)
    if params.is_lora(model):
        import torch
        from peft.utils.integrations import dequantize_bnb_weight

        inner, prefix = params.unwrap(model), params.body_prefix(model)
        adapted = set()
        for name, module in inner.named_modules():
            if hasattr(module, "lora_A") and hasattr(module, "base_layer") and len(module.lora_A):
                adapter = next(iter(module.lora_A))
                delta, before = lora_delta(module, adapter)
                adapted.add(name + ".base_layer.weight")
                yield from _split(params.canonical(name + ".weight", prefix), n_layers, delta, before)
        for name, tensor in inner.named_parameters():
            if ".modules_to_save." in name:  # a head trained beside the adapter
                yield params.canonical(name, prefix), None, "head", tensor.detach().double(), None
            elif not (name in adapted or params.LORA.search(name) or ".original_module." in name):
                # a weight the adapter leaves as it was: no change, but part of its block's and the body's norm
                weight = dequantize_bnb_weight(tensor) if type(tensor).__name__ == "Params4bit" else tensor
                before = weight.detach().double()
                yield from _split(params.canonical(name, prefix), n_layers, torch.zeros_like(before), before)
        return
    reference = params.state(pretrained)
    for name, tensor in params.state(model).items():
        before = reference.get(name)
        layer, group = params.locate(name, n_layers)
        if before is None or tuple(before.shape) != tuple(tensor.shape):
            yield name, layer, group, tensor.detach().double(), None
            continue
        yield from _split(name, n_layers, tensor.detach().double() - before.detach().double(), before.detach().double())


def _split(name: str, n_layers: int, delta, before):
    """One weight's change, GPT-2's fused query / key / value projection as its three parts."""
    from bioprobe.causal import params

    layer, group = params.locate(name, n_layers)
    if group != "qkv":
        yield name, layer, group, delta, before
        return
    axis = delta.dim() - 1  # Conv1D: [in, 3 * hidden] weight, [3 * hidden] bias; the thirds are along the last axis
    for part, d, b in zip("qkv", delta.chunk(3, dim=axis), before.chunk(3, dim=axis)):
        yield f"{name}[{part}]", layer, part, d, b


def diff_rows(model, pretrained=None) -> list[dict]:
    """Tidy rows of the change of every weight, and of each block, module kind and the whole body.

    Returns:
        Per weight (`module` its name): `relative_change`, `delta_norm` and, for matrices, `top1_energy`,
        `top8_energy`, `effective_rank`; per layer and group (`module` "all"): `relative_change` and `delta_norm`
        of the group's weights together (root of summed squares); per layer the same over the block (`group`
        "block"); the whole body (`group` "model", no layer). A head with no pretrained counterpart gets `delta_norm`
        only (its norm: all of it is new).
    """
    rows, sums = [], {}
    for name, layer, group, delta, before in changes(model, pretrained):
        moved = float(delta.norm() ** 2)
        if before is None:
            rows.append({"layer": layer, "module": name, "group": group, "metric": "delta_norm",
                         "value": math.sqrt(moved)})
            continue
        base = float(before.norm() ** 2)
        row = {"layer": layer, "module": name, "group": group}
        rows.append({**row, "metric": "relative_change", "value": math.sqrt(moved / base) if base else float("nan")})
        rows.append({**row, "metric": "delta_norm", "value": math.sqrt(moved)})
        if delta.dim() == 2 and moved > 0:
            rows += [{**row, "metric": metric, "value": value} for metric, value in spectrum(delta).items()]
        if group == "head":
            continue
        for key in ((layer, group), (layer, "block"), (None, "model")):
            total = sums.setdefault(key, [0.0, 0.0])
            total[0] += moved
            total[1] += base
    for (layer, group), (moved, base) in sorted(sums.items(), key=lambda item: (item[0][0] is None, item[0])):
        row = {"layer": layer, "module": "all", "group": group}
        rows.append({**row, "metric": "relative_change", "value": math.sqrt(moved / base) if base else float("nan")})
        rows.append({**row, "metric": "delta_norm", "value": math.sqrt(moved)})
    return rows


def unchanged(rows: list[dict]) -> bool:
    """Whether the body's weights equal the pretrained ones exactly (the whole-body relative change is 0)."""
    return any(row["group"] == "model" and row["metric"] == "relative_change" and row["value"] == 0 for row in rows)


@dataclass
class DiffResult:
    """What `run_diff` wrote: its table, rows, and whether the tuned weights equal the pretrained ones."""

    table: Path
    rows: list[dict]
    unchanged: bool
    relative_change: float
    reused: bool = False


def run_diff(settings: DiffSettings | None = None, **fields) -> DiffResult:
    """The weight-space difference of one tuned run against its pretrained model (`bioprobe diff`).

    Args:
        settings: Which run (`bioprobe.settings.DiffSettings`; or its fields as keyword arguments).
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written (or reused) and its rows.
    """
    from bioprobe.causal.runs import find_run, load_run
    from bioprobe.probing.activations import _fingerprint
    from bioprobe.settings import build, values
    from bioprobe.tasks import get_task

    s = build(DiffSettings, fields, "run_diff") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    source = find_run(spec.name, s.model_name, s.training_size, s.seed, s.runs_dir, s.objective)
    path = runstore.results_path(s.runs_dir, "diff", spec.name, source.name, s.training_size, s.seed,
                                 objective=s.objective)
    recorded = {**values(s, ("eval",)), "data": None, "fingerprint": _fingerprint(source, s.model_name, s.seed)}
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return DiffResult(path, rows, unchanged(rows), _whole(rows), reused=True)
    started = time.perf_counter()
    run = load_run(source, s.runs_dir, s.seed, s.device)
    found = diff_rows(run.tuned.model, run.pretrained.model if run.pretrained is not None else None)
    from bioprobe.causal.params import n_layers_of

    common = {"analysis": "diff", "task": spec.name, "model": source.name, "training_size": s.training_size,
              "seed": s.seed, "head": None, "objective": s.objective, "kind": source.kind,
              "n_layers": n_layers_of(run.tuned.model), "lora": run.lora}
    rows = [{**common, **row} for row in found]
    runstore.write_table(path, rows)
    runstore.write_sidecar(path, recorded, analysis="diff", table=path.name, task=spec.name, model=source.name,
                           training_size=s.training_size, seed=s.seed, lora=run.lora, unchanged=unchanged(rows),
                           seconds=round(time.perf_counter() - started, 2), environment=runstore.environment())
    return DiffResult(path, rows, unchanged(rows), _whole(rows))


def _whole(rows: list[dict]) -> float:
    return next((float(row["value"]) for row in rows if row["group"] == "model" and row["metric"] ==
                 "relative_change"), float("nan"))
