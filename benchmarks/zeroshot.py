"""Zero-shot NLI evaluation, whole process: `bioprobe finetune --objective instruct --training_size 0` against the naive
way of computing the same numbers, each in a fresh process, on MedNLI-shaped instructions read by our loader.

    .venv/bin/python benchmarks/zeroshot.py [--model smollm2] [--items 100] [--repeats 1] [--threads N]

The data: the official MedNLI file layout (`mli_train_v1.jsonl`, `mli_dev_v1.jsonl`, `mli_test_v1.jsonl`, one JSON
object per line with `sentence1`, `sentence2`, `gold_label`, `pairID` and the four parse fields) in a temporary
folder, with pairs of MedNLI's published lengths (Romanov and Shivade 2018: premises about 20 words, hypotheses about
6): premises join consecutive demo-corpus premises up to a length drawn from N(20, 9) (5 to 80 words), hypotheses
are demo-corpus hypotheses cut or extended to a length drawn from N(6, 2) (3 to 15 words). Both sides read it with
`bioprobe.instructions.load_instructions` (one instruction per pair, in one of the five seeded paraphrases) and
answer the first `--items` test instructions:

- ours: `bioprobe.cli.main(["finetune", "--task", "nli", "--objective", "instruct", "--training_size", "0", ...])`, the
  command a user runs, in its own process (timers wrapped around its data load, model load, loop and the rest);
- naive: in its own process, the model loaded by the same loader, then per prompt transformers' `model.generate`
  (batch 1, greedy, the same caps, stopped by EOS or `###` as ours) and one forward pass over prompt + word for each
  of the three label words (the word tokenised as it follows the prompt, as ours), the generations written as JSONL.

Prints each side's whole-process time with its phases (start-up = imports + model + data; loop; writing), the ratio
(goal >= 3x), and whether the answers and log-likelihoods agree.
"""

from __future__ import annotations

import argparse
import json
import os
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
PREMISE_WORDS, PREMISE_SD = 20, 9
HYPOTHESIS_WORDS, HYPOTHESIS_SD = 6, 2
SEED = 42


def write_mednli(folder: Path, n_test: int, n_train: int = 60, seed: int = 0) -> dict:
    """Write `mli_{train,dev,test}_v1.jsonl` of MedNLI-shaped pairs (see the module docstring; a length counts the
    final period as a word, as MedNLI's token counts do); labels cycle through the three classes. Returns the mean
    words per premise and hypothesis of each file."""
    import numpy as np

    from bioprobe.data import load_task_data

    splits = load_task_data("nli", "demo").splits
    premises = [p.rstrip(" .") for split in splits.values() for p in split["premise"][:]]
    hypotheses = [h.rstrip(" .") for split in splits.values() for h in split["hypothesis"][:]]
    rng = np.random.default_rng(seed)
    labels = ("entailment", "contradiction", "neutral")
    folder.mkdir(parents=True, exist_ok=True)
    k, stats = 0, {}
    for name, size in (("train", n_train), ("dev", max(1, n_train // 10)), ("test", n_test)):
        lines, lengths = [], []
        for i in range(size):
            target = int(np.clip(round(rng.normal(PREMISE_WORDS, PREMISE_SD)), 5, 80)) - 1  # and the period
            words: list[str] = []
            while len(words) < target:
                words, k = words + premises[k % len(premises)].split(), k + 1
            premise = " ".join(words[:target]) + " ."
            target_h = int(np.clip(round(rng.normal(HYPOTHESIS_WORDS, HYPOTHESIS_SD)), 3, 15)) - 1
            words = hypotheses[(k * 7 + i) % len(hypotheses)].split()
            while len(words) < target_h:
                words += hypotheses[(k * 7 + i + len(words)) % len(hypotheses)].split()
            hypothesis = " ".join(words[:target_h]) + " ."
            lines.append(json.dumps({"sentence1": premise, "sentence2": hypothesis, "gold_label": labels[i % 3],
                                     "pairID": f"bench-{name}-{i}", "sentence1_parse": _flat_parse(premise),
                                     "sentence1_binary_parse": _flat_parse(premise, binary=True),
                                     "sentence2_parse": _flat_parse(hypothesis),
                                     "sentence2_binary_parse": _flat_parse(hypothesis, binary=True)}))
            lengths.append((len(premise.split()), len(hypothesis.split())))
        (folder / f"mli_{name}_v1.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        stats[name] = [float(np.mean(column)) for column in zip(*lengths)]
    return stats


def _flat_parse(sentence: str, binary: bool = False) -> str:
    """A flat stand-in for the parse fields of the official files (no reader uses them)."""
    words = sentence.split()
    return " ".join(f"( {w} )" for w in words) if binary else "(ROOT (S " + " ".join(f"(NN {w})" for w in words) + "))"


def command(model: str, folder: str, runs: str, items: int) -> list[str]:
    return ["finetune", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "0",
            "--data", folder, "--test-limit", str(items), "--runs-dir", runs, "--device", "cpu"]


def ours_child(model: str, folder: str, runs: str, items: int) -> None:
    """The command as a user runs it (`bioprobe.cli.main`, what the `bioprobe` console script calls), with timers
    wrapped around its phases; prints them as JSON."""
    started = time.perf_counter()
    marks: dict[str, float] = {}
    import bioprobe.cli  # noqa: F401  (what `bioprobe` imports before it parses the command)
    import bioprobe.finetune.generate as generation
    import bioprobe.finetune.instruct as instruct

    marks["imports"] = time.perf_counter() - started

    def timed(module, name: str, phase: str):
        function = getattr(module, name)

        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                marks[phase] = marks.get(phase, 0.0) + time.perf_counter() - began

        setattr(module, name, wrapper)

    timed(instruct, "load_instructions", "data")
    timed(instruct, "_load", "model")
    timed(generation, "generate_and_score", "loop")
    timed(instruct, "_score_and_store", "writing")
    try:
        bioprobe.cli.main(command(model, folder, runs, items))
    except SystemExit as end:
        if end.code:
            raise
    marks["whole_in_process"] = time.perf_counter() - started
    print(json.dumps(marks))


def naive_child(model_name: str, folder: str, out: str, items: int) -> None:
    """The naive way: per prompt `model.generate` (batch 1, greedy, the same caps and stop rule) and one forward pass
    per label word; writes the generations as JSONL to `out` and prints the phases' seconds as JSON."""
    started = time.perf_counter()
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    from bioprobe.instructions import load_instructions
    from bioprobe.models import load_model
    from bioprobe.tasks import get_task
    from bioprobe.finetune.decode import answer_text, stop_rule
    from bioprobe.finetune.generate import cut_answer
    from bioprobe.finetune.instruct import expected_cap
    from bioprobe.finetune.prompts import continuation_ids, prompt_ids, prompt_text

    imported = time.perf_counter()
    loaded = load_model(model_name, head="causal-lm", device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    modelled = time.perf_counter()
    task = get_task("nli")
    rows = load_instructions("nli", folder, seed=SEED).splits["test"].select(range(items)).to_list()
    read = time.perf_counter()
    stop = stop_rule(tokenizer, "medtuned")
    words = task.answer_words(task.fixed_labels)
    results = []
    for row in rows:
        text = prompt_text(tokenizer, "medtuned", row["instruction"], row["input"])
        prompt = prompt_ids(tokenizer, "medtuned", text)
        cap = expected_cap(task, tokenizer, task.gold(row["output"]))

        def stop_text(input_ids, scores, **kwargs):  # "###" in the last new tokens, as ours looks for it
            tail = input_ids[0, len(prompt):][-6:].tolist()
            return torch.tensor([stop.index(answer_text(tokenizer, tail)) is not None])

        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=cap,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        with torch.inference_mode():
            new = model.generate(input_ids=torch.tensor([prompt]), generation_config=config,
                                 stopping_criteria=StoppingCriteriaList([stop_text]))[0, len(prompt):].tolist()
        answer = cut_answer(new, tokenizer, cap, stop)
        loglik = {}
        for label, word in words.items():
            tokens = continuation_ids(tokenizer, text, word)
            with torch.inference_mode():
                logp = torch.log_softmax(model(torch.tensor([prompt + tokens])).logits[0].float(), -1)
            loglik[label] = sum(float(logp[len(prompt) - 1 + k, t]) for k, t in enumerate(tokens))
        results.append({"prompt": text, "output": answer.text, "raw_output": answer.raw, "tokens": answer.tokens,
                        "stopped": answer.stopped, "cap": cap, "gold": row["output"], "loglik": loglik})
    looped = time.perf_counter()
    Path(out).write_text("".join(json.dumps(item) + "\n" for item in results), encoding="utf-8")
    print(json.dumps({"imports": imported - started, "model": modelled - imported, "data": read - modelled,
                      "loop": looped - read, "writing": time.perf_counter() - looped}))


def child(threads: int | None, *arguments: str) -> tuple[float, float, dict]:
    """Run this script with `arguments` in a fresh process (`threads` torch threads, default torch's own); its
    wall-clock and CPU seconds and the JSON it printed last."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"child {arguments[:2]} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - started, children_cpu() - cpu, json.loads(out.stdout.strip().splitlines()[-1])


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    text = f"{statistics.median(values):.{digits}f} {unit}"
    return text if len(values) == 1 else f"{text} (range {min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--items", type=int, default=100, help="test instructions answered and scored")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, interleaved (ranges printed)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of both sides (default torch's own; 1 on a machine shared with other "
                             "work, where threads waiting for each other cost more than they give)")
    parser.add_argument("--ours-child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--naive-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours_child is not None:
        return ours_child(args.model, args.ours_child[0], args.ours_child[1], args.items)
    if args.naive_child is not None:
        return naive_child(args.model, args.naive_child[0], args.naive_child[1], args.items)
    sys.stdout.reconfigure(line_buffering=True)
    temp = Path(tempfile.mkdtemp(prefix="bioprobe-zeroshot-"))
    try:
        report(args, temp)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def report(args, temp: Path) -> None:
    import numpy as np

    folder = temp / "mednli"
    stats = write_mednli(folder, args.items)
    load = os.getloadavg()
    print(f"model {args.model}; {args.items} MedNLI-shaped test pairs ({folder.name}/mli_test_v1.jsonl: premise "
          f"{stats['test'][0]:.1f} words, hypothesis {stats['test'][1]:.1f} words on average); load average before "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; torch threads {args.threads or 'default'}; "
          f"{args.repeats} run(s) of each side")
    ours, naive = [], []
    for repeat in range(args.repeats):  # interleaved: a slow spell of a shared machine hits both sides
        runs = temp / f"runs{repeat}"
        wall, cpu, phases = child(args.threads, "--model", args.model, "--items", str(args.items), "--ours-child",
                                  str(folder), str(runs))
        ours.append({"wall": wall, "cpu": cpu, **phases})
        wall, cpu, phases = child(args.threads, "--model", args.model, "--items", str(args.items), "--naive-child",
                                  str(folder), str(temp / "naive.jsonl"))
        naive.append({"wall": wall, "cpu": cpu, **phases})

    def line(name: str, runs: list[dict]) -> str:
        start = [r["imports"] + r["model"] + r["data"] for r in runs]
        other = [r["wall"] - s - r["loop"] - r["writing"] for r, s in zip(runs, start)]
        return (f"{name:6s} whole process {spread([r['wall'] for r in runs])} (CPU {spread([r['cpu'] for r in runs])})"
                f": start-up {spread(start)} (imports "
                f"{spread([r['imports'] for r in runs])} + model {spread([r['model'] for r in runs])} + data "
                f"{spread([r['data'] for r in runs])}), loop {spread([r['loop'] for r in runs])}, writing "
                f"{spread([r['writing'] for r in runs])}, other (prompts, interpreter start and exit) "
                f"{spread(other)}")

    print(line("naive", naive))
    print(line("ours", ours))
    ratios = [b["wall"] / a["wall"] for a, b in zip(ours, naive)]
    loops = [b["loop"] / a["loop"] for a, b in zip(ours, naive)]
    cpu = [b["cpu"] / a["cpu"] for a, b in zip(ours, naive)]
    print(f"speed-up, whole process: {spread(ratios, 'x', 2)} (goal >= 3x); in CPU seconds {spread(cpu, 'x', 2)}; "
          f"the loops alone {spread(loops, 'x', 2)}")

    stored = runs / "generations" / "nli"
    (path,) = stored.glob("*/size0-seed42-instruct-test-0shot.jsonl")
    mine = [json.loads(line) for line in path.read_text().splitlines()]
    theirs = [json.loads(line) for line in (temp / "naive.jsonl").read_text().splitlines()]
    assert [m["prompt"] for m in mine] == [t["prompt"] for t in theirs], "the two sides read different prompts"
    same = sum((m["output"], m["raw_output"], m["tokens"], m["stopped"]) ==
               (t["output"], t["raw_output"], t["tokens"], t["stopped"]) for m, t in zip(mine, theirs))
    worst = max(abs(m["loglik"][label] - t["loglik"][label]) for m, t in zip(mine, theirs) for label in t["loglik"])
    ranked = sum(max(m["loglik"], key=m["loglik"].get) == max(t["loglik"], key=t["loglik"].get)
                 for m, t in zip(mine, theirs))
    tokens = np.mean([m["tokens"] for m in mine])
    print(f"same answers: {same} of {len(mine)} ({tokens:.1f} answer tokens each, {sum(m['stopped'] for m in mine)} "
          f"stopped on their own); log-likelihoods: largest difference {worst:.1e} nats, the same top label for "
          f"{ranked} of {len(mine)}")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (this machine's CPUs: {os.cpu_count()})")


if __name__ == "__main__":
    main()
