"""Generation for evaluation: batched, left-padded, length-sorted, greedy, stopped at EOS or at the next `###`, capped
per item; and the ranked log-likelihood of fixed answers (NLI label words), which needs no generation at all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioprobe.finetune.prompts import STOP

BATCH = {"cpu": 16, "cuda": 64}
"""Prompts per generation batch by device type. On a CPU one decoding step reads every weight, so a step of 16 rows
costs about twice a step of one (smollm2: 274 against 134 ms): benchmarks/generate.py measured 3.4x batch-1 greedy at
16, 2.0x at 8."""


@dataclass(frozen=True)
class Generated:
    """One generated answer.

    Attributes:
        text: The answer, cut at the first EOS or `STOP` (and stripped of trailing whitespace).
        tokens: Tokens generated up to that point.
        stopped: False when neither EOS nor `STOP` came within the item's cap (the answer is cut there).
    """

    text: str
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


def generate(model, tokenizer, prompts: list[list[int]], caps: list[int], batch_size: int | None = None,
             progress: bool = True, desc: str = "Generating") -> list[Generated]:
    """Greedy answers to prompts, in their order.

    Prompts run longest first in batches of `batch_size`, left-padded (so every row's answer starts at the same
    column); a batch generates up to its largest cap and stops when every row has met EOS or `STOP`; each row is
    then cut at its own stop or its own cap.

    Args:
        model: A causal LM.
        tokenizer: Its tokenizer (EOS and pad ids; `STOP` is matched in the decoded text).
        prompts: Token ids of each prompt.
        caps: Most new tokens for each prompt.
        batch_size: Prompts per batch (default `BATCH` of the model's device).
        progress: Show a progress bar.
        desc: Its label.

    Returns:
        One `Generated` per prompt.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, StoppingCriteriaList

    if len(prompts) != len(caps):
        raise ValueError(f"{len(prompts)} prompts but {len(caps)} caps")
    device = next(model.parameters()).device
    batch_size = batch_size or BATCH.get(device.type, BATCH["cuda"])
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list = [None] * len(prompts)
    model.eval()
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    for chunk in tqdm(batches, desc=desc, unit="batch", leave=False, disable=not progress):
        ids, mask = _left_padded([prompts[i] for i in chunk], pad)
        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max(caps[i] for i in chunk),
                                  eos_token_id=eos, pad_token_id=pad)
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                       generation_config=config,
                                       stopping_criteria=StoppingCriteriaList([_StopText(tokenizer, ids.shape[1])]))
        for row, i in enumerate(chunk):
            out[i] = _cut(generated[row, ids.shape[1]:].tolist(), tokenizer, caps[i])
    return out


class _StopText:
    """Stops a row once its generated text contains `STOP` (decoding only the last few tokens of each row).

    transformers' own `stop_strings` first preprocesses the whole vocabulary, for every `generate` call: 2 s per
    batch of a 49k-token vocabulary on a CPU, more than the answers themselves.
    """

    TAIL = 6  # tokens decoded per row and step: enough for "###" split over several pieces

    def __init__(self, tokenizer, prompt_width: int):
        self.tokenizer, self.prompt_width = tokenizer, prompt_width

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        new = input_ids[:, self.prompt_width:]
        tail = new[:, -self.TAIL:].tolist()
        return torch.tensor([STOP in self.tokenizer.decode(row, skip_special_tokens=True) for row in tail],
                            device=input_ids.device)


def _cut(new: list[int], tokenizer, cap: int) -> Generated:
    """An answer from a row's new tokens: up to EOS or `STOP`, within `cap` tokens."""
    eos = tokenizer.eos_token_id
    end = new.index(eos) if eos in new else len(new)
    stopped = end < len(new) and end <= cap
    end = min(end, cap)
    text = tokenizer.decode(new[:end], skip_special_tokens=True)
    if STOP in text:
        text, stopped = text[: text.index(STOP)], True
        # tokens up to the stop: the shortest prefix whose text reaches it
        end = next((k for k in range(end + 1) if STOP in tokenizer.decode(new[:k], skip_special_tokens=True)), end)
    return Generated(text.rstrip(), end, stopped)


def answer_logliks(model, prompts: list[list[int]], answers: list[list[int]], pad_id: int,
                   batch_size: int = 16) -> np.ndarray:
    """Log-likelihood (natural log, summed over the answer's tokens) of every answer after every prompt.

    Args:
        model: A causal LM.
        prompts: Token ids of each prompt.
        answers: Token ids of each candidate answer (e.g. the three NLI label words).
        pad_id: Padding id.
        batch_size: Sequences per forward pass.

    Returns:
        `[prompts, answers]` float64.
    """
    import torch

    pairs = [(p, a) for p in range(len(prompts)) for a in range(len(answers))]
    pairs.sort(key=lambda pa: -(len(prompts[pa[0]]) + len(answers[pa[1]])))
    device = next(model.parameters()).device
    scores = np.zeros((len(prompts), len(answers)))
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        rows = [prompts[p] + answers[a] for p, a in chunk]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for r, (p, a) in enumerate(chunk):
            n_prompt, answer = len(prompts[p]), answers[a]
            positions = torch.arange(n_prompt - 1, n_prompt - 1 + len(answer), device=logp.device)
            scores[p, a] = float(logp[r, positions, torch.tensor(answer, device=logp.device)].sum())
    return scores
