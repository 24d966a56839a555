"""Generation for evaluation: batched, left-padded, sorted by expected length, greedy, stopped by the prompt format's
stop rule (EOS; the next `###` section; a chat template's end of turn), capped per item, finished rows leaving the
batch; and the log-likelihood of fixed answers (NLI label words) from the same reading of each prompt, the token
prefix that prompts share (an instruction's paraphrase) read once for all of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from bioprobe.finetune.decode import StopRule, answer_text

BATCH = {"cpu": 32, "cuda": 64}
"""Prompts per generation batch: on a CPU 32, where a decoding step of one row is bound by reading the weights and
wider steps cost little more (smollm2 with 150 cached tokens: 41 ms for 1 row, 100 ms for 16, 132 ms for 32), while a
prompt's prefill costs the same per row at any width; benchmarks/generate.py measured 6.5x transformers' batch-1
greedy `generate` at 32 and 4.7x at 16 (64 NER instructions). On a GPU the rows follow the memory it has free
(`default_batch`); 64 is the fallback where that cannot be told."""


def default_batch(model, longest: int, prompt: int, device=None) -> int:
    """Prompts per batch when none is given: `BATCH["cpu"]` on a CPU; on a GPU as many rows as half its free memory
    holds (`bioprobe.memory.generation_rows`: each row's cache of `longest` tokens, its `prompt` read in one pass),
    between 1 and 256."""
    from bioprobe import memory

    device = device or next(model.parameters()).device
    if device.type == "cpu":
        return BATCH["cpu"]
    return memory.generation_rows(model, longest, prompt, BATCH["cuda"])


@dataclass(frozen=True)
class Generated:
    """One generated answer.

    Attributes:
        text: The answer as the tokenizer decodes it (what a reader sees), cut where the stop rule ends it and
            stripped of trailing whitespace.
        raw: The same answer without the detokeniser's clean-up (`bioprobe.finetune.decode.answer_text`): what the
            NER parser reads. Equal to `text` for byte-level BPE and SentencePiece tokenizers.
        tokens: Tokens generated up to that point.
        stopped: False when the stop rule did not end the answer within the item's cap (the answer is cut there).
    """

    text: str
    raw: str
    tokens: int
    stopped: bool


def _left_padded(rows: list[list[int]], pad_id: int):
    import torch

    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, width - len(row):] = torch.tensor(row)
        mask[r, width - len(row):] = 1
    return ids, mask


def generate(model, tokenizer, prompts: list[list[int]], caps: list[int], stop: StopRule,
             batch_size: int | None = None, progress: bool = True, desc: str = "Generating",
             share_prefix: bool = True) -> list[Generated]:
    """Greedy answers to prompts, in their order (`generate_and_score` without answers to score)."""
    return _evaluate(model, tokenizer, tokenizer.pad_token_id, prompts, caps, stop, None, batch_size, progress, desc,
                     share_prefix)[0]


def generate_and_score(model, tokenizer, prompts: list[list[int]], caps: list[int], stop: StopRule | None,
                       answers: list[list[list[int]]] | None, batch_size: int | None = None, progress: bool = True,
                       desc: str = "Generating",
                       share_prefix: bool = True) -> tuple[list[Generated], np.ndarray | None]:
    """Greedy answers to prompts and the log-likelihood of fixed answers after them, each prompt read once.

    The token prefix that prompts share (the instruction of a paraphrase, a one-shot example: `shared_prefixes`) is
    read once, in a pass of its own, and its key/value cache reused by every batch with a prompt that starts with it;
    each prompt's own rest is read once, in its batch, and the cache of that pass serves both the log-likelihoods of
    the fixed answers (one short pass per answer from a copy of it) and the greedy answer. Prompts run in batches of
    `batch_size`, those with the longest caps (expected answers) first: each row's prefix cache is left-padded to the
    longest prefix of the batch and its rest left-padded to the longest rest, so every answer starts at the same column,
    padding masked and position ids counting real tokens only; a row leaves its batch, cache included, as soon as its
    stop rule ends it or it reaches its own cap. The answers are those of `model.generate` with greedy decoding and the
    same stop rule, and the log-likelihoods those of one unpadded pass over prompt and answer (to float precision),
    with or without the shared prefixes.

    Args:
        model: A causal LM.
        tokenizer: Its tokenizer (pad id; stop texts are matched in `answer_text`).
        prompts: Token ids of each prompt.
        caps: Most new tokens for each prompt (0: score only, generate nothing).
        stop: The prompt format's stop rule (`bioprobe.finetune.decode.stop_rule`); None when every cap is 0.
        answers: For each prompt, the token ids of each fixed answer to score (the same number for every prompt, none
            empty; e.g. the three NLI label words as they follow that prompt), or None.
        batch_size: Prompts per batch (default `default_batch`: 32 on a CPU, from the free memory on a GPU).
        progress: Show a progress bar.
        desc: Its label.
        share_prefix: Read shared prefixes once (False: every prompt is read whole; the same results, for tests and
            measurements).

    Returns:
        One `Generated` per prompt (None for every prompt without a stop rule: scoring only), and
        `[prompts, answers]` float64 log-likelihoods (natural log, summed over the answer's tokens) or None without
        answers.
    """
    return _evaluate(model, tokenizer, tokenizer.pad_token_id, prompts, caps, stop, answers, batch_size, progress, desc,
                     share_prefix)


def _evaluate(model, tokenizer, pad_id: int, prompts: list[list[int]], caps: list[int], stop: StopRule | None,
              answers: list[list[list[int]]] | None, batch_size: int | None, progress: bool, desc: str,
              share_prefix: bool) -> tuple[list, np.ndarray | None]:
    """`generate_and_score` (`tokenizer` may be None when every cap is 0)."""
    import torch
    from tqdm.auto import tqdm

    if len(prompts) != len(caps):
        raise ValueError(f"{len(prompts)} prompts but {len(caps)} caps")
    if answers is not None:
        if len(answers) != len(prompts) or len({len(row) for row in answers}) > 1:
            raise ValueError("answers needs the same number of candidate answers for every prompt")
        if any(len(answer) == 0 for row in answers for answer in row):
            raise ValueError("An empty answer has no log-likelihood to rank.")
    device = next(model.parameters()).device
    longest = 2 * max(map(len, prompts), default=0) + max(caps, default=0) + max(
        (len(answer) for row in answers or () for answer in row), default=0)  # a row's cache, padding included
    batch_size = batch_size or default_batch(model, longest, max(map(len, prompts), default=0), device)
    starts = shared_prefixes(prompts) if share_prefix and _extensible_cache(model, longest) else [0] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: (-caps[i], -(len(prompts[i]) - starts[i]), -starts[i]))
    out: list = [None] * len(prompts)
    scores = np.zeros((len(prompts), len(answers[0]) if answers else 0)) if answers is not None else None
    prefixes: dict[tuple[int, ...], list] = {}  # prefix ids -> its cache, computed once, dropped after its last use
    uses = Counter(tuple(prompts[i][:starts[i]]) for i in order if starts[i])
    model.eval()
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    for chunk in tqdm(batches, desc=desc, unit="batch", leave=False, disable=not progress):
        with torch.inference_mode():
            read = _read_prompts(model, [prompts[i] for i in chunk], pad_id, device, [starts[i] for i in chunk],
                                 prefixes)
            for i in chunk:
                if starts[i]:
                    key = tuple(prompts[i][:starts[i]])
                    uses[key] -= 1
                    if not uses[key]:
                        del prefixes[key]
            if scores is not None and scores.shape[1]:
                scores[chunk] = _answer_scores(model, read, [answers[i] for i in chunk], pad_id)
            new = _greedy(model, tokenizer, read, [caps[i] for i in chunk], stop, device) \
                if any(caps[i] > 0 for i in chunk) else [[] for _ in chunk]
            if stop is not None:
                for i, tokens in zip(chunk, new):
                    out[i] = cut_answer(tokens, tokenizer, caps[i], stop)
    return out, scores


MIN_SAVED = 32
"""Prompt tokens a shared prefix must save (its length times the prompts that share it, less one) to be read in a pass
of its own and reused; below that the extra pass costs about what it saves."""


def shared_prefixes(prompts: list[list[int]], min_saved: int = MIN_SAVED) -> list[int]:
    """How many leading tokens of each prompt to read once, shared with other prompts, and reuse (0: none).

    Prefixes are found on the token ids, never on the text (a tokenizer may merge across a text boundary). Sorted by
    their ids, prompts that share a prefix lie next to each other, and a run of neighbours shares the shortest of the
    common prefixes of its neighbouring pairs. A run is kept whole or cut where that common prefix is shortest,
    whichever saves more prompt tokens (the prefix's length times the prompts in the run, less one); a run that saves
    fewer than `min_saved` tokens shares nothing. Each prompt keeps at least its last token to be read after the prefix
    (its logits start the answer).

    Args:
        prompts: Token ids of each prompt.
        min_saved: Tokens a shared prefix must save.

    Returns:
        Per prompt, the length of its shared prefix (`prompts[i][:n]`, the same ids for every prompt of its run).
    """
    order = sorted(range(len(prompts)), key=lambda i: prompts[i])
    common = [_common_length(prompts[a], prompts[b]) for a, b in zip(order, order[1:])]
    shortest = [len(prompts[i]) - 1 for i in order]
    best: dict[tuple[int, int], tuple[int, list]] = {}
    stack = [(0, len(order) - 1, False)]
    while stack:  # runs order[lo..hi], their best saving and chosen runs, children before parents
        lo, hi, ready = stack.pop()
        if hi <= lo:
            best[lo, hi] = (0, [])
            continue
        cut = min(range(lo, hi), key=common.__getitem__)
        if not ready:
            stack += [(lo, hi, True), (lo, cut, False), (cut + 1, hi, False)]
            continue
        length = min(common[cut], *shortest[lo:hi + 1])
        whole = (hi - lo) * length
        split = best[lo, cut][0] + best[cut + 1, hi][0]
        best[lo, hi] = (whole, [(lo, hi, length)]) if whole >= max(split, min_saved) else \
            (split, best[lo, cut][1] + best[cut + 1, hi][1])
    starts = [0] * len(prompts)
    if prompts:
        for lo, hi, length in best[0, len(order) - 1][1]:
            for k in range(lo, hi + 1):
                starts[order[k]] = length
    return starts


def _common_length(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _extensible_cache(model, longest: int) -> bool:
    """Whether every layer of the model's key/value cache keeps all the tokens of a cache `longest` tokens long, so a
    prefix's cache can be padded and extended by any row: a full layer always, a sliding-window layer (Mistral-7B-v0.1:
    4,096) while `longest` stays inside its window, where it keeps every token and its mask is the causal one."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    return all(type(layer) is DynamicLayer or type(layer) is DynamicSlidingWindowLayer
               and longest < layer.sliding_window - 1 for layer in DynamicCache(config=model.config).layers)


def _greedy(model, tokenizer, read: _Read, caps: list[int], stop: StopRule, device) -> list[list[int]]:
    """Each prompt's new tokens, greedy, up to and including a stop id, up to the token that completes a stop text,
    or `caps` tokens, from the batch's prompts as read (`_read_prompts`); finished rows dropped from the batch and its
    cache."""
    import torch

    pattern = stop.pattern
    logits, cache, mask, positions = read.logits, read.cache, read.mask, read.positions
    rows = list(range(len(caps)))  # the batch's rows still answering
    new: list[list[int]] = [[] for _ in caps]
    while True:
        tokens = logits.argmax(-1)
        keep = []
        for k, (row, token) in enumerate(zip(rows, tokens.tolist())):
            new[row].append(token)
            finished = (token in stop.ids or len(new[row]) >= caps[row] or pattern is not None
                        and pattern.search(answer_text(tokenizer, new[row][-_STOP_TAIL:])) is not None)
            if not finished:
                keep.append(k)
        if not keep:
            return new
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            rows, tokens, mask = [rows[k] for k in keep], tokens[index], mask[index]
            positions = positions[index]
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        logits = _forward(model, cache, tokens[:, None], mask, positions, logits_to_keep=1).logits[:, -1]


_STOP_TAIL = 6
"""New tokens decoded per row and step to look for a stop text: enough for "###" split over several pieces.
(transformers' own `stop_strings` preprocesses the whole vocabulary for every `generate` call: 2 s per batch of a
49k-token vocabulary on a CPU, more than the answers themselves.)"""


@dataclass
class _Read:
    """A batch of prompts as read: the last position's logits `[rows, vocabulary]`, the key/value cache, the attention
    mask `[rows, cached tokens]` and the position ids of the tokens read in the batch's own pass `[rows, rest]`."""

    logits: object
    cache: object
    mask: object
    positions: object


def _read_prompts(model, prompts: list[list[int]], pad_id: int, device, starts: list[int] | None = None,
                  prefixes: dict | None = None) -> _Read:
    """One forward pass over the rest of each prompt after its shared prefix, into a key/value cache that starts with
    the prefixes' own caches.

    Each row's cache is `[padding][its prefix]` (the prefix's keys and values computed once, alone, and kept in
    `prefixes` for later batches; zeros where it is shorter than the batch's longest), then `[padding][its rest]`:
    padding is masked and the position ids count real tokens only (as `generate` does for left padding; padded slots
    get a harmless 1), so every row computes what its prompt alone, unpadded, computes.

    Args:
        model: The causal LM.
        prompts: Token ids of each prompt.
        pad_id: Padding id.
        device: The model's device.
        starts: Per prompt the length of its shared prefix (0: none; default none).
        prefixes: Prefix ids -> its cache (per layer keys and values `[1, heads, tokens, dim]`), filled here.
    """
    import torch
    from transformers import DynamicCache

    starts = starts or [0] * len(prompts)
    width = max(starts)
    rests = [prompt[start:] for prompt, start in zip(prompts, starts)]
    ids, rest_mask = _left_padded(rests, pad_id)
    head_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    if width:
        layers = None
        for r, (prompt, start) in enumerate(zip(prompts, starts)):
            if not start:
                continue
            key = tuple(prompt[:start])
            if key not in prefixes:
                prefixes[key] = _prefix_cache(model, list(key), device)
            if layers is None:
                layers = [(k.new_zeros((len(prompts), k.shape[1], width, k.shape[3])),
                           v.new_zeros((len(prompts), v.shape[1], width, v.shape[3])))
                          for k, v in prefixes[key]]
            for (keys, values), (k, v) in zip(layers, prefixes[key]):
                keys[r, :, width - start:] = k[0]
                values[r, :, width - start:] = v[0]
            head_mask[r, width - start:] = 1
        cache = DynamicCache(ddp_cache_data=layers, config=model.config)
    else:
        cache = DynamicCache(config=model.config)
    mask = torch.cat([head_mask, rest_mask], dim=1).to(device)
    positions = ((mask.cumsum(-1) - 1).masked_fill(mask == 0, 1))[:, width:]
    logits = _forward(model, cache, ids.to(device), mask, positions, logits_to_keep=1).logits[:, -1]
    return _Read(logits, cache, mask, positions)


def _prefix_cache(model, ids: list[int], device) -> list:
    """The key/value cache of one token prefix read alone: per layer `(keys, values)`, `[1, heads, tokens, dim]`."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    tokens = torch.tensor([ids], device=device)
    _forward(model, cache, tokens, torch.ones_like(tokens), torch.arange(len(ids), device=device)[None],
             logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in cache.layers]


def _answer_scores(model, read: _Read, answers: list[list[list[int]]], pad_id: int):
    """Log-likelihood of each row's fixed answers after its prompt as read, `[rows, answers]` float64: the first token
    from the prompt's last logits, the rest from one pass per answer over a copy of the batch's cache (the cache
    itself is left as it was, for generation)."""
    import torch
    from transformers import DynamicCache

    device = read.logits.device
    rows = torch.arange(len(answers), device=device)
    first = torch.log_softmax(read.logits.float(), dim=-1)
    total = torch.zeros((len(answers), len(answers[0])), dtype=torch.float64, device=device)
    tensors = [(layer.keys, layer.values) for layer in read.cache.layers]
    for a in range(len(answers[0])):
        words = [row[a] for row in answers]
        total[:, a] = first[rows, torch.tensor([word[0] for word in words], device=device)].double()
        width = max(len(word) for word in words) - 1
        if not width:
            continue
        # every answer but its last token is read after the prompt; right padding after it changes nothing before it
        ids = torch.full((len(words), width), pad_id, dtype=torch.long)
        targets = torch.zeros((len(words), width), dtype=torch.long)
        real = torch.zeros((len(words), width), dtype=torch.long)
        for r, word in enumerate(words):
            ids[r, :len(word) - 1] = torch.tensor(word[:-1])
            targets[r, :len(word) - 1] = torch.tensor(word[1:])
            real[r, :len(word) - 1] = 1
        ids, targets, real = ids.to(device), targets.to(device), real.to(device)
        cache = DynamicCache(ddp_cache_data=tensors, config=model.config)
        mask = torch.cat([read.mask, real], dim=1)
        positions = read.positions[:, -1:] + 1 + torch.arange(width, device=device)
        logits = _forward(model, cache, ids, mask, positions).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None])[..., 0]
        total[:, a] += (logp.double() * real).sum(-1)
    return total.cpu().numpy()


def _forward(model, cache, input_ids, attention_mask, position_ids, **kwargs):
    """A forward pass that reads and extends `cache`, named as this transformers release names it (`cache` in recent
    5.x releases, `past_key_values` before), with `position_ids` where the model takes them (as `generate` checks)."""
    from bioprobe.models import forward_parameters

    parameters = forward_parameters(model)
    extra = {"position_ids": position_ids} if "position_ids" in parameters else {}
    return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **extra, **kwargs,
                 **{("cache" if "cache" in parameters else "past_key_values"): cache})


def cut_answer(new: list[int], tokenizer, cap: int, stop: StopRule) -> Generated:
    """An answer from a row's new tokens: up to the first stop id or stop text, within `cap` tokens (a stop id counts
    as one of them)."""
    new = new[:cap]
    end = next((k for k, token in enumerate(new) if token in stop.ids), len(new))
    stopped = end < len(new)
    raw = answer_text(tokenizer, new[:end])
    cut = stop.index(raw)
    if cut is not None:
        stopped = True
        # tokens up to the stop: the shortest prefix whose text reaches it
        end = next(k for k in range(end + 1) if stop.index(answer_text(tokenizer, new[:k])) is not None)
        raw = raw[:cut]
    text = tokenizer.decode(new[:end], skip_special_tokens=True)
    at = stop.index(text)
    return Generated((text[:at] if at is not None else text).rstrip(), raw.rstrip(), end, stopped)


def answer_logliks(model, prompts: list[list[int]], answers: list[list[int]], pad_id: int,
                   batch_size: int = 16, share_prefix: bool = True) -> np.ndarray:
    """Log-likelihood (natural log, summed over the answer's tokens) of every answer after every prompt, no generation
    (`generate_and_score` with every cap 0: shared prefixes read once, each prompt's rest once, its cache shared by
    the answers).

    Args:
        model: A causal LM.
        prompts: Token ids of each prompt.
        answers: Token ids of each candidate answer (e.g. the three NLI label words), none empty.
        pad_id: Padding id.
        batch_size: Prompts per forward pass.
        share_prefix: Read prompts' shared prefixes once.

    Returns:
        `[prompts, answers]` float64.
    """
    return _evaluate(model, None, pad_id, prompts, [0] * len(prompts), None, [answers] * len(prompts), batch_size,
                     False, "Scoring", share_prefix)[1]
