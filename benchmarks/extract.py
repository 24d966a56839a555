"""Extraction speed and memory on real-shaped data: the `bioprobe extract` command against the study's loop, each
timed as a whole process (start-up included) on the same sentences read from CoNLL files by our loader.

    .venv/bin/python benchmarks/extract.py [--model minilm] [--sentences 3000] [--memory-sentences 1000]
                                           [--batch-tokens N] [--repeats 1]

The corpus: CoNLL train/dev/test files in a temporary folder, of biomedical-length sentences (about 26 words on
average, as BC5CDR's 77,399 words in 3,000 sentences) made of consecutive demo-corpus sentences cut at a drawn length;
train holds `--sentences` of them and is what both sides extract. Prints:

- both whole-process times and their ratio (goal >= 2.5x), and the two inner loops on their own; wall clock, and
  also CPU seconds, which other work on a shared machine disturbs less (`--repeats` interleaves the runs and prints
  ranges);
- the start-up of a fresh process (imports, model load, data load; goal < 5 s) and the command's time outside its
  forward-pass loop;
- that the vectors are the same (the largest difference, relative to the vector's scale, fp16 cache);
- the achieved FLOP/s of the command's forward-pass loop (2 x per-token parameters x real tokens / seconds of the loop,
  batching, pooling and writing included) as a fraction of this machine's float32 matrix-multiply rate (the higher of
  two measurements, before and after the runs);
- the peak memory (RSS) of the command on N and 10 N sentences, each in a fresh process (goal: < 20 % growth).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPLIT = "train"
MEAN_WORDS, SD_WORDS = 26, 10  # BC5CDR: 77,399 words in 3,000 sentences


def write_corpus(folder: Path, n: int, seed: int = 0) -> dict:
    """Write CoNLL train (`n` sentences), dev and test (`n // 10` each) files of biomedical-length sentences.

    Each sentence joins consecutive demo-corpus sentences (tags kept) until a length drawn from
    N(`MEAN_WORDS`, `SD_WORDS`) (5 to 100 words) and is cut there; a cut never leaves an I- tag first.

    Returns:
        Sentences and words per file.
    """
    import numpy as np

    from bioprobe.data import load_task_data

    splits = load_task_data("ner", "demo").splits
    pool = [pair for split in ("train", "validation", "test")
            for pair in zip(splits[split]["tokens"][:], splits[split]["tags"][:])]
    rng, k, counts = np.random.default_rng(seed), 0, {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in (("train", n), ("dev", max(1, n // 10)), ("test", max(1, n // 10))):
        lines, words_in = [], 0
        for _ in range(size):
            target = int(np.clip(round(rng.normal(MEAN_WORDS, SD_WORDS)), 5, 100))
            words, tags = [], []
            while len(words) < target:
                more_words, more_tags = pool[k % len(pool)]
                words, tags, k = words + more_words, tags + more_tags, k + 1
            lines += [f"{w}\t{t}" for w, t in zip(words[:target], tags[:target])] + [""]
            words_in += target
        (folder / f"{name}.conll").write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts[name] = (size, words_in)
    return counts


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


def naive_child(model_name: str, folder: str, max_length: int, out: str) -> None:
    """The study's loop as its own process: load the model and the sentences (our loader), run `naive`, save the vectors
    of every 7th sentence to `out` (`.npz`) and print the phases' seconds as JSON (`check`: the saving, which the
    whole-process time leaves out)."""
    started = time.perf_counter()
    import numpy as np
    import torch  # noqa: F401

    from bioprobe.data import load_task_data
    from bioprobe.models import load_model

    imported = time.perf_counter()
    loaded = load_model(model_name, head="base", device="cpu")
    modelled = time.perf_counter()
    batch = load_task_data("ner", folder).splits[SPLIT]["tokens"][:]
    read = time.perf_counter()
    layers, tokens = naive(loaded.model, loaded.tokenizer, batch, max_length)
    done = time.perf_counter()
    keys, first = [], 0
    for s, words in enumerate(batch):
        if s % 7 == 0:
            keys += [(s, w, first + w) for w in range(len(words)) if first + w < len(layers[0])]
        first += len(words)
    vectors = np.stack([np.stack([layer[i] for *_, i in keys]) for layer in layers])
    np.savez(out, keys=np.array([(s, w) for s, w, _ in keys]), vectors=vectors)
    print(json.dumps({"imports": imported - started, "model": modelled - imported, "data": read - modelled,
                      "loop": done - read, "check": time.perf_counter() - done, "tokens": tokens,
                      "sentences": len(batch)}))


def startup_child(model_name: str, folder: str) -> None:
    """The command's start-up in a fresh process, phase by phase; prints the wall-clock and the CPU seconds of each
    phase as JSON (`{"wall": {...}, "cpu": {...}}`)."""
    marks = [(time.perf_counter(), time.process_time())]
    import datasets  # noqa: F401
    import torch  # noqa: F401
    import transformers

    import bioprobe.cli  # noqa: F401
    import bioprobe.probing.activations  # noqa: F401
    from bioprobe.data import load_task_data
    from bioprobe.models import load_model
    from bioprobe.registry import resolve_model

    marks.append((time.perf_counter(), time.process_time()))
    resolved = resolve_model(model_name)
    config = transformers.AutoConfig.from_pretrained(resolved.source)
    transformers.MODEL_MAPPING[type(config)]  # the model class's modules, which transformers imports lazily
    marks.append((time.perf_counter(), time.process_time()))
    load_model(resolved, head="base", device="cpu")
    marks.append((time.perf_counter(), time.process_time()))
    load_task_data("ner", folder)
    marks.append((time.perf_counter(), time.process_time()))
    out = {}
    for k, clock in enumerate(("wall", "cpu")):
        start, imported, classes, modelled, read = (mark[k] for mark in marks)
        out[clock] = {"imports": imported - start, "model_modules": classes - imported, "model": modelled - imported,
                      "data": read - modelled}
    print(json.dumps(out))


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(args, folder: Path, runs: Path, n_repeat: int) -> tuple[float, float, dict, Path]:
    """`bioprobe extract` on the corpus as a subprocess, timed whole; returns its wall-clock and CPU seconds, the
    cache's meta and its folder."""
    command = [str(Path(sys.executable).with_name("bioprobe")), "extract", "--task", "ner", "--model_name", args.model,
               "--training_size", "0", "--data", str(folder), "--split", SPLIT, "--max_length", str(args.max_length),
               "--runs_dir", str(runs / f"run{n_repeat}"), "--device", "cpu"]
    if args.batch_tokens:
        command += ["--batch_tokens", str(args.batch_tokens)]
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    (cache,) = (runs / f"run{n_repeat}" / "activations").glob(f"ner/*/pretrained/{SPLIT}-*")
    return seconds, cpu, json.loads((cache / "meta.json").read_text()), cache


def child(*arguments: str) -> tuple[float, float, dict]:
    """Run this script with `arguments` in a fresh process; its wall-clock and CPU seconds and the JSON it printed
    last."""
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, children_cpu() - cpu, json.loads(out.stdout.strip().splitlines()[-1])


def memory_child(args, n: int) -> None:
    """Run the command on `n` real-shaped sentences (a corpus of its own) and print its peak RSS (MiB) as JSON."""
    with tempfile.TemporaryDirectory() as temp:
        counts = write_corpus(Path(temp) / "data", n)
        _, _, meta, cache = run_command(args, Path(temp) / "data", Path(temp), 0)
        size = (cache / "features.npy").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"sentences": n, "words": counts["train"][1], "items": meta["items"], "peak_mib": peak,
                      "cache_mib": size / 2**20}))


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


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    """`median unit` and, for several runs, the range."""
    text = f"{statistics.median(values):.{digits}f} {unit}"
    return text if len(values) == 1 else f"{text} (range {min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--memory-sentences", type=int, default=1000, help="N of the memory check (0: skip it)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per batch (default: ours)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each whole process (ranges are printed)")
    parser.add_argument("--naive-child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--startup-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child is not None:
        return naive_child(args.model, args.naive_child[0], args.max_length, args.naive_child[1])
    if args.startup_child is not None:
        return startup_child(args.model, args.startup_child)
    if args.memory_child is not None:
        return memory_child(args, args.memory_child)
    sys.stdout.reconfigure(line_buffering=True)  # each result as it comes, also into a file
    temp = Path(tempfile.mkdtemp(prefix="bioprobe-bench-"))
    try:
        report(args, temp)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def report(args, temp: Path) -> None:
    """Write the corpus under `temp`, run every measurement and print the results."""
    import numpy as np
    import torch

    from bioprobe.models import load_model

    folder = temp / "data"
    counts = write_corpus(folder, args.sentences)
    n, words = counts["train"]
    print(f"model {args.model}, CoNLL corpus: train {n} sentences ({words} words, {words / n:.1f} per sentence), "
          f"dev and test {counts['test'][0]} each; `bioprobe extract --split {SPLIT}`, first-subword pooling, all "
          f"layers, torch threads {torch.get_num_threads()}, {args.repeats} run(s) of each process")
    rate_before = matmul_rate()
    starts, ours, naives, cache = [], [], [], None
    for repeat in range(args.repeats):  # interleaved, so that a slow spell of the machine hits both sides
        starts.append(child("--model", args.model, "--startup-child", str(folder)))
        wall, cpu, meta, cache = run_command(args, folder, temp, repeat)
        ours.append({"wall": wall, "cpu": cpu, **meta})
        wall, cpu, result = child("--model", args.model, "--max-length", str(args.max_length), "--naive-child",
                                  str(folder), str(temp / "naive.npz"))
        naives.append({**result, "wall": wall - result["check"], "cpu": cpu - result["check"]})
    rate = max(rate_before, matmul_rate())

    def column(runs, key):
        return [run[key] for run in runs]

    print(f"naive loop, whole process : {spread(column(naives, 'wall'))} (CPU {spread(column(naives, 'cpu'))}; "
          f"start-up {spread([r['imports'] + r['model'] + r['data'] for r in naives])}, loop "
          f"{spread(column(naives, 'loop'))}, {naives[-1]['tokens']} tokens)")
    print(f"bioprobe extract, whole   : {spread(column(ours, 'wall'))} (CPU {spread(column(ours, 'cpu'))}; "
          f"forward-pass loop {spread(column(ours, 'seconds'))}, {ours[-1]['tokens']} tokens, {ours[-1]['items']} "
          f"word vectors x {ours[-1]['layers']} layers)")
    ratios = [b["wall"] / a["wall"] for a, b in zip(ours, naives)]
    loops = [b["loop"] / a["seconds"] for a, b in zip(ours, naives)]
    cpu_ratios = [b["cpu"] / a["cpu"] for a, b in zip(ours, naives)]
    print(f"speed-up, whole process   : {spread(ratios, 'x', 2)} (goal >= 2.5x); in CPU seconds "
          f"{spread(cpu_ratios, 'x', 2)}; the loops alone {spread(loops, 'x', 2)}")
    for clock in ("wall", "cpu"):
        phase = {key: [s[clock][key] for *_, s in starts] for key in ("imports", "model", "model_modules", "data")}
        total = [a + b + c for a, b, c in zip(phase["imports"], phase["model"], phase["data"])]
        whole = [wall if clock == "wall" else cpu for wall, cpu, _ in starts]
        print(f"start-up, {clock:4s} seconds     : {spread(total)} (goal < 5 s) = imports {spread(phase['imports'])} + "
              f"model load {spread(phase['model'])} (of it {spread(phase['model_modules'])} the model class's "
              f"modules, which transformers imports lazily) + data load {spread(phase['data'])}; the whole process "
              f"{spread(whole)} (with the interpreter's start and exit: module teardown)")
    print(f"command outside its loop  : {spread([r['wall'] - r['seconds'] for r in ours])} (start-up, tokenizing "
          "and planning, items and metadata)")

    # Same vectors? The naive loop kept every 7th sentence's words; compare them with the cache's rows.
    with np.load(temp / "naive.npz") as saved:  # an npz member is read again at every access: read each once
        keys, vectors = saved["keys"], saved["vectors"]
    items = np.load(cache / "items.npz")
    features = np.load(cache / "features.npy", mmap_mode="r")
    row_of = {(int(u), int(w)): row for row, (u, w) in enumerate(zip(items["unit"], items["word"]))}
    worst, checked = 0.0, 0
    for k, (s, w) in enumerate(keys):
        row = row_of.get((int(s), int(w)))
        if row is not None:
            theirs = vectors[:, k]
            mine = np.asarray(features[:, row], dtype=np.float32)
            worst = max(worst, float(np.abs(mine - theirs).max() / (np.abs(theirs).max() + 1e-6)))
            checked += 1
    print(f"same vectors              : {checked} words compared, largest difference {worst:.1e} of the vector's "
          "scale (fp16 cache)")

    params = per_token_parameters(load_model(args.model, head="base", device="cpu").model)
    achieved = [2 * params * r["tokens"] / r["seconds"] for r in ours]
    print(f"FLOP/s                    : {spread([a / 1e9 for a in achieved], 'GFLOP/s')} in the forward-pass loop "
          f"(2 x {params / 1e6:.1f} M per-token parameters x tokens / s) = "
          f"{spread([100 * a / rate for a in achieved], '%', 0)} of the measured float32 matmul rate "
          f"{rate / 1e9:.1f} GFLOP/s (goal >= 75 %)")

    if not args.memory_sentences:
        return
    extra = ["--batch-tokens", str(args.batch_tokens)] if args.batch_tokens else []
    peaks = [child("--model", args.model, "--max-length", str(args.max_length), *extra, "--memory-child",
                   str(size))[2] for size in (args.memory_sentences, 10 * args.memory_sentences)]
    for peak in peaks:
        print(f"memory                    : {peak['sentences']:6d} sentences ({peak['words']} words) -> peak RSS of "
              f"the command {peak['peak_mib']:7.1f} MiB (cache file {peak['cache_mib']:.1f} MiB)")
    print(f"memory growth at 10x sentences: {peaks[1]['peak_mib'] / peaks[0]['peak_mib'] - 1:+.1%} (goal < 20 %)")


if __name__ == "__main__":
    main()
