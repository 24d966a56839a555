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
        epochs, lr, batch_size, max_length: Training settings.
        lora: Train LoRA adapters (the decoder, to fit a 2-core CPU budget).
    """

    model: str
    train_limit: int | None
    test_limit: int | None
    epochs: float
    lr: float
    batch_size: int
    max_length: int
    lora: bool


# Sized so that the full demo stays under 15 minutes on a 2-core CPU and --quick under a few minutes.
PLANS = {
    False: (
        DemoRun("minilm", 1200, None, 3, 2e-4, 16, 96, False),
        DemoRun("smollm2", 400, None, 1, 1e-3, 16, 96, True),
    ),
    True: (
        DemoRun("minilm", 600, 200, 2, 3e-4, 16, 96, False),
        DemoRun("smollm2", 120, 200, 1, 1e-3, 8, 96, True),
    ),
}


def run_demo(runs_dir: str | Path = "runs/demo", quick: bool = False, overwrite: bool = False,
             seed: int = 42) -> Path:
    """Fine-tune minilm and smollm2 on demo NER and NLI at every training size, then write the report.

    Args:
        runs_dir: Where checkpoints, tables, figures and the report go.
        quick: Smaller pools and one epoch (a few minutes; what CI runs).
        overwrite: Recompute finished runs instead of reusing them.
        seed: Seed of subsets, heads and training.

    Returns:
        Path of the report.
    """
    from tqdm.auto import tqdm

    from bioprobe.report import write_report
    from finetune.train import run_finetune

    started = time.perf_counter()
    plans = PLANS[quick]
    jobs = [(plan, task, size) for plan in plans for task in ("ner", "nli") for size in SIZES]
    lines = []
    for plan, task, size in tqdm(jobs, desc="demo: fine-tuning", unit="run"):
        result = run_finetune(task, plan.model, size, data="demo", seed=seed, epochs=plan.epochs, lr=plan.lr,
                              batch_size=plan.batch_size, max_length=plan.max_length, runs_dir=runs_dir,
                              overwrite=overwrite, lora=plan.lora, train_limit=plan.train_limit,
                              test_limit=plan.test_limit)
        tqdm.write(f"{plan.model} {task} {size:>3} %: "
                   + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if "/" not in k)
                   + (" (reused)" if result.reused else ""))
    for plan in plans:
        pool = "all" if plan.train_limit is None else plan.train_limit
        test = "all" if plan.test_limit is None else plan.test_limit
        lines.append(f"- **{plan.model}**: training pool {pool} items per task, test items {test}, "
                     f"{plan.epochs:g} epoch(s), lr {plan.lr:g}, batch {plan.batch_size}, max length "
                     f"{plan.max_length}, {'LoRA' if plan.lora else 'full fine-tuning'}.")
    minutes = (time.perf_counter() - started) / 60
    notes = ("The embedded default: the generated demo corpus (NER with Disease, Chemical and Gene/Protein; NLI "
             "with entailment, neutral and contradiction), minilm (all-MiniLM-L6-v2, a 6-layer BERT encoder) and "
             "smollm2 (SmolLM2-135M-Instruct, a 30-layer Llama-architecture instruction-tuned decoder), at "
             f"training sizes {', '.join(map(str, SIZES))} % (0 = pretrained model with an untrained head), "
             f"seed {seed}{', quick mode' if quick else ''}.\n\n" + "\n".join(lines)
             + f"\n\nThis run took {minutes:.1f} minutes.\n")
    return write_report(runs_dir, title="bioprobe demo", notes=notes)
