"""Conversation tuning: loss on the assistant turns only, multi-turn kept in order, long conversations shortened
from the left of the history (whole earlier exchanges), never mid-answer; `run_conversation` is what `bioprobe
finetune --objective conversation` runs (same sizes, subsets, LoRA / QLoRA defaults, provenance, reuse and resume as
instruction tuning)."""

from __future__ import annotations

import shutil

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.units import IGNORE
from bioprobe.finetune.train import FinetuneResult, Prepared

PLAIN_TURN = {"user": "### User:\n{content}\n\n### Assistant:\n", "system": "### System:\n{content}\n\n"}
"""The format of a tokenizer without a chat template: the assistant's answer follows `### Assistant:` and ends
with EOS."""


def _pieces(tokenizer, messages: list[dict], chat: bool) -> list[tuple[str, bool]]:
    """The conversation's text in pieces, each marked True when it is trained on (an assistant answer and the
    closing token of its turn).

    With a chat template the pieces are differences of the rendered prefixes (the template must render a prefix
    of the conversation as a prefix of its text); an assistant turn is split into its header (the template's
    generation prompt, not trained on) and its content with the turn's end token.
    """
    if not chat:
        out = []
        for turn in messages:
            if turn["role"] == "assistant":
                out.append((turn["content"], True))
            else:
                out.append((PLAIN_TURN[turn["role"]].format(content=turn["content"]), False))
        return out
    render = lambda part, prompt=False: tokenizer.apply_chat_template(  # noqa: E731
        part, tokenize=False, add_generation_prompt=prompt)
    out, done = [], ""
    for k, turn in enumerate(messages):
        if turn["role"] == "assistant":
            header = render(messages[:k], True)
            if not header.startswith(done):
                raise BioprobeError("The chat template does not render a conversation's start as the start of its "
                                    "text, so assistant turns cannot be told apart; use a model whose template does.")
            out.append((header[len(done):], False))
            done = header
        text = render(messages[:k + 1])
        if not text.startswith(done):
            raise BioprobeError("The chat template does not render a conversation's start as the start of its text, "
                                "so assistant turns cannot be told apart; use a model whose template does.")
        out.append((text[len(done):], turn["role"] == "assistant"))
        done = text
    return out


def encode_conversation(tokenizer, messages: list[dict], max_length: int) -> dict | None:
    """Token ids of one conversation with labels on the assistant turns only.

    Every piece is tokenised apart (so no user token merges into an answer), and each answer is labelled with its
    own tokens and the end of its turn (the chat template's end token, e.g. `<|im_end|>`, or EOS in the plain
    format); every user and system token and every template header is -100. When the conversation is longer than
    `max_length`, whole exchanges (a user turn and the answer after it) are dropped from the left of the history
    until it fits (a system turn is kept); a conversation whose last exchange alone is too long is left out.

    Args:
        tokenizer: The model's tokenizer (its chat template when it has one, else `PLAIN_TURN`).
        messages: The turns.
        max_length: Longest sequence.

    Returns:
        `{"input_ids", "attention_mask", "labels", "length", "dropped_turns"}`, or None.
    """
    chat = bool(getattr(tokenizer, "chat_template", None))
    system = [t for t in messages[:1] if t["role"] == "system"]
    turns = messages[len(system):]
    while turns and turns[0]["role"] != "user":
        turns = turns[1:]
    dropped = len(messages) - len(system) - len(turns)
    from bioprobe.align import special_tokens

    prefix = [] if chat else special_tokens(tokenizer)[0]
    while turns:
        ids, labels = list(prefix), [IGNORE] * len(prefix)
        for text, trained in _pieces(tokenizer, system + turns, chat):
            piece = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if trained and not chat:
                piece.append(tokenizer.eos_token_id)
            ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        if len(ids) <= max_length:
            if all(label == IGNORE for label in labels):
                return None
            return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels, "length": len(ids),
                    "dropped_turns": dropped}
        answer = next((i for i, t in enumerate(turns) if t["role"] == "assistant"), len(turns))
        if answer + 1 >= len(turns):  # only the last exchange is left, and it does not fit
            return None
        cut = answer + 1
        dropped += cut
        turns = turns[cut:]
    return None


def run_conversation(prepared: Prepared, callbacks: tuple = ()) -> FinetuneResult:
    """Tune a causal LM on the (medical) conversations of `--data` at a training size; size 0 is the model as
    released. Its metric is the mean loss on the assistant tokens of the test conversations (`--test-limit`); the
    clinical prompts (`bioprobe generate`) evaluate what it can do.

    Returns:
        The run's folder, `{"answer_loss": ...}` and whether it was reused.
    """
    import datasets
    import transformers

    from bioprobe.conversations import load_conversations
    from bioprobe.finetune.lora import trainable_parameters
    from bioprobe.finetune.prompts import Collator, keeps_logits
    from bioprobe.finetune.train import base_record, load_for_training, select_training_items, train, training_arguments

    settings, folder, state = prepared.settings, prepared.folder, prepared.state
    if prepared.resolved.spec.kind != "decoder":
        raise BioprobeError(f"Conversation tuning needs a causal language model; {prepared.resolved.name} is an "
                            "encoder.")
    if runstore.is_complete(folder) and not settings.overwrite:
        record = runstore.read_run(folder)
        return FinetuneResult(folder, record.metrics, reused=True, record=record)
    conversations = load_conversations(settings.data, tuple(settings.markers), settings.medical,
                                       settings.min_medical_terms, settings.seed)
    train_split = conversations.splits["train"]
    indices = select_training_items(None, train_split, settings.training_size, settings.seed,
                                    settings.train_limit, strata=None)
    size = settings.training_size
    if size > 0 and not indices:
        raise BioprobeError(f"{size} % of {len(train_split)} conversations is no conversation at all; use a larger "
                            "training size.")
    setup = load_for_training(prepared, "causal-lm", adapters=size > 0)
    tokenizer = setup.loaded.tokenizer
    max_length = settings.max_length or min(settings.length, setup.position_limit or settings.length)

    def encode(rows) -> tuple[list[dict], int, int]:
        out, left_out, shortened = [], 0, 0
        for messages in rows:
            row = encode_conversation(tokenizer, messages, max_length)
            if row is None:
                left_out += 1
            else:
                shortened += row.pop("dropped_turns") > 0
                out.append(row)
        return out, left_out, shortened

    encoded, left_out, shortened = encode(train_split.select(indices)["messages"][:])
    test = conversations.splits["test"]
    if settings.test_limit is not None and settings.test_limit < len(test):
        test = test.select(range(settings.test_limit))
    held_out, _, _ = encode(test["messages"][:])
    training = {"resumed_from": None}
    model = setup.model
    collator = Collator(tokenizer.pad_token_id)  # the held-out loss reads every position's logits
    trainer = transformers.Trainer(model=model, args=training_arguments(prepared, setup.lr),
                                   train_dataset=datasets.Dataset.from_list(encoded) if size > 0 else None,
                                   data_collator=Collator(tokenizer.pad_token_id, keeps_logits(model)),
                                   callbacks=list(callbacks))
    if size > 0:
        if not encoded:
            raise BioprobeError(f"Every one of the {len(indices)} training conversations is longer than --max-length "
                                f"{max_length} even without its history; pass a larger --max-length.")
        training = train(trainer, prepared, sum(row["length"] for row in encoded))
        model = trainer.model
    record = None
    if state.is_main_process:
        metrics = {"answer_loss": _answer_loss(model, held_out, collator)}
        if size > 0:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        record = runstore.RunRecord(
            **base_record(prepared, setup.loaded.resolved, "causal-lm", setup.lora and size > 0, setup.four_bit,
                          {"total": setup.n_params, "trainable": trainable_parameters(model) if size > 0 else 0},
                          setup.lr),
            weights="trained" if size > 0 else "released",
            template="chat" if getattr(tokenizer, "chat_template", None) else "plain", labels=[],
            data={"source": conversations.source, "selection": conversations.selection,
                  "sizes": {name: len(split) for name, split in conversations.splits.items()},
                  "train_limit": settings.train_limit, "n_train": len(encoded), "subset_indices": indices,
                  "max_length": max_length, "too_long": left_out, "shortened": shortened, "n_test": len(held_out)},
            training=training, metrics=metrics, environment=runstore.environment())
        from bioprobe.finetune.train import _tidy_rows, regime_columns

        runstore.write_table(runstore.results_path(settings.runs_dir, "finetune", "conversation",
                                                   prepared.resolved.name, size, settings.seed,
                                                   objective="conversation"),
                             _tidy_rows("conversation", prepared.resolved.name, size, settings.seed, metrics,
                                        len(encoded), len(held_out), objective="conversation",
                                        four_bit=setup.four_bit,
                                        **regime_columns(setup.lora and size > 0, setup.four_bit, training)))
        runstore.write_run(folder, record)
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        (folder / "request.json").unlink(missing_ok=True)
    state.wait_for_everyone()
    return FinetuneResult(folder, record.metrics if record else {}, reused=False, record=record)


def _answer_loss(model, rows: list[dict], collator, batch_size: int = 8) -> float:
    """Mean loss (nats per token) on the assistant tokens of held-out conversations."""
    import torch

    if not rows:
        return float("nan")
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    model.eval()
    ordered = sorted(rows, key=lambda row: -row["length"])
    with torch.inference_mode():
        for start in range(0, len(ordered), batch_size):
            batch = collator(ordered[start:start + batch_size])
            labels = batch.pop("labels").to(device)
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.float()
            shifted, targets = logits[:, :-1], labels[:, 1:]
            keep = targets != IGNORE
            total += float(torch.nn.functional.cross_entropy(shifted[keep], targets[keep], reduction="sum"))
            tokens += int(keep.sum())
    return total / tokens if tokens else float("nan")
