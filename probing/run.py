"""`run_probing(...)`: probes on every layer (with control task, MDL and bootstrap intervals) and representation
similarity (CKA, Procrustes, mutual k-NN, with intervals) against the pretrained model, written as one tidy table;
what `bioprobe probe` and the task scripts call."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.tasks import get_task
from bioprobe.settings import ProbeSettings


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


def align(reference, other) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `reference` and `other` that hold the same items (same sentence and word), in the same order."""
    def keys(acts):
        return acts.unit.astype(np.int64) * 1_000_000 + acts.word.astype(np.int64)

    ref_keys, other_keys = keys(reference), keys(other)
    common, ref_rows, other_rows = np.intersect1d(ref_keys, other_keys, assume_unique=True, return_indices=True)
    return ref_rows, other_rows


def run_probing(settings: ProbeSettings | None = None, *, figures: bool = True, **fields) -> ProbingResult:
    """Probe every layer of a model on a task and compare it with a reference model (`bioprobe probe`).

    Probes are trained on the train split and scored on the test split (vectors from the activation cache,
    extracted first when missing). Per layer: accuracy and macro-F1 with 95 % bootstrap intervals (over the task's
    groups: sentences for NER, pairs for NLI), the same probe's validation accuracy and macro-F1 (what the best layer
    is chosen by, so that its test score is not the maximum of noisy test scores), the control task and selectivity
    (Hewitt & Liang 2019), MDL online codelength and compression (Voita & Titov 2020) on the validation items, which no
    fine-tuned checkpoint was trained on (its training items it saw with their labels, so an online code of them
    would mix memorisation into what the representation encodes); for a fine-tuned model, a random-init baseline or
    an explicit `reference`, the `similarity` measures (`probing.similarity.MEASURES`: debiased linear CKA,
    orthogonal Procrustes distance, mutual k-NN overlap) of each layer with the same layer of the reference (the
    pretrained model by default; test items, at most `similarity_items`), each with a 95 % bootstrap interval over
    the task's groups, and their layer-by-layer matrices. Every split's items are the same seeded `limit` sample
    for every model.

    Args:
        settings: What to probe (`bioprobe.settings.ProbeSettings`; or its fields as keyword arguments).
        figures: Redraw the probing figures from the tables afterwards.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written and its rows.
    """
    from bioprobe.settings import build, values
    from bioprobe.probing.activations import get_activations, sharing_models

    s = build(ProbeSettings, fields, "run_probing") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    pooling = s.pooling or spec.default_pooling
    layer_numbers(s.layers)  # a typo is reported before any extraction
    if s.cka:
        from bioprobe.probing.similarity import measure_names

        try:
            measure_names(s.similarity)
        except ValueError as err:
            raise BioprobeError(f"--similarity: {err}") from None
    extract = s.extract_settings(pooling=pooling)
    with sharing_models():  # the three splits come from one load of the weights
        train, validation, test = (get_activations(extract, split=split) for split in ("train", "validation", "test"))
    chosen = parse_layers(s.layers, train.n_layers, train.meta["model"])
    reference = None
    if s.cka and (s.training_size > 0 or s.baseline or s.reference):
        reference = get_activations(extract, split="test", template=test.meta.get("template"), training_size=0,
                                    baseline=None, objective="classifier", data=test.meta["data"],
                                    model_name=s.reference or s.model_name)

    similarity = None
    if reference is not None:  # the items and measures are checked before any probe is trained
        similarity = similarity_items(reference, test, s.similarity, s.knn_k, s.similarity_items, s.seed,
                                      s.cka_estimator == "debiased", spec.probe_groups)

    variant = "-".join(filter(None, [s.baseline, s.probe, pooling, "bio" if s.bio else None,
                                     "in-prompt" if s.in_prompt else None,
                                     f"vs-{reference.meta['model']}" if s.reference else None]))
    path = runstore.results_path(s.runs_dir, "probing", spec.name, train.meta["model"], s.training_size, s.seed,
                                 variant, objective=s.objective)
    recorded = {**values(s, ("eval",)), "layers": chosen, "pooling": pooling, "cka": reference is not None,
                "similarity": similarity.names if similarity is not None else [],
                "data": train.meta["data"], "mdl_items": "validation", "selection": "validation_accuracy",
                "fingerprints": [acts.meta["fingerprint"] for acts in (train, validation, test, reference)
                                 if acts is not None]}
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return ProbingResult(path, rows, _draw(s.runs_dir) if figures else [], reused=True)

    started = time.perf_counter()
    rows = probe_layers(spec.name, train, test, chosen, probe=s.probe, control=s.control, mdl=s.mdl, bio=s.bio,
                        seed=s.seed, validation=validation)
    if similarity is not None:
        rows += similarity_rows(reference, test, chosen, similarity, draws=s.similarity_draws, seed=s.seed,
                                k=s.knn_k, debiased=s.cka_estimator == "debiased")
    common = {"analysis": "probing", "task": spec.name, "model": train.meta["model"],
              "training_size": s.training_size, "seed": s.seed, "objective": s.objective, "probe": s.probe,
              "pooling": pooling, "baseline": s.baseline or "", "bio": s.bio, "in_prompt": s.in_prompt,
              "reference": reference.meta["model"] if reference is not None else "", "kind": train.meta["kind"],
              "n_layers": train.n_layers, "n_train": int(train.features.shape[1]),
              "n_validation": int(validation.features.shape[1]), "n_test": int(test.features.shape[1]),
              "data": train.meta["data_source"]}
    rows = [{**common, **row} for row in rows]
    runstore.write_table(path, rows)
    runstore.write_sidecar(
        path, recorded, analysis="probing", table=path.name, task=spec.name, model=train.meta["model"],
        training_size=s.training_size, seed=s.seed,
        caches={"train": str(train.folder), "validation": str(validation.folder), "test": str(test.folder),
                "reference": str(reference.folder) if reference is not None else None},
        truncated={"train": train.meta["truncated"], "validation": validation.meta["truncated"],
                   "test": test.meta["truncated"], "unit": train.meta["truncated_unit"]},
        seconds=round(time.perf_counter() - started, 2), environment=runstore.environment())
    return ProbingResult(path, rows, _draw(s.runs_dir) if figures else [])


def _draw(runs_dir) -> list[Path]:
    """Redraw the probing figures from every probing table of the runs dir."""
    from bioprobe.figures import probing_figures

    return probing_figures(runstore.read_tables(runs_dir, "probing"), runstore.runs_dir(runs_dir) / "figures")


def probe_layers(task: str, train, test, layers: list[int], probe: str = "logistic", control: bool = True,
                 mdl: bool = True, bio: bool = False, seed: int = 42, progress: bool = True,
                 validation=None) -> list[dict]:
    """Probe, validation, control and MDL rows for each layer (see `run_probing`). A multi-label task (CLS) gets one
    probe per label (one against the rest): `accuracy` is then the exact-match accuracy (every label of the item
    right), `macro_f1` the F1 averaged over labels, the control task shuffles whole label sets across items, and MDL
    sums the labels' binary codes.

    Args:
        task: The task's name.
        train, test: Activations of the train and test split.
        layers: Layers to probe.
        probe, control, mdl, bio, seed: See `run_probing`.
        progress: Show a progress bar.
        validation: Activations of the validation split: each layer's probe is scored on them too
            (`validation_accuracy`, `validation_macro_f1`) and MDL is measured on them. Without them (a benchmark)
            MDL is measured on the training items; either way the MDL rows' `mdl_items` column says which.

    Returns:
        Tidy rows without the run's common columns.
    """
    from tqdm.auto import tqdm

    from bioprobe.probing.probes import (control_labels, fit_and_score, fit_and_score_multilabel, mdl_multilabel,
                                         mdl_online, one_blas_thread, probe_workers, quiet_solver_warnings,
                                         shuffled_labels)

    spec = get_task(task)
    gold_train = spec.probe_labels(train.label, bio)
    gold_test = spec.probe_labels(test.label, bio)
    gold_validation = spec.probe_labels(validation.label, bio) if validation is not None else []
    if spec.multilabel():  # a label set per item ("|"-joined): a 0/1 row over the labels, one probe per label
        names = sorted({name for value in (*gold_train, *gold_test, *gold_validation) for name in _split(value)})
        encode = lambda gold: np.array([[name in _split(value) for name in names] for value in gold],  # noqa: E731
                                       dtype=np.int64).reshape(len(gold), len(names))
    else:
        names = sorted(set(gold_train) | set(gold_test) | set(gold_validation), key=lambda name: (name != "O", name))
        index = {name: i for i, name in enumerate(names)}
        encode = lambda gold: np.array([index[v] for v in gold], dtype=np.int64)  # noqa: E731
    y_train, y_test, y_validation = encode(gold_train), encode(gold_test), encode(gold_validation)
    if validation is not None and len(y_validation) == 0:
        raise BioprobeError("The validation split has no items to probe; MDL and the choice of the best layer need "
                            "some.")
    mdl_items, mdl_acts, y_mdl = ("validation", validation, y_validation) if validation is not None else \
        ("train", train, y_train)
    if spec.multilabel() and not y_train.any():
        raise BioprobeError("No training item has a label; one-vs-rest probes need items of some label.")
    if not spec.multilabel() and len(set(y_train)) < 2:
        raise BioprobeError(f"The training items have a single label ({names[y_train[0]]}); a probe needs at least "
                            "two classes.")
    groups = spec.probe_groups(test.unit)  # NER: the words of one sentence are resampled together
    if control and spec.control_keys_text:
        c_train, c_test = control_labels(train.text, test.text, y_train, len(names), seed)
    elif control:  # label sets of a multi-label task are shuffled whole, rows of `y`
        c_train, c_test = shuffled_labels(y_train, seed), shuffled_labels(y_test, seed + 1)
    mdl_probe = "logistic" if probe == "svc" else probe  # the online code needs probabilities; LinearSVC has none
    # The accuracy of always answering the training split's commonest label, on these test items: the reference an
    # accuracy is read against (NER: the share of O words); none for label sets.
    majority = {} if spec.multilabel() else {"majority": float((y_test == np.bincount(y_train).argmax()).mean())}

    def fit_probe(x_train, labels_train, x_test, labels_test, C=None, **validating):
        if spec.multilabel():
            return fit_and_score_multilabel(probe, x_train, labels_train, x_test, labels_test, seed=seed, C=C,
                                            X_validation=validating.get("X_validation"),
                                            Y_validation=validating.get("y_validation"))
        return fit_and_score(probe, x_train, labels_train, x_test, labels_test, len(names), seed=seed, C=C,
                             groups=groups, **validating)

    def probe_extra(fit) -> dict:
        if isinstance(fit.C, tuple):  # one-vs-rest: each label's C
            return {"converged": fit.converged, "note": fit.note, "C": None,
                    "label_C": " ".join("-" if C is None else f"{C:g}" for C in fit.C)}
        return {"converged": fit.converged, "note": fit.note, "C": fit.C}

    def one_layer(layer: int) -> list[dict]:
        x_train, x_test = train.features[layer], test.features[layer]
        x_validation = validation.features[layer] if validation is not None else None
        fit = fit_probe(x_train, y_train, x_test, y_test, X_validation=x_validation,
                        y_validation=y_validation if validation is not None else None)
        extra = probe_extra(fit)
        out = [_row(layer, "accuracy", fit.accuracy, fit.accuracy_ci, {**extra, **majority}),
               _row(layer, "macro_f1", fit.macro_f1, fit.macro_f1_ci, extra)]
        if validation is not None:
            out += [_row(layer, "validation_accuracy", fit.validation_accuracy, None, extra),
                    _row(layer, "validation_macro_f1", fit.validation_macro_f1, None, extra)]
        if control:
            ctrl = fit_probe(x_train, c_train, x_test, c_test, C=fit.C)
            cextra = probe_extra(ctrl)
            out.append(_row(layer, "control_accuracy", ctrl.accuracy, ctrl.accuracy_ci, cextra))
            out.append(_row(layer, "selectivity", fit.accuracy - ctrl.accuracy, None, extra))
        if mdl:
            # Each block's C is chosen on its own prefix (the task probe's C saw every training item).
            code = mdl_multilabel(mdl_probe, mdl_acts.features[layer], y_mdl, seed=seed) if spec.multilabel() \
                else mdl_online(mdl_probe, mdl_acts.features[layer], y_mdl, len(names), seed=seed)
            mextra = {"converged": code.converged, "note": "" if code.converged else "an MDL block did not converge",
                      "C": None, "mdl_probe": mdl_probe, "mdl_items": mdl_items, "n_mdl": code.block_ends[-1],
                      "mdl_C": " ".join("-" if C is None else f"{C:g}" for C in code.block_C)}
            out += [_row(layer, "mdl_codelength", code.codelength, None, mextra),
                    _row(layer, "mdl_uniform_codelength", code.uniform_codelength, None, mextra),
                    _row(layer, "mdl_compression", code.compression, None, mextra)]
        return out

    # Layers are independent: on large features one thread per core, each with single-threaded BLAS (the probes'
    # products are skinny, where one BLAS thread per fit beats two; see probing.probes). Warning filters are
    # process-wide, so they are set here, around the pool, and never inside a worker; convergence is read off each
    # fitted probe.
    rows: list[dict] = []
    workers = probe_workers(len(layers), train.features[layers[0]])
    with quiet_solver_warnings(), one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        for out in tqdm(pool.map(one_layer, layers), total=len(layers), desc=f"Probing {train.meta['model']} "
                        f"{train.meta['source']}", unit="layer", leave=False, disable=not progress):
            rows += out
    return rows


def _split(value: str) -> list[str]:
    """A multi-label item's labels from its "|"-joined gold (`Task.item_labels`); "" for none."""
    return [name for name in str(value).split("|") if name]


@dataclass
class SimilarityItems:
    """The items the similarity measures compare.

    Attributes:
        names: The measures, in registry order.
        ref_rows, other_rows: `[n]` rows of the reference's and the other model's activations, same items in order.
        groups: `[n]` resampling unit of each item (its sentence for NER), or None (each item).
        sampled_from: How many shared items there were (more than `n` when a sample was drawn).
    """

    names: list[str]
    ref_rows: np.ndarray
    other_rows: np.ndarray
    groups: np.ndarray | None
    sampled_from: int


def similarity_items(reference, other, names, k: int = 10, limit: int | None = 10000, seed: int = 42,
                     debiased: bool = True, probe_groups=None) -> SimilarityItems:
    """The shared test items of two caches (at most `limit`: a seeded sample of whole groups), checked against the
    measures' needs.

    Raises:
        BioprobeError: an unknown measure, or too few shared items for a measure (k-NN needs more than `k`).
    """
    from bioprobe.probing import similarity as sim

    try:
        names = sim.measure_names(names)
    except ValueError as err:
        raise BioprobeError(f"--similarity: {err}") from None
    ref_rows, other_rows = align(reference, other)
    groups = probe_groups(other.unit[other_rows]) if probe_groups is not None else None
    shared = len(ref_rows)
    if limit is not None and shared > limit:  # whole groups in a seeded order, until the limit is reached
        keys = groups if groups is not None else np.arange(shared)
        distinct, inverse = np.unique(keys, return_inverse=True)
        order = np.random.default_rng(seed).permutation(len(distinct))
        sizes = np.bincount(inverse.ravel(), minlength=len(distinct))[order]
        chosen = order[: max(1, int(np.searchsorted(np.cumsum(sizes), limit, side="right")))]
        keep = np.flatnonzero(np.isin(inverse.ravel(), chosen))
        ref_rows, other_rows = ref_rows[keep], other_rows[keep]
        groups = groups[keep] if groups is not None else None
    if "mutual_knn" in names and k >= len(ref_rows):
        raise BioprobeError(f"--knn-k {k} is too large: the compared models share {len(ref_rows)} test items, and "
                            f"each needs {k} other items as neighbours; choose a k below {len(ref_rows)}.")
    units = sim.make_units(len(ref_rows), groups)
    try:
        sim.check_items(units, names, k, debiased)
    except ValueError as err:
        raise BioprobeError(f"The pretrained and compared caches share too few test items: {err}") from None
    return SimilarityItems(names, ref_rows, other_rows, groups, shared)


def similarity_rows(reference, other, layers: list[int], items: SimilarityItems, draws: int = 1000, seed: int = 42,
                    k: int = 10, debiased: bool = True) -> list[dict]:
    """Each measure of each chosen layer against the same layer of the reference, with its bootstrap interval (over
    the items' groups; re-centred on the value, `bootstrap_offset` the resamples' median offset, see
    `similarity.Estimate`), and the full layer-by-layer matrix (`{metric}_matrix` rows with `reference_layer`). CKA's
    metric is `cka` (`cka_standard` with the standard estimator)."""
    from bioprobe.probing import similarity as sim

    units = sim.make_units(len(items.ref_rows), items.groups)
    ref_layers = list(range(reference.features.shape[0]))
    ref_sides = [sim.Side(np.asarray(reference.features[layer])[items.ref_rows], units, f"reference layer {layer}")
                 for layer in ref_layers]
    other_sides = [sim.Side(np.asarray(other.features[layer])[items.other_rows], units, f"layer {layer}")
                   for layer in layers]
    extra = {"n_cka": units.n, "n_units": units.count, "draws": draws, "similarity_sampled_from": items.sampled_from}
    estimates = {}
    for j, layer in enumerate(layers):  # per layer: one pass over both Gram matrices, then every measure's resamples
        if layer < len(ref_layers):
            pair = sim.Pair(ref_sides[layer], other_sides[j])
            pair.grams(sim.knn_depth(k) if "mutual_knn" in items.names else 0, cka="cka" in items.names)
            estimates[layer] = sim.compare(None, None, items.names, draws=draws, seed=seed, k=k, debiased=debiased,
                                           pair=pair)
    rows = []
    for name in items.names:
        metric = "cka_standard" if name == "cka" and not debiased else name
        if name == "cka":
            matrix = sim.cka_matrix([side.x for side in ref_sides], [side.x for side in other_sides], debiased)
        else:
            matrix = sim.measure_matrix(name, None, None, k=k, debiased=debiased, sides=(ref_sides, other_sides))
        own = {**extra, **({"knn_k": k} if name == "mutual_knn" else {})}
        for j, layer in enumerate(layers):
            estimate = estimates.get(layer, {}).get(name)
            interval = None if estimate is None or estimate.ci_low != estimate.ci_low else \
                (estimate.ci_low, estimate.ci_high)
            offset = {"bootstrap_offset": estimate.offset} if interval is not None else {}
            rows.append(_row(layer, metric, float(matrix[layer, j]) if estimate is not None else None, interval,
                             {**own, **offset}))
            for i in ref_layers:
                rows.append(_row(layer, f"{metric}_matrix", float(matrix[i, j]), None, {**own, "reference_layer": i}))
    return rows


def cka_rows(reference, other, layers: list[int], debiased: bool = True) -> list[dict]:
    """CKA of each chosen layer with the same layer of the reference, and the full layer-by-layer matrix."""
    from bioprobe.probing.similarity import cka_matrix

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
