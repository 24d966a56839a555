"""Extraction speed and memory: our pass against the study's loop on the same model and the same 3,000 NER sentences.

    .venv/bin/python benchmarks/extract.py [--model minilm] [--sentences 3000] [--memory-sentences 1000]
                                           [--batch-tokens N]

Prints tokens/s of both, the ratio, the largest difference between their vectors, the achieved FLOP/s
(2 x per-token parameters x real tokens / seconds of the whole extraction, tokenizing and writing included) as a
fraction of this machine's float32 matrix-multiply rate (the higher of two measurements, before and after our
run), and the peak memory (RSS) of extraction on N and 10 N sentences, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def sentences(n: int) -> list[list[str]]:
    """`n` demo NER sentences: train, validation and test splits in order (3,000), repeated when `n` is larger."""
    from bioprobe.data import load_task_data

    splits = load_task_data("ner", "demo").splits
    pool = [words for split in ("train", "validation", "test") for words in splits[split]["tokens"]]
    return [pool[i % len(pool)] for i in range(n)]


def naive(model, tokenizer, batch: list[list[str]], max_length: int) -> tuple[list, int]:
    """The study's loop: one sentence at a time, tokenized on its own, every layer's hidden states converted per token,
    the first subword of each word kept. Returns per layer a list of word vectors, and the tokens run."""
    import torch

    layers, tokens = None, 0
    for words in batch:
        inputs = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length,
                           return_tensors="pt")
        with torch.no_grad():
            hidden = model(**inputs, output_hidden_states=True).hidden_states
        tokens += inputs["input_ids"].shape[1]
        layers = layers or [[] for _ in hidden]
        word_ids = inputs.word_ids()
        for layer, states in enumerate(hidden):
            per_token = [states[0, t].numpy() for t in range(states.shape[1])]
            seen = set()
            for t, w in enumerate(word_ids):
                if w is not None and w not in seen:
                    seen.add(w)
                    layers[layer].append(per_token[t])
    return layers, tokens


def matmul_rate(seconds: float = 3.0) -> float:
    """float32 FLOP/s of a large square matrix multiply on this machine (all threads torch uses)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * 2048 ** 3 * runs / (time.perf_counter() - started)


def per_token_parameters(model) -> int:
    """Parameters every token is multiplied through: all but the embeddings (looked up, not multiplied) and a pooler
    (run once per sequence, on its first token)."""
    skipped = {id(p) for name, module in model.named_modules()
               if module is not model and ("embed" in name.lower() or "pooler" in name.lower())
               for p in module.parameters(recurse=False)}
    return sum(p.numel() for p in model.parameters() if id(p) not in skipped)


def ours(model, tokenizer, batch, max_length: int, path: Path, batch_tokens: int | None = None) -> dict:
    from probing.extract import plan_ner, run_plan

    plan = plan_ner(batch, tokenizer, "first", max_length)
    stats = run_plan(model, plan, path, tokenizer.pad_token_id, batch_tokens)
    return {**stats, "items": plan.items}


def memory_child(model_name: str, n: int, max_length: int) -> None:
    """Run one extraction of `n` sentences and print the process's peak RSS (MiB) as JSON."""
    from bioprobe.models import load_model

    loaded = load_model(model_name, head="base", device="cpu")
    batch = sentences(n)
    with tempfile.TemporaryDirectory() as folder:
        stats = ours(loaded.model, loaded.tokenizer, batch, max_length, Path(folder) / "f.npy")
        size = (Path(folder) / "f.npy").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"sentences": n, "items": len(stats["items"]), "peak_mib": peak, "cache_mib": size / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--memory-sentences", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per batch (default: ours)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        return memory_child(args.model, args.memory_child, args.max_length)

    import numpy as np
    import torch

    from bioprobe.models import load_model

    loaded = load_model(args.model, head="base", device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    batch = sentences(args.sentences)
    print(f"model {args.model}, {len(batch)} NER sentences (demo corpus), first-subword pooling, all "
          f"{model.config.num_hidden_layers + 1} layers, torch threads {torch.get_num_threads()}")
    ours(model, tokenizer, batch[:64], args.max_length, Path(tempfile.mkdtemp()) / "warm.npy")  # warm-up

    rate_before = matmul_rate()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        stats = ours(model, tokenizer, batch, args.max_length, Path(folder) / "f.npy", args.batch_tokens)
        ours_s = time.perf_counter() - started
        ours_vectors = np.load(Path(folder) / "f.npy").astype(np.float32)
    started = time.perf_counter()
    naive_layers, naive_tokens = naive(model, tokenizer, batch, args.max_length)
    naive_s = time.perf_counter() - started

    # Same vectors? Compare words whose subwords are the same in both tokenizations (fp16 rounding aside).
    row_of = {key: row for row, key in enumerate(stats["items"])}
    offsets = np.cumsum([0] + [len(words) for words in batch])
    checked, worst = 0, 0.0
    for s in range(0, len(batch), 7):
        for w in range(len(batch[s])):
            row = row_of.get((s, w))
            if row is None or offsets[s] + w >= len(naive_layers[0]):
                continue
            theirs = np.stack([layer[offsets[s] + w] for layer in naive_layers])
            worst = max(worst, float(np.abs(ours_vectors[:, row] - theirs).max() / (np.abs(theirs).max() + 1e-6)))
            checked += 1

    params = per_token_parameters(model)
    rate = max(rate_before, matmul_rate())
    achieved = 2 * params * stats["tokens"] / ours_s
    print(f"naive loop : {naive_s:7.1f} s  {naive_tokens / naive_s:8.0f} tokens/s")
    print(f"bioprobe   : {ours_s:7.1f} s  {stats['tokens'] / ours_s:8.0f} tokens/s  ({stats['tokens']} tokens, "
          f"{len(stats['items'])} word vectors x {stats['layers']} layers)")
    print(f"speed-up   : {naive_s / ours_s:.2f}x (goal >= 2.5x)")
    print(f"same vectors: {checked} words compared, largest difference {worst:.1e} of the vector's scale "
          "(fp16 cache)")
    print(f"FLOP/s     : {achieved / 1e9:.1f} GFLOP/s achieved (2 x {params / 1e6:.1f} M per-token parameters x "
          f"tokens / s) = {achieved / rate:.0%} of the measured float32 matmul rate {rate / 1e9:.1f} GFLOP/s "
          "(goal >= 75 %)")

    peaks = []
    for n in (args.memory_sentences, 10 * args.memory_sentences):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--memory-child", str(n),
                              "--max-length", str(args.max_length)], capture_output=True, text=True, check=True)
        peaks.append(json.loads(out.stdout.strip().splitlines()[-1]))
    growth = peaks[1]["peak_mib"] / peaks[0]["peak_mib"] - 1
    for peak in peaks:
        print(f"memory     : {peak['sentences']:6d} sentences -> peak RSS {peak['peak_mib']:7.1f} MiB "
              f"(cache file {peak['cache_mib']:.1f} MiB)")
    print(f"memory growth at 10x sentences: {growth:+.1%} (goal < 20 %)")


if __name__ == "__main__":
    main()
