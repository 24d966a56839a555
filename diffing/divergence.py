"""Output divergence of a tuned run from its reference (`bioprobe divergence`): on the seeded test prompts with their
gold answers, KL(tuned || reference) of the two next-token distributions at every position, at prompt and at answer
positions apart; per item, the mean over items with a bootstrap interval, and the items that changed most with their
tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.diffing.items import IGNORE
from bioprobe.settings import DivergenceSettings

PROMPT, ANSWER, NONE = 0, 1, -1
POSITIONS = {PROMPT: "prompt", ANSWER: "answer"}
"""Position classes: a position's next-token distribution predicts a prompt token or an answer token (the gold
answer's tokens and its closing EOS); the last real token and padding predict nothing read here."""


def kl_divergence(log_p, log_q):
    """KL(p || q) = sum_v p_v (log p_v - log q_v) in nats, per row of log-probabilities (a token p gives probability
    0 adds nothing). `[positions, vocabulary]` x 2 -> `[positions]`."""
    import torch

    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)


def position_classes(labels, attention_mask):
    """The class of each position's next-token distribution (the one that predicts token t + 1): `ANSWER` where
    token t + 1 is labelled (an answer token), `PROMPT` where it is an unlabelled real token, `NONE` at the last real
    position and at padding. `[batch, length]` x 2 -> `[batch, length]`."""
    import torch

    out = torch.full_like(labels, NONE)
    following = torch.where(labels[:, 1:] != IGNORE, ANSWER, PROMPT)
    out[:, :-1] = torch.where(attention_mask[:, 1:] == 1, following, NONE)
    return out


def batch_divergence(readings, inputs, chunk: int | None = None):
    """KL(run || reference) at every position of one batch: one forward pass of each model over the same inputs;
    the final hidden states are projected onto the vocabulary a chunk of positions at a time.

    Args:
        readings: The run's and the reference's `Reading` (in that order).
        inputs: The batch (`input_ids`, `attention_mask`, `labels`).
        chunk: Positions projected at once (default `readout.CHUNK`).

    Returns:
        `(kl [batch, length] float numpy, NaN where nothing is predicted; classes [batch, length])`.
    """
    import torch

    from bioprobe.diffing.readout import CHUNK

    chunk = chunk or CHUNK
    classes = position_classes(inputs["labels"], inputs["attention_mask"])
    rows, columns = torch.nonzero(classes != NONE, as_tuple=True)
    finals = []
    for reading in readings:
        with reading.context():
            finals.append(reading.readout.states(inputs)[-1][rows, columns])
    values = torch.empty(len(rows), dtype=torch.float64)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        run, reference = (_log_probs(reading, final[part]) for reading, final in zip(readings, finals))
        values[part] = kl_divergence(run, reference).double().cpu()
    kl = np.full(tuple(classes.shape), np.nan)
    kl[rows.cpu().numpy(), columns.cpu().numpy()] = values.numpy()
    return kl, classes.cpu().numpy()


def _log_probs(reading, hidden):
    """The final norm and the head of the model in `reading`'s state (an adapter off for the base) on `hidden`."""
    import torch

    with reading.context():
        return torch.log_softmax(reading.readout.logits(hidden), dim=-1)


@dataclass
class ItemKL:
    """One item's per-position KL.

    Attributes:
        ids: Its token ids (prompt, answer, EOS).
        kl: `[tokens]` the KL of the distributions that predicted each token (NaN for the first).
        classes: `[tokens]` the class of each token's predicting position (`NONE` for the first).
    """

    ids: list[int]
    kl: np.ndarray
    classes: np.ndarray

    def mean(self, position: int) -> float:
        here = self.kl[self.classes == position]
        return float(here.mean()) if len(here) else float("nan")


def item_divergences(readings, items) -> list[ItemKL]:
    """Per item (in item order) its token ids and the KL of the distributions that predicted each token."""
    import torch

    found: list = [None] * items.n_items
    with torch.inference_mode():
        for inputs, index in items.batches:
            kl, classes = batch_divergence(readings, inputs)
            lengths = inputs["attention_mask"].sum(1).tolist()
            ids = inputs["input_ids"].cpu().tolist()
            for row, i in enumerate(index):
                n = lengths[row]
                found[i] = ItemKL(ids[row][:n], np.concatenate([[np.nan], kl[row, :n - 1]]),
                                  np.concatenate([[NONE], classes[row, :n - 1]]))
    return found


def summary_rows(found: list[ItemKL], n_boot: int, seed: int) -> list[dict]:
    """Per position class the mean over items of each item's mean KL there, with a 95 % bootstrap interval over
    items (`metric` "kl"), and each item's own mean (`metric` "kl_item")."""
    from bioprobe.causal.score import Resamples, interval

    rows = []
    for position, name in POSITIONS.items():
        means = np.array([item.mean(position) for item in found])
        counts = [int((item.classes == position).sum()) for item in found]
        kept = np.isfinite(means)
        n = int(kept.sum())
        if n:
            whole, drawn = Resamples.draw(n, n_boot, seed).scores(means[kept][:, None], lambda sums: sums[..., 0] / n)
            low, high = interval(drawn)
        else:
            whole, low, high = float("nan"), float("nan"), float("nan")
        rows.append({"metric": "kl", "position": name, "item": None, "value": whole, "ci_low": low, "ci_high": high,
                     "n_tokens": int(sum(counts))})
        rows += [{"metric": "kl_item", "position": name, "item": i, "value": float(means[i]), "n_tokens": counts[i]}
                 for i in range(len(found))]
    return rows


def token_rows(found: list[ItemKL], tokenizer, examples: int) -> list[dict]:
    """The `examples` items whose mean KL at the answer positions is largest, token by token (`metric`
    "kl_token"): `example` (1 = changed most), `item`, `token_index`, `token` (as the tokenizer writes it), the
    class of the position that predicted it, and the KL there (blank for the first token)."""
    order = sorted(range(len(found)), key=lambda i: -np.nan_to_num(found[i].mean(ANSWER), nan=-np.inf))
    rows = []
    for example, i in enumerate(order[:examples], 1):
        item = found[i]
        for j, (token, value, kind) in enumerate(zip(tokenizer.convert_ids_to_tokens(item.ids), item.kl,
                                                     item.classes)):
            rows.append({"metric": "kl_token", "example": example, "item": i, "token_index": j, "token": token,
                         "position": POSITIONS.get(int(kind)), "value": float(value)})
    return rows


@dataclass
class DivergenceResult:
    """What `run_divergence` wrote: the table, its rows, the mean KL per position class."""

    table: Path
    rows: list[dict]
    kl: dict = field(default_factory=dict)
    reused: bool = False
    seconds: dict | None = None


def run_divergence(settings: DivergenceSettings | None = None, *, n_boot: int = 1000, **fields) -> DivergenceResult:
    """KL(tuned || reference) of the next-token distributions on the test prompts (`bioprobe divergence`).

    The seeded test prompts with their gold answers (the items `bioprobe revert` scores) are tokenised and batched
    once; the run and its reference (the pretrained model, a LoRA run's base with the adapter off, or `reference`,
    which must share the tokenizer) each make one forward pass over the same batches. At each position t the
    distribution over token t + 1 of the run is compared with the reference's: KL(run || reference) in nats, a prompt
    position when token t + 1 is part of the prompt, an answer position when it is an answer token (or the closing
    EOS). Per item the mean over its positions of each class; the mean over items with a 95 % bootstrap interval;
    the `examples` items with the largest answer KL token by token.

    Args:
        settings: Which run and items (`bioprobe.settings.DivergenceSettings`; or its fields as keywords).
        n_boot: Bootstrap resamples over items.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written (or reused) and its rows.

    Raises:
        BioprobeError: (one sentence, before anything is written) for a classifier run, size 0 without a reference,
            an encoder, a reference with another tokenizer, a run that does not exist.
    """
    from bioprobe.causal.score import scored_items
    from bioprobe.diffing.items import prompt_items
    from bioprobe.diffing.pair import common_columns, load, store, table_of
    from bioprobe.settings import build
    from bioprobe.tasks import get_task

    s = build(DivergenceSettings, fields, "run_divergence") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    pair, path, recorded = table_of(s, "divergence", n_boot)
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return DivergenceResult(path, rows, _means(rows), reused=True)

    started = time.perf_counter()
    load(pair, s)
    rows_in, task_data = scored_items(spec, pair.data, s, pair.record)
    items = prompt_items(spec, pair, rows_in, task_data.labels, s)
    loaded_s = time.perf_counter() - started
    started = time.perf_counter()
    found = item_divergences(pair.readings, items)
    forward_s = time.perf_counter() - started
    measured = summary_rows(found, n_boot, s.seed) + token_rows(found, pair.tokenizer, s.examples)
    common = {**common_columns("divergence", s, pair, items, task_data.source), "template": pair.template}
    rows = [{**common, **row} for row in measured]
    seconds = {"load": round(loaded_s, 2), "forward": round(forward_s, 2)}
    store(path, recorded, rows, "divergence", s, pair, items.n_items, seconds)
    return DivergenceResult(path, rows, _means(rows), seconds=seconds)


def _means(rows: list[dict]) -> dict:
    """position -> mean KL of the summary rows."""
    return {row["position"]: float(row["value"]) for row in rows if row["metric"] == "kl"}
