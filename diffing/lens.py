"""The logit lens (`bioprobe lens`): each layer's hidden state at the answer positions, through the model's final norm
and unembedding, read as a prediction of the gold answer token (its probability and rank), for the run and its
reference on the same batches; and the depth at which the answer becomes decodable. Decoders read their seeded test
prompts' gold answers; encoders with a masked-LM head read masked tokens through that head."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.settings import LensSettings

MEASURES = ("answer_prob", "answer_log_rank", "answer_top1")
"""Per item and layer, means over the item's answer tokens: the gold token's probability, the log of its rank
(1 = the top token) and whether it is ranked first."""
DECODABLE = 0.5
"""The answer is decodable at a layer when the mean over items of the share of answer tokens ranked first there
reaches this."""


def layer_predictions(reading, inputs, shift: int, chunk: int | None = None,
                      layers: list[int] | None = None) -> tuple[list, list]:
    """One forward pass of a model: at every position that predicts a gold token, each layer's hidden state read
    through the final norm and the head as a prediction of it.

    Args:
        reading: The model's `Reading` (its state opened around the pass).
        inputs: The batch (`input_ids`, `attention_mask`, `labels`).
        shift: 1 when position t predicts token t + 1 (decoders), 0 for masked tokens.
        chunk: Positions projected at once.
        layers: The layers read (default: all).

    Returns:
        `(probabilities, ranks)`: per layer read (0 = the embeddings .. the last block) a `[positions]` tensor each,
        the positions in `read_positions` order.
    """
    import torch

    from bioprobe.diffing.items import read_positions
    from bioprobe.diffing.readout import CHUNK, gold_prob_rank

    chunk = chunk or CHUNK
    rows, positions, gold = read_positions(inputs["labels"], inputs["attention_mask"], shift)
    probs, ranks = [], []
    with reading.context():  # the norm and the head too in the reading's state (an adapter off for the base)
        hidden = reading.readout.states(inputs)
        for layer in range(len(hidden)) if layers is None else layers:
            picked = hidden[layer][rows, positions]
            found = [gold_prob_rank(reading.readout.logits(picked[start:start + chunk]), gold[start:start + chunk])
                     for start in range(0, len(gold), chunk)]
            probs.append(torch.cat([p for p, _ in found]) if found else torch.zeros(0))
            ranks.append(torch.cat([r for _, r in found]) if found else torch.zeros(0, dtype=torch.long))
    return probs, ranks


def item_outcomes(reading, items, layers: list[int] | None = None) -> np.ndarray:
    """`[items, layers read, 3]`: per item and layer the means over its answer tokens of `MEASURES` (NaN for an item
    without one)."""
    import torch

    from bioprobe.diffing.items import read_positions

    found = None
    with torch.inference_mode():
        for inputs, index in items.batches:
            probs, ranks = layer_predictions(reading, inputs, items.shift, layers=layers)
            rows = read_positions(inputs["labels"], inputs["attention_mask"], items.shift)[0].cpu().numpy()
            if found is None:
                found = np.full((items.n_items, len(probs), len(MEASURES)), np.nan)
            for layer, (prob, rank) in enumerate(zip(probs, ranks)):
                prob, rank = prob.double().cpu().numpy(), rank.cpu().numpy()
                for row, i in enumerate(index):
                    mine = rows == row
                    if mine.any():
                        found[i, layer] = (prob[mine].mean(), np.log(rank[mine]).mean(), (rank[mine] == 1).mean())
    return found


def score(sums: np.ndarray, n: int) -> np.ndarray:
    """`[..., 3]` summed item outcomes of `n` items -> `[..., 3]` answer_prob, answer_rank (the geometric mean rank:
    exp of the mean log rank) and answer_top1."""
    means = sums / n
    return np.stack([means[..., 0], np.exp(means[..., 1]), means[..., 2]], axis=-1)


def decodable_layer(top1: np.ndarray, threshold: float = DECODABLE) -> np.ndarray:
    """The lowest layer whose top-1 share reaches `threshold` (NaN where none does). `[..., layers]` -> `[...]`."""
    reached = np.asarray(top1) >= threshold
    first = reached.argmax(axis=-1).astype(float)
    return np.where(reached.any(axis=-1), first, np.nan)


def lens_rows(outcomes: np.ndarray, n_boot: int, seed: int, layers: list[int] | None = None,
              n_layers: int | None = None) -> list[dict]:
    """Per layer the mean over items of `answer_prob`, `answer_rank` (geometric mean) and `answer_top1`, with 95 %
    bootstrap intervals over items (the same resamples for every layer); `decodable_layer` (the lowest layer read
    that reaches `DECODABLE`; NaN: none does) with its interval, whose upper bound is infinite when more than 2.5 %
    of the resamples reach it at no layer read.

    Args:
        outcomes: `[items, layers read, 3]` (`item_outcomes`).
        n_boot, seed: Bootstrap resamples and their seed.
        layers: The layer numbers read (default: 0 .. layers read - 1).
        n_layers: The model's blocks, for depth = layer / n_layers (default: the last layer read).
    """
    from bioprobe.causal.score import Resamples, interval

    kept = outcomes[np.isfinite(outcomes).all(axis=(1, 2))]
    layers = list(range(outcomes.shape[1])) if layers is None else list(layers)
    n, n_layers = len(kept), n_layers or max(layers[-1], 1)
    if not n:
        return []
    resamples = Resamples.draw(n, n_boot, seed)
    whole = score(kept.sum(0), n)
    drawn = score((resamples.weights @ kept.reshape(n, -1)).reshape(len(resamples.weights), *kept.shape[1:]), n)
    rows = []
    for j, layer in enumerate(layers):
        for k, metric in enumerate(("answer_prob", "answer_rank", "answer_top1")):
            low, high = interval(drawn[:, j, k])
            rows.append({"metric": metric, "layer": layer, "depth": layer / n_layers, "value": float(whole[j, k]),
                         "ci_low": low, "ci_high": high})
    numbers = np.array(layers + [np.nan], dtype=float)  # index of the first layer reached -> its number
    to_layer = lambda found: np.where(np.isnan(found), np.nan, numbers[np.nan_to_num(found).astype(int)])  # noqa: E731
    low, high = _layer_interval(to_layer(decodable_layer(drawn[..., 2])), layers[-1])
    first = float(to_layer(decodable_layer(whole[:, 2])))
    rows.append({"metric": "decodable_layer", "layer": None, "depth": first / n_layers, "value": first,
                 "ci_low": low, "ci_high": high, "threshold": DECODABLE})
    return [{**row, "n_layers": n_layers, "n_items_read": n} for row in rows]


def _layer_interval(found: np.ndarray, last: int, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the decodable layers of the resamples, a resample where no layer read reaches the
    threshold (NaN) counted as beyond the last layer read: a bound that falls there is infinite ("never")."""
    values = np.where(np.isnan(found), last + 1, found)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return tuple(float(bound) if bound <= last else float("inf") for bound in (low, high))


@dataclass
class LensResult:
    """What `run_lens` wrote: the table, its rows and the decodable layer of each reading."""

    table: Path
    rows: list[dict]
    decodable: dict = field(default_factory=dict)
    reused: bool = False
    seconds: dict | None = None


def run_lens(settings: LensSettings | None = None, *, n_boot: int = 1000, **fields) -> LensResult:
    """The logit lens of a run and its reference (`bioprobe lens`).

    Decoders: the seeded test prompts with their gold answers (the items `bioprobe revert` scores), tokenised and
    batched once; at every position that predicts an answer token (or the closing EOS) each layer's hidden state (0 =
    the embeddings, l = the output of block l) goes through the model's final norm and unembedding, and the gold
    token's probability and rank (1 = top) are read. Encoders with a masked-LM head (size 0): `mask_share` of each
    test item's tokens masked (seeded), each layer read through the MLM head at the masked positions. The last layer
    read this way is the model's own prediction. Per item the means over its answer tokens; per layer the mean over
    items of the probability and of the top-1 share and the geometric mean rank (exp of the mean log rank), with 95 %
    bootstrap intervals over items; the decodable layer is the lowest whose top-1 share reaches `DECODABLE`. The run
    (a tuned run, or at size 0 the model as released) and its reference (the pretrained model beside a tuned run, or
    `reference`) make one forward pass each over the same batches; rows say which in `reading` ("run" /
    "reference").

    Args:
        settings: Which run and items (`bioprobe.settings.LensSettings`; or its fields as keywords).
        n_boot: Bootstrap resamples over items.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written (or reused) and its rows.

    Raises:
        BioprobeError: (one sentence, before anything is written) for a classifier run, an encoder without a
            masked-LM head, a reference with another tokenizer, a run that does not exist.
    """
    from bioprobe.causal.score import scored_items
    from bioprobe.diffing.items import masked_items, prompt_items
    from bioprobe.diffing.pair import common_columns, load, store, table_of
    from bioprobe.probing.run import parse_layers
    from bioprobe.settings import build
    from bioprobe.tasks import get_task

    s = build(LensSettings, fields, "run_lens") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    pair, path, recorded = table_of(s, "lens", n_boot)
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return LensResult(path, rows, _decodable(rows), reused=True)

    started = time.perf_counter()
    load(pair, s)
    rows_in, task_data = scored_items(spec, pair.data, s, pair.record)
    if pair.kind == "encoder":
        items = masked_items(spec, pair.tokenizer, rows_in, s.mask_share, s.length, s.batch_tokens, s.seed,
                             pair.device)
    else:
        items = prompt_items(spec, pair, rows_in, task_data.labels, s)
    loaded_s = time.perf_counter() - started
    started = time.perf_counter()
    decoder = pair.kind == "decoder"
    common = {**common_columns("lens", s, pair, items, task_data.source),
              "template": pair.template if decoder else None, "read_at": "answer" if decoder else "masked"}
    chosen = [parse_layers(s.layers, reading.readout.n_layers, pair.source.name if reading.name == "run" else
                           str(pair.reference)) for reading in pair.readings]
    rows = []
    for reading, layers in zip(pair.readings, chosen):
        measured = lens_rows(item_outcomes(reading, items, layers), n_boot, s.seed, layers, reading.readout.n_layers)
        rows += [{**common, "reading": reading.name, **row} for row in measured]
    seconds = {"load": round(loaded_s, 2), "forward": round(time.perf_counter() - started, 2)}
    store(path, recorded, rows, "lens", s, pair, items.n_items, seconds)
    return LensResult(path, rows, _decodable(rows), seconds=seconds)


def _decodable(rows: list[dict]) -> dict:
    """reading -> decodable layer (NaN: never)."""
    return {row["reading"]: float(row["value"]) for row in rows if row["metric"] == "decodable_layer"}
