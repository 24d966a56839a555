"""Generation for evaluation: batched, left-padded, sorted by expected length, greedy, stopped by the prompt format's
stop rule (EOS; the next `###` section; a chat template's end of turn), capped per item, finished rows leaving the
batch; and the ranked log-likelihood of fixed answers (NLI label words), which needs no generation at all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioprobe.finetune.decode import StopRule, answer_text

BATCH = {"cpu": 32, "cuda": 64}
"""Prompts per generation batch by device type. On a CPU a decoding step of one row is bound by reading the weights and
wider steps cost little more (smollm2 with 150 cached tokens: 41 ms for 1 row, 100 ms for 16, 132 ms for 32), while a
prompt's prefill costs the same per row at any width; benchmarks/generate.py measured 6.5x transformers' batch-1
greedy `generate` at 32 and 4.7x at 16 (64 NER instructions)."""


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
             batch_size: int | None = None, progress: bool = True, desc: str = "Generating") -> list[Generated]:
    """Greedy answers to prompts, in their order.

    Prompts run in batches of `batch_size`, those with the longest caps (expected answers) first, left-padded (so
    every row's answer starts at the same column) and decoded greedily with the key/value cache. A row leaves its
    batch, cache included, as soon as its stop rule ends it or it reaches its own cap, so later steps cost only the
    rows still answering. The answers are those of `model.generate` with greedy decoding and the same stop rule.

    Args:
        model: A causal LM.
        tokenizer: Its tokenizer (pad id; stop texts are matched in `answer_text`).
        prompts: Token ids of each prompt.
        caps: Most new tokens for each prompt.
        stop: The prompt format's stop rule (`bioprobe.finetune.decode.stop_rule`).
        batch_size: Prompts per batch (default `BATCH` of the model's device).
        progress: Show a progress bar.
        desc: Its label.

    Returns:
        One `Generated` per prompt.
    """
    from tqdm.auto import tqdm

    if len(prompts) != len(caps):
        raise ValueError(f"{len(prompts)} prompts but {len(caps)} caps")
    device = next(model.parameters()).device
    batch_size = batch_size or BATCH.get(device.type, BATCH["cuda"])
    order = sorted(range(len(prompts)), key=lambda i: (-caps[i], -len(prompts[i])))
    out: list = [None] * len(prompts)
    model.eval()
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    for chunk in tqdm(batches, desc=desc, unit="batch", leave=False, disable=not progress):
        answers = _greedy(model, tokenizer, [prompts[i] for i in chunk], [caps[i] for i in chunk], stop, device)
        for i, new in zip(chunk, answers):
            out[i] = cut_answer(new, tokenizer, caps[i], stop)
    return out


def _greedy(model, tokenizer, prompts: list[list[int]], caps: list[int], stop: StopRule,
            device) -> list[list[int]]:
    """Each prompt's new tokens, greedy, up to and including a stop id, up to the token that completes a stop text,
    or `caps` tokens; one left-padded batch, finished rows dropped from the batch and its cache."""
    import torch

    pattern = stop.pattern
    rows = list(range(len(prompts)))  # the batch's rows still answering, as indices into `prompts`
    new: list[list[int]] = [[] for _ in prompts]
    with torch.inference_mode():
        logits, cache, mask, positions = _read_prompts(model, prompts, tokenizer.pad_token_id, device)
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
"""New tokens decoded per row and step to look for a stop text: enough for "###" split over several pieces. (transformers'
own `stop_strings` preprocesses the whole vocabulary for every `generate` call: 2 s per batch of a 49k-token
vocabulary on a CPU, more than the answers themselves.)"""


def _read_prompts(model, prompts: list[list[int]], pad_id: int, device):
    """One left-padded forward pass over `prompts` into a fresh key/value cache.

    Returns:
        The last position's logits `[prompts, vocabulary]`, the cache, the attention mask and the position ids (real
        tokens counted only, as `generate` does for left padding; padded slots get a harmless 1).
    """
    from transformers import DynamicCache

    ids, mask = _left_padded(prompts, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    cache = DynamicCache(config=model.config)
    logits = _forward(model, cache, ids, mask, positions, logits_to_keep=1).logits[:, -1]
    return logits, cache, mask, positions


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
                   batch_size: int = 16) -> np.ndarray:
    """Log-likelihood (natural log, summed over the answer's tokens) of every answer after every prompt.

    Each prompt is read once (left-padded batches, with the key/value cache); its cache is then repeated for the
    answers, which are scored together from it.

    Args:
        model: A causal LM.
        prompts: Token ids of each prompt.
        answers: Token ids of each candidate answer (e.g. the three NLI label words), none empty.
        pad_id: Padding id.
        batch_size: Prompts per forward pass (times the answers for the answers' pass).

    Returns:
        `[prompts, answers]` float64.
    """
    import torch

    if any(len(answer) == 0 for answer in answers):
        raise ValueError("An empty answer has no log-likelihood to rank.")
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda p: -len(prompts[p]))
    scores = np.zeros((len(prompts), len(answers)))
    n, width = len(answers), max(len(answer) for answer in answers) - 1
    first = torch.tensor([answer[0] for answer in answers], device=device)
    # every answer but its last token is read after the prompt; right padding after it changes nothing before it
    rest = torch.full((n, width), pad_id, dtype=torch.long)
    rest_mask = torch.zeros((n, width), dtype=torch.long)
    for a, answer in enumerate(answers):
        rest[a, :len(answer) - 1] = torch.tensor(answer[:-1], dtype=torch.long)
        rest_mask[a, :len(answer) - 1] = 1
    targets = [torch.tensor(answer[1:], device=device) for answer in answers]
    rest, rest_mask = rest.to(device), rest_mask.to(device)
    model.eval()
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        with torch.inference_mode():
            logits, cache, mask, positions = _read_prompts(model, [prompts[p] for p in chunk], pad_id, device)
            total = torch.log_softmax(logits.float(), dim=-1)[:, first]                # [prompts, answers]
            if width:
                cache.batch_repeat_interleave(n)
                step_mask = torch.cat([mask.repeat_interleave(n, dim=0), rest_mask.repeat(len(chunk), 1)], dim=1)
                step_positions = positions[:, -1:].repeat_interleave(n, dim=0) + 1 + torch.arange(width, device=device)
                logits = _forward(model, cache, rest.repeat(len(chunk), 1), step_mask, step_positions).logits
                logp = torch.log_softmax(logits.float(), dim=-1).view(len(chunk), n, width, -1)
                for a, target in enumerate(targets):
                    if len(target):
                        total[:, a] += logp[:, a, torch.arange(len(target), device=device), target].sum(-1)
        scores[chunk] = total.double().cpu().numpy()
    return scores
