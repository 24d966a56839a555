"""Attention comparison speed: ours against the study's loop on the same model and sentences, measured in-process.

    .venv/bin/python benchmarks/attention.py [--model minilm] [--sentences 300]

The study's loop, run once per training size: each sentence tokenized on its own, the pretrained and the fine-tuned
model at batch 1 with attention maps, then for every layer and head a scikit-learn cosine of the flattened numpy
maps. Ours: `bioprobe.attention.compare.attention_statistics`, length-sorted batches, the pretrained pass shared by all sizes,
every map reduced to statistics at once; timed with the cosine only (the study's work) and with all 13 statistics.
The four "fine-tuned" models are the pretrained weights plus seeded noise (the same architecture and cost as real
checkpoints, so the timing is that of real ones; the cosine values are checked to agree, not interpreted).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES = (10, 30, 50, 100)


def study_loop(reference, model, tokenizer, sentences) -> tuple[list, float, float]:
    """Per sentence: both models at batch 1, then sklearn cosine per layer and head. Returns
    `[sentence][layer][head]` cosines, seconds in forward passes, seconds in the cosine loop."""
    import torch
    from sklearn.metrics.pairwise import cosine_similarity

    values, forward_s, cosine_s = [], 0.0, 0.0
    for words in sentences:
        inputs = tokenizer(" ".join(words), return_tensors="pt", truncation=True, max_length=128)
        started = time.perf_counter()
        with torch.no_grad():
            maps_a = reference(**inputs, output_attentions=True).attentions
            maps_b = model(**inputs, output_attentions=True).attentions
        forward_s += time.perf_counter() - started
        started = time.perf_counter()
        per_layer = []
        for a, b in zip(maps_a, maps_b):
            a, b = a[0].numpy(), b[0].numpy()
            per_layer.append([cosine_similarity(a[h].flatten().reshape(1, -1), b[h].flatten().reshape(1, -1))[0, 0]
                              for h in range(a.shape[0])])
        values.append(per_layer)
        cosine_s += time.perf_counter() - started
    return values, forward_s, cosine_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sentences", type=int, default=300)
    args = parser.parse_args()

    import numpy as np
    import torch

    from bioprobe.attention.compare import attention_statistics
    from bioprobe.data import load_task_data
    from bioprobe.models import load_model

    loaded = load_model(args.model, head="base", eager_attention=True, device="cpu")
    reference, tokenizer = loaded.model, loaded.tokenizer
    tuned = {}
    for size in SIZES:
        model = copy.deepcopy(reference)
        generator = torch.Generator().manual_seed(size)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.02 * parameter.std() * torch.randn(parameter.shape, generator=generator))
        tuned[size] = model
    sentences = load_task_data("ner", "demo").splits["test"]["tokens"][: args.sentences]
    ids = [tokenizer(" ".join(words), truncation=True, max_length=128)["input_ids"] for words in sentences]
    special = tokenizer.all_special_ids
    print(f"model {args.model}, {len(sentences)} demo NER test sentences, {sum(map(len, ids))} tokens, "
          f"{reference.config.num_hidden_layers} layers x {reference.config.num_attention_heads} heads, "
          f"torch threads {torch.get_num_threads()}")
    attention_statistics(reference, {0: tuned[10]}, ids[:16], tokenizer.pad_token_id, special)  # warm-up

    study, study_forward, study_cosine = {}, 0.0, 0.0
    for size in SIZES:
        study[size], forward_s, cosine_s = study_loop(reference, tuned[size], tokenizer, sentences)
        study_forward += forward_s
        study_cosine += cosine_s
        if size == SIZES[0]:
            one = (forward_s, cosine_s)
    results = {}
    for label, sizes, metrics in (("one size, cosine", SIZES[:1], ["cosine"]), ("one size, all statistics",
                                                                               SIZES[:1], None),
                                  ("four sizes, cosine", SIZES, ["cosine"]), ("four sizes, all statistics", SIZES,
                                                                              None)):
        started = time.perf_counter()
        stats = attention_statistics(reference, {size: tuned[size] for size in sizes}, ids, tokenizer.pad_token_id,
                                     special, metrics=metrics)
        results[label] = (time.perf_counter() - started, stats)

    # Same cosine values: ours lists sentences longest first (stable), the study's in data order.
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    ours = results["four sizes, all statistics"][1].values
    worst = max(float(np.abs(ours[size]["cosine"][row] - np.array(study[size][i])).max())
                for size in SIZES for row, i in enumerate(order))
    print(f"study loop, one size  : {sum(one):6.1f} s (forward passes {one[0]:.1f} s, sklearn cosines {one[1]:.1f} s)")
    print(f"study loop, four sizes: {study_forward + study_cosine:6.1f} s (forward passes {study_forward:.1f} s, "
          f"sklearn cosines {study_cosine:.1f} s)")
    for label, (seconds, stats) in results.items():
        baseline = sum(one) if label.startswith("one") else study_forward + study_cosine
        goal = "3x" if label.startswith("one") else "5x"
        print(f"bioprobe, {label:26s}: {seconds:6.1f} s (forward passes {stats.forward_s:.1f} s, statistics "
              f"{stats.stats_s:.1f} s) -> {baseline / seconds:.1f}x (goal >= {goal})")
    print(f"same cosine values: largest difference {worst:.1e} over {len(SIZES)} sizes x {len(ids)} sentences x every "
          "layer and head")


if __name__ == "__main__":
    main()
