"""Scoring a tuned model on fixed test items, once per intervention: the items tokenised and batched once, one forward
pass per batch, per-item outcomes whose sums give the score, so bootstrap intervals (the same resamples for every
intervention: paired) cost no forward pass. Classifier runs: the task's main metric; instruction runs: the
teacher-forced log-likelihood of the gold answer inside its prompt."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from bioprobe.errors import BioprobeError


def scored_items(spec, data, s, record=None):
    """The split `s.split` of the task data, as a seeded sample of `s.limit` items (the same sample every analysis of
    these settings draws), and the task data it comes from (labels: `s.labels`, else the run's).

    Raises:
        BioprobeError: for an empty split.
    """
    from bioprobe.data import load_task_data
    from bioprobe.probing.activations import _select

    labels = s.labels or (tuple(record.request["labels"]) if record is not None and record.request.get("labels")
                          else None)
    task_data = load_task_data(spec.name, data, labels)
    rows = task_data.splits[s.split]
    if len(rows) == 0:
        raise BioprobeError(f"The {s.split} split of {task_data.source} is empty; there is nothing to score.")
    return rows.select(_select(len(rows), s.limit, s.seed)), task_data


def scorer_for(spec, loaded, record, kind: str, rows, labels: tuple[str, ...], s) -> Scorer:
    """How a loaded model is scored on `rows`: by the answer log-likelihood inside its prompts when it has a language-
    model head (an instruction run, or the released model when `record` is None), else by the task's main metric."""
    device = next(loaded.model.parameters()).device
    if record is None or record.head == "causal-lm":
        template = (record.template if record is not None else None) or "medtuned"
        from bioprobe.finetune.prompts import keeps_logits

        return answer_scorer(spec, loaded.tokenizer, rows, template, s.seed, labels, s.prompt_length, s.batch_tokens,
                             device, keeps_logits(loaded.model))
    config = loaded.model.config
    names = tuple(config.id2label[i] for i in range(len(config.id2label)))
    return classifier_scorer(spec, loaded.tokenizer, rows, names, kind, s.length, s.batch_tokens, device,
                             record.evaluation)


@dataclass
class Scorer:
    """Fixed batches of test items and how a model's outputs on them become a score.

    Attributes:
        name: The score's name in tables (`f1`, `accuracy`, `micro_f1`, `answer_loglik`, ...).
        batches: `(inputs on the model's device, item index per row)` per forward pass, longest first.
        n_items: Items scored.
        run_batch: `(model, inputs, item indices) -> per-row outcomes`: one forward pass.
        finish: `(outcomes per item) -> [items, ...]` array whose sums give the score (`score`).
        score: `[..., *outcome shape]` summed outcomes -> score, vectorised over leading axes.
        truncated: Items cut at the length limit (classifier) or left out as too long (instruction runs).
    """

    name: str
    batches: list
    n_items: int
    run_batch: object
    finish: object
    score: object
    truncated: int = 0

    def outcomes(self, model, cache: BlockCache | None = None) -> np.ndarray:
        """One forward pass per batch of `model` (as it is now, patches and hooks included): `[items, ...]`. With
        `cache` (inside one of its contexts) the cache follows the batches."""
        import torch

        collected: list = [None] * self.n_items
        with torch.inference_mode():
            for number, (inputs, index) in enumerate(self.batches):
                if cache is not None:
                    cache.batch = number
                for i, value in zip(index, self.run_batch(model, inputs, index)):
                    collected[i] = value
        return self.finish(collected)


def classifier_scorer(task, tokenizer, rows, names: tuple[str, ...], kind: str, max_length: int, batch_tokens: int,
                      device, evaluation: dict | None = None) -> Scorer:
    """Test items encoded as fine-tuning encodes them (`Task.encode`), scored by the task's main metric.

    Args:
        task: The task object.
        tokenizer: The run's tokenizer.
        rows: The items (a `datasets.Dataset` in the task schema).
        names: The head's label names by id.
        kind: "encoder" or "decoder".
        max_length, batch_tokens: Encoding and batching.
        device: Where the model is.
        evaluation: The run record's evaluation (CLS thresholds).
    """
    from bioprobe.units import Unit, collate, length_batches

    dataset = task.encode(rows, tokenizer, names, max_length, kind)
    truncated = sum(task.truncation({"test": dataset}).values())
    encoded = dataset[:]  # every column as lists, read once
    gold = rows[:]
    types = encoded.get("token_type_ids")
    units = [Unit([ids], [types[i]] if types else None, [[]], [(i, 0)]) for i, ids in enumerate(encoded["input_ids"])]
    batches = []
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        inputs, _, _ = collate(batch, tokenizer.pad_token_id)
        batches.append(({k: v.to(device) for k, v in inputs.items()}, [unit.items[0][0] for unit in batch]))
    lengths = [len(ids) for ids in encoded["input_ids"]]

    def run_batch(model, inputs, index):
        logits = model(**inputs).logits.float().cpu().numpy()
        return [logits[row, :lengths[i]] if logits.ndim == 3 else logits[row] for row, i in enumerate(index)]

    def finish(logits):
        return task.outcomes(logits, encoded, gold, names, evaluation)

    return Scorer(task.main_metric, batches, len(lengths), run_batch, finish,
                  lambda sums: task.outcome_score(sums, names), truncated)


def answer_scorer(task, tokenizer, rows, template: str, seed: int, labels: tuple[str, ...], max_length: int,
                  batch_tokens: int, device, answer_logits: bool = False) -> Scorer:
    """Test items inside their seeded instruction prompts with the gold answer, scored by its teacher-forced
    log-likelihood: per item the mean log-probability of the answer's tokens and EOS (nats per token), averaged over
    items (`answer_loglik`; higher is better). With `answer_logits` (a model that takes `logits_to_keep`) only the
    positions that predict an answer token are projected onto the vocabulary: the same numbers, a fraction of the
    work (smollm2: 49k words at every prompt token otherwise)."""
    import torch

    from bioprobe.attention.importance import instruction_examples
    from bioprobe.finetune.prompts import collate
    from bioprobe.units import Unit, length_batches

    examples = instruction_examples(task.name, rows, template, tokenizer, max_length, seed, labels)
    if not examples:
        raise BioprobeError(f"Every item is longer than --max-length {max_length} inside its prompt; pass a larger "
                            "--max-length.")
    units = [Unit([e["input_ids"]], None, [[]], [(i, 0)]) for i, e in enumerate(examples)]
    batches = []
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        index = [unit.items[0][0] for unit in batch]
        padded = collate([examples[i] for i in index], tokenizer.pad_token_id, answer_logits)
        batches.append(({k: v.to(device) for k, v in padded.items()}, index))

    def run_batch(model, inputs, index):
        if "logits_to_keep" in inputs:  # logits of the kept positions only, and the tokens they predict
            logits = model(**{k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}).logits.float()
            target = inputs["shift_labels"]
        else:
            logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits[:, :-1].float()
            target = inputs["labels"][:, 1:]
        keep = target != -100
        logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        total = (logp * keep).sum(1)
        return (total / keep.sum(1).clamp_min(1)).cpu().numpy()

    return Scorer("answer_loglik", batches, len(examples), run_batch, lambda values: np.asarray(values)[:, None],
                  lambda sums: sums[..., 0] / len(examples), len(rows) - len(examples))


class BlockCache:
    """The outputs of every transformer block on every batch of a scorer, for some states of the weights, so that an
    intervention whose lowest changed part is block l computes blocks l..last only: blocks below it return what they
    returned before (the tuned state, or the pretrained one for reversion from the bottom). Exact: the same batches
    through the same kernels give the same tensors (test); the stored outputs are never changed in place.

    Attributes:
        blocks: The model's transformer blocks.
        stored: state name -> per batch, per block, the block's output.
        batch: The batch being scored (set by `Scorer.outcomes`).
    """

    def __init__(self, model):
        from bioprobe.causal.params import blocks_of

        self.blocks = blocks_of(model)
        self.stored: dict[str, list[list]] = {}
        self.batch = 0

    @staticmethod
    def fits(scorer: Scorer, model, budget: float | None = None) -> bool:
        """Whether two states' block outputs fit `budget` bytes (default: a quarter of the machine's memory, at most
        8 GiB): every batch's padded positions x hidden size x blocks, in the model's dtype."""
        import os

        from bioprobe.causal.params import n_layers_of, unwrap

        if budget is None:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            budget = min(total / 4, 8 * 2 ** 30)
        positions = sum(inputs["input_ids"].numel() for inputs, _ in scorer.batches)
        element = next(model.parameters()).element_size()
        return 2 * positions * unwrap(model).config.hidden_size * n_layers_of(model) * element <= budget

    def record(self, name: str, scorer: Scorer, model) -> np.ndarray:
        """Score `model` as it is now and keep every block's output under `name`; returns the outcomes."""
        kept: list[list] = [[None] * len(self.blocks) for _ in scorer.batches]

        def keep(j):
            def hook(module, args, output):
                kept[self.batch][j] = output
            return hook

        handles = [block.register_forward_hook(keep(j)) for j, block in enumerate(self.blocks)]
        try:
            found = scorer.outcomes(model, self)
        finally:
            for handle in handles:
                handle.remove()
        self.stored[name] = kept
        return found

    @contextlib.contextmanager
    def reusing(self, name: str, n_blocks: int):
        """While open, the first `n_blocks` blocks return their stored `name` outputs instead of computing."""
        for j, block in enumerate(self.blocks[:n_blocks]):
            block.forward = lambda *args, j=j, **kwargs: self.stored[name][self.batch][j]
        try:
            yield
        finally:
            for block in self.blocks[:n_blocks]:
                del block.forward


@dataclass
class Resamples:
    """One set of bootstrap resamples of the items, shared by every intervention (paired intervals).

    Attributes:
        weights: `[resamples, items]` how often each item is drawn in each resample.
    """

    weights: np.ndarray

    @classmethod
    def draw(cls, n_items: int, n_boot: int = 1000, seed: int = 42) -> Resamples:
        rng = np.random.default_rng(seed)
        return cls(rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=n_boot).astype(float))

    def scores(self, outcomes: np.ndarray, score) -> tuple[float, np.ndarray]:
        """The score of all items and of every resample (`[resamples]`)."""
        flat = outcomes.reshape(len(outcomes), -1)
        whole = score(flat.sum(0).reshape(outcomes.shape[1:]))
        drawn = score((self.weights @ flat).reshape(len(self.weights), *outcomes.shape[1:]))
        return float(whole), np.asarray(drawn, dtype=float)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap values (NaN where every value is NaN)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
