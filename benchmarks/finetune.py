"""Training throughput: bioprobe's fine-tuning against the study's naive loop, same model and same sentences.

The naive loop is how the study's scripts trained: one sentence per step, every sentence padded to a fixed length.
Ours: the Trainer with dynamic padding and length-grouped batches (`run_finetune`). Both count real (non-pad)
tokens per second of training. Usage: `python benchmarks/finetune.py [--model minilm] [--task ner] [--items 480]`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def naive_tokens_per_second(model_name: str, task: str, items: list[int], max_length: int, lr: float,
                            seed: int) -> float:
    """Batch 1, padded to `max_length`, plain AdamW loop: real tokens trained per second."""
    import torch
    import transformers

    from bioprobe.data import load_task_data
    from bioprobe.models import load_model
    from bioprobe.tasks import get_task

    spec = get_task(task)
    data = load_task_data(task, "demo")
    names = tuple(spec.fixed_labels or data.labels)
    transformers.set_seed(seed)
    loaded = load_model(model_name, head=spec.head, labels=names, device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    subset = data.splits["train"].select(items)
    encoded = spec.encode(subset, tokenizer, names, max_length, loaded.resolved.spec.kind)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    tokens, started = 0, time.perf_counter()
    for row in encoded:
        pad = max_length - len(row["input_ids"])
        ids = torch.tensor([row["input_ids"] + [tokenizer.pad_token_id] * pad])
        mask = torch.tensor([[1] * len(row["input_ids"]) + [0] * pad])
        if spec.head == "token":
            labels = torch.tensor([row["labels"] + [-100] * pad])
        else:
            labels = torch.tensor([row["labels"]])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        tokens += len(row["input_ids"])
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--task", default="ner", choices=["ner", "nli"], help="a single-label task")
    parser.add_argument("--items", type=int, default=480, help="training sentences (or pairs)")
    parser.add_argument("--naive-items", type=int, default=160, help="sentences the slow naive loop is timed on")
    parser.add_argument("--max-length", type=int, default=128, help="the naive loop pads every item to this")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from bioprobe.data import load_task_data
    from bioprobe.finetune.train import run_finetune, select_training_items

    train = load_task_data(args.task, "demo").splits["train"]
    items = select_training_items(args.task, train, 100, 42, args.items)
    with tempfile.TemporaryDirectory() as runs:
        result = run_finetune(task=args.task, model_name=args.model, training_size=100, data="demo", epochs=1, batch_size=args.batch_size,
                              max_length=args.max_length, runs_dir=runs, train_limit=args.items, test_limit=50,
                              device="cpu")
    ours = result.record.training["train_tokens_per_second"]
    sample = sorted(random.Random(0).sample(items, min(args.naive_items, len(items))))  # same mix of lengths
    naive = naive_tokens_per_second(args.model, args.task, sample, args.max_length, 5e-5, 42)
    print(f"model {args.model}, task {args.task}, {args.items} items (naive loop timed on {args.naive_items})")
    print(f"bioprobe (Trainer, batch {args.batch_size}, dynamic padding, length-grouped): {ours:,.0f} tokens/s")
    print(f"naive (batch 1, padded to {args.max_length}):                               {naive:,.0f} tokens/s")
    print(f"speed-up: {ours / naive:.2f}x")


if __name__ == "__main__":
    main()
