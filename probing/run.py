"""`run_probing(...)`: probes on every layer (with control task, MDL and bootstrap intervals) and CKA against the
pretrained model, written as one tidy table; what `bioprobe probe` and the task scripts call."""

from __future__ import annotations

import os
import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.registry import get_task


@dataclass
class ProbingResult:
    """What one probing run wrote.

    Attributes:
        table: Path of the tidy table.
        rows: Its rows.
        figures: Figures drawn from all probing tables of the runs dir.
        reused: True when the table was already there for the same settings and activations.
    """

    table: Path
    rows: list[dict]
    figures: list[Path]
    reused: bool = False


def layer_numbers(text: str | None) -> list[int] | None:
    """`None`/"all" -> None (every layer); "0,3,5-6" -> [0, 3, 5, 6].

    Raises:
        BioprobeError: for text that does not parse.
    """
    if text is None or text.strip().lower() == "all":
        return None
    chosen: set[int] = set()
    for part in text.split(","):
        found = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", part)
        if found is None:
            raise BioprobeError(f"--layers '{text}' does not parse; give numbers and ranges like 0,3,5-6 or all.")
        low = int(found.group(1))
        chosen.update(range(low, int(found.group(2) or low) + 1))
    return sorted(chosen)


def parse_layers(text: str | None, n_layers: int, model: str) -> list[int]:
    """The layers `text` names (see `layer_numbers`), checked against a model with `n_layers` layers.

    Raises:
        BioprobeError: for text that does not parse or a layer outside `0..n_layers` (0 = embeddings).
    """
    chosen = layer_numbers(text)
    if chosen is None:
        return list(range(n_layers + 1))
    outside = [layer for layer in chosen if not 0 <= layer <= n_layers]
    if outside:
        raise BioprobeError(f"Layer {outside[0]} is out of range: {model} has layers 0-{n_layers} (0 = embeddings).")
    return chosen


def task_labels(task: str, gold: np.ndarray, bio: bool) -> np.ndarray:
    """The probe's label per item: NER entity type with B and I merged (or the BIO tag with `bio`), NLI label."""
    if task != "ner" or bio:
        return gold
    return np.array([tag.split("-", 1)[1] if tag[:2] in ("B-", "I-") else tag for tag in gold], dtype=str)


def align(reference, other) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `reference` and `other` that hold the same items (same sentence and word), in the same order."""
    def keys(acts):
        return acts.unit.astype(np.int64) * 1_000_000 + acts.word.astype(np.int64)

    ref_keys, other_keys = keys(reference), keys(other)
    common, ref_rows, other_rows = np.intersect1d(ref_keys, other_keys, assume_unique=True, return_indices=True)
    return ref_rows, other_rows


def run_probing(task: str, model_name: str, training_size: int = 0, data: str | None = None, seed: int = 42,
                layers: str | None = None, pooling: str | None = None, probe: str = "logistic",
                control: bool = True, mdl: bool = True, cka: bool = True, debiased: bool = True,
                baseline: str | None = None, bio: bool = False, limit: int | None = None,
                max_length: int = 128, batch_tokens: int | None = None, runs_dir=None, device: str | None = None,
                labels: tuple[str, ...] | None = None, figures: bool = True, overwrite: bool = False) -> ProbingResult:
    """Probe every layer of a model on a task and compare it with the pretrained model.

    Probes are trained on the train split and scored on the test split (vectors from the activation cache,
    extracted first when missing). Per layer: accuracy and macro-F1 with 95 % bootstrap intervals (over sentences
    for NER, pairs for NLI), the control task and selectivity (Hewitt & Liang 2019), MDL online codelength and
    compression (Voita & Titov 2020); for a fine-tuned model or a random-init baseline, linear CKA of each layer
    with the same layer of the pretrained model (test items) and the layer-by-layer CKA matrix.

    Args:
        task: "ner" or "nli".
        model_name: Registry name, hub id or local folder.
        training_size: 0 probes the pretrained model; N the fine-tuned checkpoint of `bioprobe finetune`.
        data: Data source (default: the run's data for N > 0, else the task default).
        seed: Seed of the fine-tuning run, the probes, controls and bootstrap.
        layers: "all" (default) or e.g. "0,3,5-6".
        pooling: See `probing.extract.POOLINGS`.
        probe: "logistic" (default), "svc" or "mlp".
        control, mdl, cka: Compute the control task, MDL, CKA.
        debiased: Debiased CKA (default) or the standard estimator.
        baseline: "random-init": freshly initialised weights of the same architecture (with training_size 0).
        bio: NER: probe BIO tags instead of entity types.
        limit: Seeded sample of this many sentences / pairs per split.
        max_length, batch_tokens, device, labels: Extraction settings (see `get_activations`).
        runs_dir: The runs dir.
        figures: Redraw the probing figures from the tables afterwards.
        overwrite: Probe again even when the table for these settings and activations exists.

    Returns:
        The table written and its rows.
    """
    from probing.activations import get_activations
    from probing.extract import DEFAULT_POOLING
    from probing.probes import PROBES

    spec = get_task(task)
    if probe not in PROBES:
        raise BioprobeError(f"Unknown probe '{probe}'; use one of {', '.join(PROBES)}.")
    pooling = pooling or DEFAULT_POOLING[spec.name]
    layer_numbers(layers)  # a typo is reported before any extraction
    fetch = dict(task=spec.name, model_name=model_name, pooling=pooling, limit=limit, data=data, seed=seed,
                 max_length=max_length, batch_tokens=batch_tokens, runs_dir=runs_dir, device=device, labels=labels)
    train = get_activations(training_size=training_size, split="train", baseline=baseline, **fetch)
    test = get_activations(training_size=training_size, split="test", baseline=baseline, **fetch)
    chosen = parse_layers(layers, train.n_layers, train.meta["model"])
    reference = None
    if cka and (training_size > 0 or baseline):
        reference = get_activations(training_size=0, split="test", **{**fetch, "data": test.meta["data"]})

    variant = "-".join(filter(None, [baseline, probe, pooling, "bio" if bio else None]))
    path = runstore.results_path(runs_dir, "probing", spec.name, train.meta["model"], training_size, seed, variant)
    settings = {"layers": chosen, "probe": probe, "pooling": pooling, "control": control, "mdl": mdl,
                "cka": reference is not None, "debiased": debiased, "bio": bio, "baseline": baseline, "limit": limit,
                "max_length": max_length, "data": train.meta["data"],
                "fingerprints": [acts.meta["fingerprint"] for acts in (train, test, reference) if acts is not None]}
    sidecar = path.with_suffix(".json")
    if not overwrite and path.is_file() and sidecar.is_file() and runstore.read_json(sidecar).get("settings") == \
            settings:
        import pandas as pd

        rows = pd.read_csv(path).to_dict("records")
        return ProbingResult(path, rows, _draw(runs_dir) if figures else [], reused=True)

    started = time.perf_counter()
    rows = probe_layers(spec.name, train, test, chosen, probe=probe, control=control, mdl=mdl, bio=bio, seed=seed)
    if reference is not None:
        rows += cka_rows(reference, test, chosen, debiased)
    common = {"analysis": "probing", "task": spec.name, "model": train.meta["model"],
              "training_size": training_size, "seed": seed, "probe": probe, "pooling": pooling,
              "baseline": baseline or "", "bio": bio, "kind": train.meta["kind"], "n_layers": train.n_layers,
              "n_train": int(train.features.shape[1]), "n_test": int(test.features.shape[1]),
              "data": train.meta["data_source"]}
    rows = [{**common, **row} for row in rows]
    runstore.write_table(path, rows)
    runstore.write_json(sidecar, {
        "analysis": "probing", "table": path.name, "task": spec.name, "model": train.meta["model"],
        "training_size": training_size, "seed": seed, "settings": settings,
        "caches": {"train": str(train.folder), "test": str(test.folder),
                   "reference": str(reference.folder) if reference is not None else None},
        "truncated": {"train": train.meta["truncated"], "test": test.meta["truncated"],
                      "unit": train.meta["truncated_unit"]},
        "seconds": round(time.perf_counter() - started, 2), "environment": runstore.environment()})
    return ProbingResult(path, rows, _draw(runs_dir) if figures else [])


def _draw(runs_dir) -> list[Path]:
    """Redraw the probing figures from every probing table of the runs dir."""
    from bioprobe.figures import probing_figures

    return probing_figures(runstore.read_tables(runs_dir, "probing"), runstore.runs_dir(runs_dir) / "figures")


def probe_layers(task: str, train, test, layers: list[int], probe: str = "logistic", control: bool = True,
                 mdl: bool = True, bio: bool = False, seed: int = 42, progress: bool = True) -> list[dict]:
    """Probe, control and MDL rows for each layer (see `run_probing`)."""
    from tqdm.auto import tqdm

    from probing.probes import control_labels, fit_and_score, mdl_online, one_blas_thread, shuffled_labels

    gold_train = task_labels(task, train.label, bio)
    gold_test = task_labels(task, test.label, bio)
    names = sorted(set(gold_train) | set(gold_test), key=lambda name: (name != "O", name))
    index = {name: i for i, name in enumerate(names)}
    y_train = np.array([index[v] for v in gold_train])
    y_test = np.array([index[v] for v in gold_test])
    if len(set(y_train)) < 2:
        raise BioprobeError(f"The training items have a single label ({names[y_train[0]]}); a probe needs at least "
                            "two classes.")
    groups = test.unit if task == "ner" else None  # words of one sentence are resampled together
    if control and task == "ner":
        c_train, c_test = control_labels(train.text, test.text, y_train, len(names), seed)
    elif control:
        c_train, c_test = shuffled_labels(y_train, seed), shuffled_labels(y_test, seed + 1)
    mdl_probe = "logistic" if probe == "svc" else probe  # the online code needs probabilities; LinearSVC has none

    def one_layer(layer: int) -> list[dict]:
        x_train, x_test = train.features[layer], test.features[layer]
        fit = fit_and_score(probe, x_train, y_train, x_test, y_test, len(names), seed=seed, groups=groups)
        extra = {"converged": fit.converged, "note": fit.note, "C": fit.C}
        out = [_row(layer, "accuracy", fit.accuracy, fit.accuracy_ci, extra),
               _row(layer, "macro_f1", fit.macro_f1, fit.macro_f1_ci, extra)]
        if control:
            ctrl = fit_and_score(probe, x_train, c_train, x_test, c_test, len(names), seed=seed, C=fit.C,
                                 groups=groups)
            cextra = {"converged": ctrl.converged, "note": ctrl.note, "C": ctrl.C}
            out.append(_row(layer, "control_accuracy", ctrl.accuracy, ctrl.accuracy_ci, cextra))
            out.append(_row(layer, "selectivity", fit.accuracy - ctrl.accuracy, None, extra))
        if mdl:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                code = mdl_online(mdl_probe, x_train, y_train, len(names), seed=seed,
                                  C=fit.C if mdl_probe == probe else None)
            mextra = {"converged": code.converged, "note": "" if code.converged else "an MDL block did not converge",
                      "C": fit.C, "mdl_probe": mdl_probe}
            out += [_row(layer, "mdl_codelength", code.codelength, None, mextra),
                    _row(layer, "mdl_uniform_codelength", code.uniform_codelength, None, mextra),
                    _row(layer, "mdl_compression", code.compression, None, mextra)]
        return out

    # Layers are independent: one thread per core, each with single-threaded BLAS (the probes' products are skinny,
    # where one BLAS thread per fit beats two; see probing.probes).
    rows: list[dict] = []
    workers = max(1, min(len(layers), os.cpu_count() or 1))
    with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        for out in tqdm(pool.map(one_layer, layers), total=len(layers), desc=f"Probing {train.meta['model']} "
                        f"{train.meta['source']}", unit="layer", leave=False, disable=not progress):
            rows += out
    return rows


def cka_rows(reference, other, layers: list[int], debiased: bool = True) -> list[dict]:
    """CKA of each chosen layer with the same layer of the reference, and the full layer-by-layer matrix."""
    from probing.similarity import cka_matrix

    ref_rows, other_rows = align(reference, other)
    if len(ref_rows) < 4:
        raise BioprobeError("The pretrained and fine-tuned caches share fewer than 4 test items; CKA needs more.")
    ref_layers = list(range(reference.features.shape[0]))
    matrix = cka_matrix([np.asarray(reference.features[layer])[ref_rows] for layer in ref_layers],
                        [np.asarray(other.features[layer])[other_rows] for layer in layers], debiased=debiased)
    name = "cka" if debiased else "cka_standard"
    rows = []
    for j, layer in enumerate(layers):
        rows.append(_row(layer, name, float(matrix[layer, j]) if layer < len(ref_layers) else None, None,
                         {"n_cka": len(ref_rows)}))
        for i in ref_layers:
            rows.append(_row(layer, f"{name}_matrix", float(matrix[i, j]), None,
                             {"reference_layer": i, "n_cka": len(ref_rows)}))
    return rows


def _row(layer: int, metric: str, value, ci, extra: dict) -> dict:
    low, high = ci if ci is not None else (None, None)
    return {"layer": layer, "head": None, "metric": metric, "value": value, "ci_low": low, "ci_high": high, **extra}
