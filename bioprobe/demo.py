"""`bioprobe demo`: the whole study on the embedded default (demo corpus, minilm and smollm2), then the report.

minilm is the encoder, smollm2 the instruction-tuned decoder; both ship as Python packages and run offline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

SIZES = (0, 10, 30, 50, 100)


@dataclass(frozen=True)
class DemoRun:
    """Fine-tuning settings of one model in the demo.

    Attributes:
        model: Registry name.
        train_limit: Training pool (items of the demo train split); sizes are percentages of it. None: all.
        test_limit: Test items evaluated (the same for every model of a mode, so curves compare); None: all.
        epochs, lr, max_length: Training settings.
        batch_size: Per task: batch size (small batches give the few-hundred-item pools more optimizer steps; minilm's
            NLI needs the larger batch to stay stable).
        lora: Train LoRA adapters (the decoder, to fit a 2-core CPU budget).
        probe_limit: Sentences / pairs per split whose vectors are probed (a seeded sample; None: all).
        probe_layers: Layers probed: None for all, or a list like "0,3,6".
        attention_limit: Test sentences / pairs on which attention is compared (a seeded sample; None: all).
        ig_items: NLI test pairs over which the Integrated-Gradients premise / hypothesis share is averaged.
        ig_steps: Integration steps.
    """

    model: str
    train_limit: int | None
    test_limit: int | None
    epochs: float
    lr: float
    batch_size: dict[str, int]
    max_length: int
    lora: bool
    probe_limit: int | None
    probe_layers: str | None
    attention_limit: int | None
    ig_items: int
    ig_steps: int


# Sized for the 15-minute goal on a 2-core CPU (README states the measured time): smollm2 (30 layers, ~6x slower per
# token than minilm) trains on a smaller pool, probes every fifth layer of fewer sentences and compares attention on
# fewer items.
_EVERY_FIFTH = ",".join(str(layer) for layer in range(0, 31, 5))
PLANS = {
    False: (
        DemoRun("minilm", 700, 200, 2, 3e-4, {"ner": 8, "nli": 16}, 96, False, 250, None, 150, 40, 32),
        DemoRun("smollm2", 250, 200, 1, 2e-3, {"ner": 4, "nli": 8}, 96, True, 64, _EVERY_FIFTH, 40, 10, 16),
    ),
    True: (
        DemoRun("minilm", 600, 200, 2, 3e-4, {"ner": 16, "nli": 16}, 96, False, 150, None, 100, 30, 16),
        DemoRun("smollm2", 120, 200, 1, 1e-3, {"ner": 8, "nli": 8}, 96, True, 60, "0,6,12,18,24,30", 40, 8, 8),
    ),
}


def run_demo(runs_dir: str | Path = "runs/demo", quick: bool = False, overwrite: bool = False,
             seed: int = 42) -> Path:
    """Fine-tune minilm and smollm2 on demo NER and NLI at every training size, probe every run (and a random-init
    baseline), compare attention and attribute predictions, then write the report.

    Args:
        runs_dir: Where checkpoints, tables, figures and the report go.
        quick: Smaller pools and one epoch (a few minutes; what CI runs).
        overwrite: Recompute finished runs instead of reusing them.
        seed: Seed of subsets, heads and training.

    Returns:
        Path of the report.
    """
    from tqdm.auto import tqdm

    from attention.attribute import run_attribution
    from attention.compare import compare_attention
    from bioprobe.report import write_report
    from finetune.train import run_finetune
    from probing.run import run_probing

    started = time.perf_counter()
    plans = PLANS[quick]
    jobs = [(plan, task, size) for plan in plans for task in ("ner", "nli") for size in SIZES]
    lines, reused = [], []  # per step: taken from an earlier run with the same settings
    for plan, task, size in tqdm(jobs, desc="demo: fine-tuning", unit="run"):
        result = run_finetune(task, plan.model, size, data="demo", seed=seed, epochs=plan.epochs, lr=plan.lr,
                              batch_size=plan.batch_size[task], max_length=plan.max_length, runs_dir=runs_dir,
                              overwrite=overwrite, lora=plan.lora, train_limit=plan.train_limit,
                              test_limit=plan.test_limit)
        reused.append(result.reused)
        tqdm.write(f"{plan.model} {task} {size:>3} %: "
                   + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if "/" not in k)
                   + (" (reused)" if result.reused else ""))
    probes = [(plan, task, size, None) for plan in plans for task in ("ner", "nli") for size in SIZES]
    probes += [(plan, task, 0, "random-init") for plan in plans for task in ("ner", "nli")]
    for plan, task, size, baseline in tqdm(probes, desc="demo: probing", unit="run"):
        result = run_probing(task, plan.model, size, data="demo", seed=seed, layers=plan.probe_layers,
                             limit=plan.probe_limit, max_length=plan.max_length, runs_dir=runs_dir,
                             baseline=baseline, overwrite=overwrite, figures=False)
        reused.append(result.reused)
        accuracy = {row["layer"]: row["value"] for row in result.rows if row["metric"] == "accuracy"}
        best = max(accuracy, key=accuracy.get)
        tqdm.write(f"{plan.model} {task} {baseline or f'{size:>3} %'} probe: layer 0 {accuracy[min(accuracy)]:.3f}, "
                   f"best layer {best} {accuracy[best]:.3f}" + (" (reused)" if result.reused else ""))
    tuned = [size for size in SIZES if size > 0]
    for plan, task in tqdm([(plan, task) for plan in plans for task in ("ner", "nli")], desc="demo: attention",
                           unit="run"):
        compared = compare_attention(task, plan.model, tuned, data="demo", limit=plan.attention_limit, seed=seed,
                                     max_length=plan.max_length, runs_dir=runs_dir, figures=False,
                                     overwrite=overwrite)
        reused.append(compared.reused)
        cosine = [row for row in compared.rows if row["metric"] == "cosine" and row["training_size"] == tuned[-1]]
        layers = {}
        for row in cosine:
            layers.setdefault(row["layer"], []).append(row["value"])
        moved = min(layers, key=lambda layer: sum(layers[layer]) / len(layers[layer]))
        tqdm.write(f"{plan.model} {task} attention at {tuned[-1]} %: layer {int(moved)} changed most (mean cosine "
                   f"{sum(layers[moved]) / len(layers[moved]):.4f})" + (" (reused)" if compared.reused else ""))
        explained = run_attribution(task, plan.model, tuned[-1], examples=3, limit=plan.ig_items, data="demo",
                                    seed=seed, steps=plan.ig_steps, max_length=plan.max_length, runs_dir=runs_dir,
                                    overwrite=overwrite)
        reused.append(explained.reused)
        tqdm.write(f"{plan.model} {task} attribution at {tuned[-1]} %"
                   + (f": hypothesis share {explained.share:.3f}" if explained.share is not None else "")
                   + (" (reused)" if explained.reused else ""))
    for plan in plans:
        pool = "all" if plan.train_limit is None else plan.train_limit
        test = "all" if plan.test_limit is None else plan.test_limit
        lines.append(f"- **{plan.model}**: training pool {pool} items per task, test items {test}, "
                     f"{plan.epochs:g} epoch(s), lr {plan.lr:g}, batch {plan.batch_size['ner']} (NER) / "
                     f"{plan.batch_size['nli']} (NLI), max length {plan.max_length}, "
                     f"{'LoRA' if plan.lora else 'full fine-tuning'}; probes on "
                     f"{plan.probe_limit or 'all'} sentences / pairs per split, "
                     f"{'all layers' if plan.probe_layers is None else 'layers ' + plan.probe_layers}; attention "
                     f"compared on {plan.attention_limit or 'all'} test items; Integrated Gradients with "
                     f"{plan.ig_steps} steps, NLI share over {plan.ig_items} test pairs.")
    minutes = (time.perf_counter() - started) / 60
    notes = ("The embedded default: the generated demo corpus (NER with Disease, Chemical and Gene/Protein; NLI "
             "with entailment, neutral and contradiction), minilm (all-MiniLM-L6-v2, a 6-layer BERT encoder) and "
             "smollm2 (SmolLM2-135M-Instruct, a 30-layer Llama-architecture instruction-tuned decoder), at "
             f"training sizes {', '.join(map(str, SIZES))} % (0 = pretrained model with an untrained head), "
             f"seed {seed}{', quick mode' if quick else ''}.\n\n" + "\n".join(lines)
             + f"\n\n{_timing(minutes, reused)}\n")
    return write_report(runs_dir, title="bioprobe demo", notes=notes)


def _timing(minutes: float, reused: list[bool]) -> str:
    """How long the run took, and how much of it was reused from an earlier run with the same settings."""
    if all(reused):
        return "Every result was reused from an earlier run with the same settings; nothing was recomputed."
    some = f" ({sum(reused)} of {len(reused)} steps reused from an earlier run)" if any(reused) else ""
    return f"This run took {minutes:.1f} minutes{some}."
