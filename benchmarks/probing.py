"""Probing speed: all 7 layers of minilm on 50,000 word items, with the control task, against scikit-learn's own
cross-validated logistic regression used the plain way.

    .venv/bin/python benchmarks/probing.py [--items 50000] [--reference-layers 1]

Training words come from demo NER corpora generated with seeds 1, 2, ... (train splits) until `--items` words are
reached; test words are the demo corpus's own test split (seed 0). Vectors are extracted once (not timed). Timed:
`bioprobe.probing.run.probe_layers` for all layers with the control task (and, separately, MDL), against the reference,
`make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=5, cv=3))` fitted on all training items for the task and
again for the control labels, on `--reference-layers` layers (its time per layer is scaled to 7 layers).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def words(n_items: int) -> tuple[list[list[str]], list[list[str]], list[list[str]], list[list[str]]]:
    """Training sentences with at least `n_items` words (fresh corpora), and the test split, with their tags."""
    from bioprobe.demo_corpus import demo_ner

    train_words, train_tags, seed = [], [], 1
    while sum(len(s) for s in train_words) < n_items:
        split = demo_ner(seed)["train"]
        for tokens, tags in zip(split["tokens"], split["tags"]):
            if sum(len(s) for s in train_words) >= n_items:
                break
            train_words.append(tokens)
            train_tags.append(tags)
        seed += 1
    test = demo_ner(0)["test"]
    return train_words, train_tags, test["tokens"], test["tags"]


def extract(loaded, sentences, tags, folder: Path, name: str):
    """Word vectors of every layer (first subword), as the `Activations` that `probe_layers` reads."""
    import numpy as np

    from bioprobe.tasks import get_task
    from bioprobe.probing.activations import Activations
    from bioprobe.probing.extract import run_plan

    plan = get_task("ner").probe_plan({"tokens": sentences}, loaded.tokenizer, "first", "encoder", 128)
    run_plan(loaded.model, plan, folder / f"{name}.npy", loaded.tokenizer.pad_token_id, desc=f"Extracting {name}")
    items = plan.items
    return Activations(folder, np.load(folder / f"{name}.npy", mmap_mode="r"),
                       unit=np.array([s for s, _ in items]), word=np.array([w for _, w in items]),
                       text=np.array([sentences[s][w] for s, w in items], dtype=str),
                       label=np.array([tags[s][w] for s, w in items], dtype=str),
                       meta={"model": "minilm", "source": "pretrained"})


def reference(train, test, layer: int, seed: int) -> tuple[float, float]:
    """Plain cross-validated logistic regression, task then control labels; returns seconds and task accuracy."""
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bioprobe.tasks import get_task
    from bioprobe.probing.probes import control_labels

    ner = get_task("ner")
    names = sorted(set(ner.probe_labels(train.label, False)))
    index = {n: i for i, n in enumerate(names)}
    y_train = np.array([index[v] for v in ner.probe_labels(train.label, False)])
    y_test = np.array([index.get(v, -1) for v in ner.probe_labels(test.label, False)])
    c_train, _ = control_labels(train.text, test.text, y_train, len(names), seed)
    x_train, x_test = np.asarray(train.features[layer], dtype=np.float32), np.asarray(test.features[layer],
                                                                                     dtype=np.float32)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=5, cv=3, max_iter=1000, random_state=seed))
        task.fit(x_train, y_train)
        accuracy = float((task.predict(x_test) == y_test).mean())
        make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=5, cv=3, max_iter=1000, random_state=seed)).fit(
            x_train, c_train)
    return time.perf_counter() - started, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--reference-layers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch

    from bioprobe.models import load_model
    from bioprobe.probing.run import probe_layers

    loaded = load_model("minilm", head="base", device="cpu")
    train_words, train_tags, test_words, test_tags = words(args.items)
    with tempfile.TemporaryDirectory() as folder:
        train = extract(loaded, train_words, train_tags, Path(folder), "train")
        test = extract(loaded, test_words, test_tags, Path(folder), "test")
        layers = list(range(train.features.shape[0]))
        print(f"minilm, {train.features.shape[1]} training words ({len(train_words)} sentences), "
              f"{test.features.shape[1]} test words, {len(layers)} layers x {train.features.shape[2]} dims, "
              f"torch threads {torch.get_num_threads()}")

        started = time.perf_counter()
        rows = probe_layers("ner", train, test, layers, control=True, mdl=False, seed=args.seed, progress=False)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        mdl_rows = probe_layers("ner", train, test, layers, control=False, mdl=True, seed=args.seed, progress=False)
        with_mdl = time.perf_counter() - started
        accuracy = {r["layer"]: r["value"] for r in rows if r["metric"] == "accuracy"}
        selectivity = {r["layer"]: r["value"] for r in rows if r["metric"] == "selectivity"}
        compression = {r["layer"]: r["value"] for r in mdl_rows if r["metric"] == "mdl_compression"}
        print(f"bioprobe  : {ours:6.1f} s for {len(layers)} layers, task + control (goal < 60 s)")
        print(f"            {with_mdl:6.1f} s for {len(layers)} layers, task + MDL online code (11 blocks)")
        for layer in layers:
            print(f"  layer {layer}: accuracy {accuracy[layer]:.3f}, selectivity {selectivity[layer]:+.3f}, "
                  f"MDL compression {compression[layer]:.2f}")

        chosen = layers[len(layers) // 2: len(layers) // 2 + args.reference_layers]
        spent, ref_accuracy = 0.0, {}
        for layer in chosen:
            seconds, ref_accuracy[layer] = reference(train, test, layer, args.seed)
            spent += seconds
        per_layer = spent / len(chosen)
        print(f"reference : {per_layer:6.1f} s per layer (LogisticRegressionCV, 5 C values x 3 folds, on all items, "
              f"task + control; layers {chosen}) -> {per_layer * len(layers):.1f} s for {len(layers)} layers")
        for layer in chosen:
            print(f"  layer {layer}: reference accuracy {ref_accuracy[layer]:.3f}, ours {accuracy[layer]:.3f}")
        print(f"speed-up  : {per_layer * len(layers) / ours:.1f}x")


if __name__ == "__main__":
    main()
