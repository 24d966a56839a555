"""Prompts of instruction tuning and generation: the Llama2-MedTuned format or the tokenizer's chat template, the
one-shot example, and the training encoding whose loss falls on the answer and its closing EOS only."""

from __future__ import annotations

from dataclasses import dataclass

from bioprobe.errors import BioprobeError
from bioprobe.units import IGNORE

MEDTUNED = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Output:\n"
"""The Llama2-MedTuned prompt; the answer follows it directly (its stop rule: `bioprobe.finetune.decode.stop_rule`)."""


@dataclass(frozen=True)
class Example:
    """One instruction with its answer (the one-shot example, or a training item)."""

    instruction: str
    input: str
    output: str


def check_template(tokenizer, template: str, model: str) -> None:
    """Refuse `--template chat` for a tokenizer without a chat template.

    Raises:
        BioprobeError: naming the model and the alternative.
    """
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise BioprobeError(f"{model}'s tokenizer has no chat template, so --template chat cannot be used; use the "
                            "default --template medtuned.")
    if template not in ("medtuned", "chat"):
        raise BioprobeError(f"Unknown template '{template}'; use medtuned or chat.")


def prompt_text(tokenizer, template: str, instruction: str, input: str, shot: Example | None = None) -> str:
    """The prompt the answer follows.

    medtuned: `### Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n### Output:\\n`, after the one-shot
    example's own filled-in block and a blank line. chat: one user turn `{instruction}\\n\\n{input}` (after the
    example as a user and an assistant turn) with the template's generation prompt.
    """
    if template == "chat":
        messages = []
        if shot is not None:
            messages += [{"role": "user", "content": f"{shot.instruction}\n\n{shot.input}"},
                         {"role": "assistant", "content": shot.output}]
        messages.append({"role": "user", "content": f"{instruction}\n\n{input}"})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = MEDTUNED.format(instruction=instruction, input=input)
    if shot is not None:
        text = MEDTUNED.format(instruction=shot.instruction, input=shot.input) + shot.output + "\n\n" + text
    return text


def prompt_ids(tokenizer, template: str, text: str) -> list[int]:
    """Token ids of a prompt as generation reads it: the medtuned text with the tokenizer's own special tokens
    (e.g. Llama's BOS), a chat-template text as it is (the template writes its special tokens itself)."""
    return list(tokenizer(text, add_special_tokens=template != "chat")["input_ids"])


def continuation_ids(tokenizer, before: str | None, text: str) -> list[int]:
    """Token ids of `text` as it is tokenised where it follows the prompt text `before` in running text.

    The prompt and `text` are tokenised together and split at the prompt's own length, when the prompt's tokens are
    a prefix of that (a clean boundary: the answer after `### Output:\n` or a chat template's assistant header, for
    every registered family); otherwise, or without a prompt, `text` is tokenised alone (the prompt's last piece and
    the text's first would merge). In context a label word after a newline has no leading-space marker (`Entailment`,
    not SentencePiece's `▁Entailment` or byte-level BPE's `ĠEntailment` that the word alone gets): training,
    generation and the log-likelihood ranking all see the sequence a released model sees in text.
    """
    alone = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not before:
        return alone
    head = tokenizer(before, add_special_tokens=False)["input_ids"]
    joint = tokenizer(before + text, add_special_tokens=False)["input_ids"]
    if len(joint) > len(head) and joint[:len(head)] == head:
        return list(joint[len(head):])
    return alone


def answer_ids(tokenizer, output: str, before: str | None = None) -> list[int]:
    """The answer's token ids as they follow the prompt (`continuation_ids`), and the closing EOS the model must
    learn to stop with."""
    if tokenizer.eos_token_id is None:
        raise BioprobeError(f"{type(tokenizer).__name__} has no EOS token, so a tuned model could not learn to stop.")
    return continuation_ids(tokenizer, before, output) + [tokenizer.eos_token_id]


def encode_example(tokenizer, template: str, example: Example, max_length: int) -> dict | None:
    """One training sequence: the prompt then the answer and EOS; labels are -100 on every prompt token.

    Returns:
        See `encode_pair`.
    """
    text = prompt_text(tokenizer, template, example.instruction, example.input)
    return encode_pair(tokenizer, prompt_ids(tokenizer, template, text), example.output, max_length, text)


def encode_pair(tokenizer, prompt: list[int], output: str, max_length: int, text: str | None = None) -> dict | None:
    """Prompt ids then the answer's ids and EOS, with labels -100 on the prompt.

    The answer's ids are those it has after the prompt's text `text` (`continuation_ids`), appended to the prompt's
    own ids, so the loss falls exactly on the answer's own tokens and EOS, also where the prompt's last piece and the
    answer's first would merge if tokenised together (the answer is then tokenised alone; generation reads the prompt
    tokenised alone, as here).

    Returns:
        `{"input_ids", "attention_mask", "labels", "length"}`, or None when the sequence is longer than
        `max_length` (it is left out, never cut mid-answer).
    """
    answer = answer_ids(tokenizer, output, text)
    ids = list(prompt) + answer
    if len(ids) > max_length:
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt) + answer,
            "length": len(ids)}


def collate(batch: list[dict], pad_id: int, answer_logits: bool = False) -> dict:
    """Pad a batch on the right: input ids with `pad_id`, attention mask 0 and labels -100 past each sequence's end.

    Padding is told by position, never by token id, so a closing EOS is trained even where pad = EOS (GPT-2, Llama).

    With `answer_logits` the model is asked for the logits of the positions that predict a labelled token only (in any
    row): `logits_to_keep` holds those positions and `shift_labels` their next-token labels, which transformers' causal
    LM loss takes in place of shifting `labels`. The loss is the same; the vocabulary projection, its softmax and their
    gradients shrink from every prompt token to the answers (smollm2, 49k words: a fifth of the forward pass, and
    a `[batch, length, vocabulary]` float tensor of 0.8 GB at 8 x 512).
    """
    import torch

    width = max(len(item["input_ids"]) for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item["input_ids"])
        ids[row, :n] = torch.tensor(item["input_ids"])
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(item["labels"])
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if answer_logits:
        keep = torch.nonzero((labels[:, 1:] != IGNORE).any(dim=0)).flatten()
        out["logits_to_keep"], out["shift_labels"] = keep, labels[:, keep + 1]
    return out


class Collator:
    """`collate` for Trainer (a picklable callable for its data loader workers); `answer_logits` where the model
    takes `logits_to_keep` (see `keeps_logits`)."""

    def __init__(self, pad_id: int, answer_logits: bool = False):
        self.pad_id, self.answer_logits = pad_id, answer_logits

    def __call__(self, batch: list[dict]) -> dict:
        return collate(batch, self.pad_id, self.answer_logits)


def keeps_logits(model) -> bool:
    """Whether a causal LM's forward takes `logits_to_keep` (so `collate(answer_logits=True)` may be used)."""
    from bioprobe.models import forward_parameters

    return "logits_to_keep" in forward_parameters(model)


def prompt_parts(tokenizer, template: str, instruction: str) -> tuple[list[int], list[int]]:
    """Token ids of a prompt before and after its input, for encoding an input apart inside the prompt (so the span
    of every input word is known exactly, as analyses `--in-prompt` need).

    Tokenising the three parts apart can differ from tokenising the whole prompt at the two seams only (e.g. a
    byte-level BPE word after the newline gets its leading-space form, as words do everywhere in bioprobe).
    """
    marker = "\ue000"  # a private-use character: in no instruction or template
    before, after = prompt_text(tokenizer, template, instruction, marker).split(marker)
    return prompt_ids(tokenizer, template, before), list(tokenizer(after, add_special_tokens=False)["input_ids"])
