"""Block and head reversion speed: `bioprobe revert` against the naive way, whole processes, same run and sentences.

    .venv/bin/python benchmarks/revert.py [--model minilm] [--sentences 500] [--heads 0-3]

The run: minilm tuned on NER for one epoch on 200 sentences of a CoNLL corpus of biomedical-length sentences
(`benchmarks/extract.py`'s, about 26 words each as in BC5CDR), read through our loader; its test split has
`--sentences` sentences. Both sides score the same interventions on every test sentence: each block alone, blocks
0..l and l..last at every layer, and the chosen heads of every block.
The naive way (one process): per intervention, load the tuned checkpoint again, copy the pretrained weights into
the reverted part, and score the sentences one at a time (tokenised each time), entity F1 with seqeval.
Ours: `bioprobe revert` as a user runs it (its bootstrap intervals included): the weights loaded once, tensors swapped
in place, the sentences tokenised and batched once. Prints both wall-clock times, the ratio (goal >= 5x) and the
breakdown of ours (load, interventions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def naive_child(model_name: str, runs: str, data: str, heads: str, out: str) -> None:
    """The naive loop in this process: a fresh copy of the tuned model per intervention, batch 1."""
    import torch
    from seqeval.metrics import f1_score

    from bioprobe.causal.params import Reverter, n_layers_of
    from bioprobe.causal.revert import head_numbers
    from bioprobe.data import load_task_data
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.models import load_model
    from bioprobe.registry import resolve_model

    started = time.perf_counter()
    rows = load_task_data("ner", data).splits["test"]
    tokens, tags = rows["tokens"][:], rows["tags"][:]
    pretrained = load_model(resolve_model(model_name), head="base", device="cpu").model
    probe = load_finetuned(runs, "ner", model_name, 100, 42, device="cpu").model
    n_layers, n_heads = n_layers_of(probe), probe.config.num_attention_heads
    chosen = head_numbers(heads, n_heads)
    plan = [("single", [layer], None) for layer in range(n_layers + 1)]
    plan += [("bottom_up", list(range(layer + 1)), None) for layer in range(n_layers + 1)]
    plan += [("top_down", list(range(layer, n_layers + 1)), None) for layer in range(n_layers, -1, -1)]
    plan += [("single", [layer], head) for layer in range(1, n_layers + 1) for head in chosen]
    scores = []
    for mode, layers, head in plan:
        loaded = load_finetuned(runs, "ner", model_name, 100, 42, device="cpu")  # a fresh copy to edit
        model, tokenizer = loaded.model, loaded.tokenizer
        reverter = Reverter(model, pretrained)
        with torch.no_grad():
            for patch in (reverter.blocks(layers) if head is None else reverter.head(layers[0], head)):
                target = patch.tensor[patch.index] if patch.index else patch.tensor
                target.copy_(patch.value[patch.index] if patch.index else patch.value)
        names = model.config.id2label
        predicted = []
        for words, gold in zip(tokens, tags):
            encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=128,
                                return_tensors="pt")
            with torch.no_grad():
                logits = model(**encoded).logits[0]
            firsts, seen = [], set()
            for position, word in enumerate(encoded.word_ids()):
                if word is not None and word not in seen:
                    seen.add(word)
                    firsts.append(position)
            guess = [names[int(i)] for i in logits[firsts].argmax(-1)]
            predicted.append(guess + ["O"] * (len(gold) - len(guess)))
        scores.append(f1_score(tags, predicted))
    Path(out).write_text(json.dumps({"interventions": len(plan), "seconds": time.perf_counter() - started,
                                     "scores": scores}))


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--heads", default="0-3")
    parser.add_argument("--naive-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        runs, data, heads, out = args.naive_child
        naive_child(args.model, runs, data, heads, out)
        return

    from extract import write_corpus

    bioprobe = str(Path(sys.executable).with_name("bioprobe"))
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        counts = write_corpus(temp / "data", args.sentences * 10)  # its test split: a tenth
        runs = temp / "runs"
        timed([bioprobe, "finetune", "--task", "ner", "--model_name", args.model, "--data", str(temp / "data"),
               "--training_size", "100", "--train-limit", "200", "--epochs", "1", "--runs-dir", str(runs)])
        print(f"model {args.model}, NER test split of {args.sentences} sentences (corpus {counts}), heads "
              f"{args.heads} of every block")
        ours_s, output = timed([bioprobe, "revert", "--task", "ner", "--model_name", args.model, "--training_size",
                                "100", "--runs-dir", str(runs), "--heads", args.heads, "--overwrite"])
        sidecar = next((runs / "results" / "revert").rglob("*.json"))
        seconds = json.loads(sidecar.read_text())["seconds"]
        out = temp / "naive.json"
        naive_s, _ = timed([sys.executable, __file__, "--model", args.model, "--naive-child", str(runs),
                            str(temp / "data"), args.heads, str(out)])
        naive = json.loads(out.read_text())
        print(f"naive (a model copy per intervention, batch 1): {naive_s:.1f} s for {naive['interventions']} "
              "interventions")
        print(f"bioprobe revert: {ours_s:.1f} s whole process ({seconds['load']:.1f} s loading data, models and "
              f"batches, {seconds['interventions']:.1f} s for {seconds['n_interventions']} interventions in "
              f"{seconds['n_passes']} passes and the tuned and size-0 scores); {output.strip().splitlines()[0]}")
        print(f"ratio: {naive_s / ours_s:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
