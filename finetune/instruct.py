"""Instruction tuning at a training size and its generative evaluation: `run_instruct`, what `bioprobe finetune
--objective instruct` runs (through `bioprobe.finetune.train.run_finetune`).

Training sees the training split's N % (nested, seeded, stratified by label for NLI), loss on the answer and its EOS
only; size 0 is the model as released. Evaluation generates on the test split (zero- or one-shot), parses by position,
scores every item, stores every generation (what `--rescore` reads) and, for NLI, also ranks the label words by
log-likelihood.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.instructions import InstructionData, load_instructions, stratum
from bioprobe.settings import digest
from bioprobe.tasks.base import draw
from bioprobe.finetune.train import FinetuneResult, Prepared


def run_instruct(prepared: Prepared, callbacks: tuple = ()) -> FinetuneResult:
    """Instruction-tune (size > 0) or take the released model (size 0), then evaluate it by generation.

    A finished training is reused when its request matches (checked by `prepare_run`); an evaluation is reused when
    its settings and the run are unchanged; `--rescore` scores the stored generations again without a model.

    Returns:
        The run's folder, the evaluation's metrics, and whether both were reused.
    """
    settings, spec = prepared.settings, prepared.spec
    if prepared.resolved.spec.kind != "decoder":
        raise BioprobeError(f"Instruction tuning needs a causal language model; {prepared.resolved.name} is an "
                            "encoder (use --objective classifier, or a decoder such as gpt2, tinyllama or smollm2).")
    if settings.rescore:
        return rescore(prepared)
    instructions = load_instructions(spec.name, settings.data, settings.labels, settings.seed)
    train_split = instructions.splits["train"]
    indices = select(spec.name, instructions, settings.training_size, settings.seed, settings.train_limit)
    model = tokenizer = None
    trained_reused = runstore.is_complete(prepared.folder) and not settings.overwrite
    if trained_reused:
        record = runstore.read_run(prepared.folder)
    else:
        if settings.training_size > 0 and not indices:
            raise BioprobeError(f"{settings.training_size} % of {len(train_split)} training instructions is no item "
                                "at all; use a larger training size.")
        record, model, tokenizer = _train(prepared, instructions, indices, callbacks)
    if not prepared.state.is_main_process:
        return FinetuneResult(prepared.folder, {}, reused=False, record=None)
    metrics, eval_reused = evaluate(prepared, record, instructions, model, tokenizer)
    return FinetuneResult(prepared.folder, metrics, reused=trained_reused and eval_reused, record=record)


def select(task: str, instructions: InstructionData, training_size: int, seed: int,
           train_limit: int | None) -> list[int]:
    """Indices of one run's training instructions (nested across sizes, seeded; stratified by answer where the task
    says: NLI)."""
    from bioprobe.finetune.train import select_training_items

    train_split = instructions.splits["train"]
    return select_training_items(None, train_split, training_size, seed, train_limit,
                                 strata=stratum(task, train_split["output"][:]))


def _train(prepared: Prepared, instructions: InstructionData, indices: list[int], callbacks: tuple):
    """Train on the chosen instructions and store the run (size 0: record the released model only)."""
    import datasets
    import transformers

    from bioprobe.finetune.lora import trainable_parameters
    from bioprobe.finetune.prompts import Collator, Example, check_template, encode_example, keeps_logits
    from bioprobe.finetune.train import base_record, train, training_arguments

    settings, folder, state = prepared.settings, prepared.folder, prepared.state
    size = settings.training_size
    setup = _load(prepared, size)
    tokenizer = setup.loaded.tokenizer
    check_template(tokenizer, settings.template, prepared.resolved.name)
    max_length = settings.max_length or min(settings.length, setup.position_limit or settings.length)
    encoded, too_long = [], []
    subset = instructions.splits["train"].select(indices)
    for index, instruction, text, output in zip(indices, subset["instruction"][:], subset["input"][:],
                                                subset["output"][:]):
        row = encode_example(tokenizer, settings.template, Example(instruction, text, output), max_length)
        if row is None:
            too_long.append(index)
        else:
            encoded.append(row)
    if size > 0 and not encoded:
        raise BioprobeError(f"Every one of the {len(indices)} training instructions is longer than --max-length "
                            f"{max_length} (prompt and answer); pass a larger --max-length.")
    training = {"resumed_from": None}
    model = setup.model
    if size > 0:
        trainer = transformers.Trainer(model=model, args=training_arguments(prepared, setup.lr),
                                       train_dataset=datasets.Dataset.from_list(encoded),
                                       data_collator=Collator(tokenizer.pad_token_id, keeps_logits(model)),
                                       callbacks=list(callbacks))
        training = train(trainer, prepared, sum(row["length"] for row in encoded))
        model = trainer.model
    record = None
    if state.is_main_process:
        if size > 0:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        record = runstore.RunRecord(
            **base_record(prepared, setup.loaded.resolved, "causal-lm", setup.lora and size > 0, setup.four_bit,
                          {"total": setup.n_params, "trainable": trainable_parameters(model) if size > 0 else 0},
                          setup.lr),
            weights="trained" if size > 0 else "released", template=settings.template,
            labels=list(instructions.labels),
            data={"source": instructions.source, "built": instructions.built, "selection": instructions.selection,
                  "sizes": {name: len(split) for name, split in instructions.splits.items()},
                  "train_limit": settings.train_limit, "n_train": len(encoded), "subset_indices": indices,
                  "max_length": max_length, "too_long": len(too_long), "too_long_indices": too_long},
            training=training, environment=runstore.environment())
        if instructions.left_out:  # every row of the task that could not be used, with its reason
            _write_jsonl(folder / "left_out.jsonl", list(instructions.left_out))
        runstore.write_run(folder, record)
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        (folder / "request.json").unlink(missing_ok=True)
    state.wait_for_everyone()
    return record, model, tokenizer


def _load(prepared: Prepared, size: int):
    """The model to tune (`bioprobe.finetune.train.load_for_training`: LoRA adapters attached where used) or, at size
    0, the released model loaded by the same rules without adapters (nothing trains)."""
    from bioprobe.finetune.train import load_for_training

    return load_for_training(prepared, "causal-lm", adapters=size > 0)


def expected_cap(task, tokenizer, gold) -> int:
    """New tokens an answer may take: the tokens of the task's longest well-formed answer to the item
    (`Task.cap_answers`: NER every word labelled O, a label-word task its longest label) and its EOS, plus the task's
    margin."""
    from bioprobe.finetune.prompts import answer_ids

    return max(len(answer_ids(tokenizer, text)) for text in task.cap_answers(gold)) + task.answer_slack


def one_shot_examples(task, instructions: InstructionData, rows: list[dict], seed: int) -> list:
    """The seeded training example shown in each test row's one-shot prompt: same task, and what the task's items
    must share with it (`Task.shot_group`: NER the entity type); the same example at every training size."""
    from bioprobe.finetune.prompts import Example

    train = instructions.splits["train"]
    by_group: dict[str, list[int]] = {}
    for i, row in enumerate(train.select_columns(["entity_type"]).to_list()):
        by_group.setdefault(task.shot_group(row), []).append(i)
    every = list(range(len(train)))
    shots = []
    for index, row in enumerate(rows):
        candidates = by_group.get(task.shot_group(row), every)
        chosen = train[candidates[draw(seed, "shot", index, n=len(candidates))]]
        shots.append(Example(chosen["instruction"], chosen["input"], chosen["output"]))
    return shots


def evaluate(prepared: Prepared, record: runstore.RunRecord, instructions: InstructionData, model=None,
             tokenizer=None) -> tuple[dict, bool]:
    """Generate answers on the test instructions, parse and score them, store everything; reused when current.

    Returns:
        The metrics and whether they were reused.
    """
    from bioprobe.data import data_key
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.finetune.decode import stop_rule, writes_newlines
    from bioprobe.finetune.generate import generate_and_score
    from bioprobe.finetune.prompts import prompt_ids, prompt_text

    settings, spec = prepared.settings, prepared.spec
    test = instructions.splits["test"]
    if settings.test_limit is not None and settings.test_limit < len(test):
        test = test.select(range(settings.test_limit))
    table, generations = _paths(prepared)
    wanted = _eval_settings(prepared, record, data_key(spec.name, settings.data))
    stored = runstore.reusable(table, wanted, settings.overwrite)
    if stored is not None:
        return stored["metrics"], True
    rows = test.to_list()
    golds = [spec.gold(row["output"], tuple(record.labels)) for row in rows]
    if model is None:
        loaded = load_finetuned(settings.runs_dir, spec.name, record.model, settings.training_size, settings.seed,
                                device=prepared.device, merge=True, objective="instruct")
        model, tokenizer = loaded.model, loaded.tokenizer
    elif not record.four_bit and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()  # generate with the adapters folded in, as a reloaded run does
    started = time.perf_counter()
    template, limit = record.template, _limit(model)
    texts, ids, caps = [], [], []
    shots = one_shot_examples(spec, instructions, rows, settings.seed) if settings.shots else [None] * len(rows)
    for index, (row, shot) in enumerate(zip(rows, shots)):
        texts.append(prompt_text(tokenizer, template, row["instruction"], row["input"], shot))
        ids.append(prompt_ids(tokenizer, template, texts[-1]))
        cap = expected_cap(spec, tokenizer, golds[index])
        if settings.max_new_tokens is not None:
            cap = min(cap, settings.max_new_tokens)
        if limit is not None:
            if len(ids[-1]) >= limit:
                raise BioprobeError(f"Test instruction {index + 1}'s prompt has {len(ids[-1])} tokens, more than "
                                    f"{record.model} can read ({limit}); use --test-limit or shorter inputs.")
            cap = min(cap, limit - len(ids[-1]))
        caps.append(cap)
    words = spec.answer_words(tuple(record.labels))
    # one reading of each prompt (its shared instruction prefix read once for all) serves the answer and the ranking
    answers, logliks = generate_and_score(model, tokenizer, ids, caps, stop_rule(tokenizer, template),
                                          label_answers(tokenizer, texts, words) if words else None,
                                          desc=f"Generating {record.model} {spec.name} {settings.training_size} %")
    seconds = time.perf_counter() - started
    flat = not writes_newlines(tokenizer)
    items = []
    for index, (row, text, answer) in enumerate(zip(rows, texts, answers)):
        item = {"item": index, "task": row["task"], "entity_type": row["entity_type"], "source_item": row["item"],
                "instruction": row["instruction"], "input": row["input"], "prompt": text, "output": answer.text,
                "raw_output": answer.raw, "flat": flat, "gold": row["output"], "stopped": answer.stopped,
                "tokens": answer.tokens, "cap": caps[index]}
        if logliks is not None:
            item["loglik"] = dict(zip(words, map(float, logliks[index])))
        items.append(item)
    _write_jsonl(generations, items)
    timing = {"seconds": round(seconds, 2), "generated_tokens": int(sum(a.tokens for a in answers)),
              "tokens_per_second": round(sum(a.tokens for a in answers) / seconds, 1) if seconds else None}
    return _score_and_store(prepared, record, items, wanted, timing), False


def label_answers(tokenizer, texts: list[str], words: dict[str, str]) -> list[list[list[int]]]:
    """Each label's answer word as it follows each prompt in text (`bioprobe.finetune.prompts.continuation_ids`):
    `[prompts][labels]` token ids, in the order of `words`."""
    from bioprobe.finetune.prompts import continuation_ids

    return [[continuation_ids(tokenizer, text, word) for word in words.values()] for text in texts]


def label_logliks(model, tokenizer, texts: list[str], prompts: list[list[int]], words: dict[str, str],
                  share_prefix: bool = True):
    """Log-likelihood of each label's answer word after each prompt, the word tokenised as it follows that prompt in
    text (`label_answers`), without generating (`bioprobe.finetune.generate.generate_and_score` with every cap 0:
    shared prefixes read once, each prompt's rest once).

    Args:
        model: The causal LM.
        tokenizer: Its tokenizer.
        texts: Each prompt's text.
        prompts: Each prompt's ids.
        words: Label -> its answer word (`Task.answer_words`).
        share_prefix: Read the prompts' shared token prefixes once.

    Returns:
        `[prompts, labels]`, in the order of `words`.
    """
    from bioprobe.finetune.generate import generate_and_score

    return generate_and_score(model, tokenizer, prompts, [0] * len(prompts), None,
                              label_answers(tokenizer, texts, words), batch_size=16, progress=False,
                              share_prefix=share_prefix)[1]


def _limit(model) -> int | None:
    from bioprobe.finetune.train import _position_limit

    return _position_limit(model.config)


def _paths(prepared: Prepared) -> tuple[Path, Path]:
    """The evaluation's tidy table (its record beside it: `runstore.sidecar`) and the generations file."""
    s = prepared.settings
    variant = f"{s.shots}shot"
    name = prepared.folder.parent.name
    table = runstore.results_path(s.runs_dir, "finetune", prepared.spec.name, name, s.training_size, s.seed,
                                  variant, objective="instruct")
    generations = runstore.generations_path(s.runs_dir, prepared.spec.name, name, s.training_size, s.seed,
                                            f"test-{variant}")
    return table, generations


EVALUATION = 2
"""The version of generation and scoring an evaluation was made with; a stored one of another version is made again.
2: the stop rule of the prompt format and answers read without the detokeniser's clean-up
(`bioprobe.finetune.decode`), label words scored as they follow the prompt, a failed NER answer scored as every gold
entity missed and one false positive per word, NLI answers naming two labels a failure, `f1_aligned`."""


def _eval_settings(prepared: Prepared, record: runstore.RunRecord, data: str | None) -> dict:
    """What an evaluation's result depends on: its settings, the exact run it evaluates, the evaluation version."""
    s = prepared.settings
    return {"split": "test", "test_limit": s.test_limit, "shots": s.shots, "max_new_tokens": s.max_new_tokens,
            "template": record.template, "data": data, "evaluation": EVALUATION,
            "run": digest(runstore.read_json(prepared.folder / "run.json"), 16)}  # the run as stored


def _write_jsonl(path: Path, items: list[dict]) -> None:
    runstore.write_text(path, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))


def _score_and_store(prepared: Prepared, record: runstore.RunRecord, items: list[dict], wanted: dict,
                     timing: dict) -> dict:
    """Parse and score stored generations; write the tidy table and its record. The metrics."""

    from bioprobe.tasks.base import loglik_scores
    from bioprobe.finetune.train import _tidy_rows, regime_columns

    settings, task = prepared.settings, prepared.spec
    labels = tuple(record.labels)
    golds = [task.gold(item["gold"], labels) for item in items]
    parsed = [task.parse_answer(item, gold, labels) for item, gold in zip(items, golds)]
    metrics = task.score_answers(items, golds, parsed, labels)
    if items and "loglik" in items[0]:
        metrics.update(loglik_scores(golds, [item["loglik"] for item in items]))
    for item, parse in zip(items, parsed):
        item["parse"] = {"labels": parse.labels, "ok": parse.ok,
                         "failures": {k: v for k, v in parse.failures.items() if v},
                         **({"aligned": parse.aligned} if parse.aligned else {})}
    table, generations = _paths(prepared)
    _write_jsonl(generations, items)
    rows = _tidy_rows(task.name, record.model, settings.training_size, settings.seed, metrics,
                      record.data["n_train"], len(items), objective="instruct", shots=settings.shots,
                      template=record.template, weights=record.weights, four_bit=record.four_bit,
                      **regime_columns(record.lora, record.four_bit, record.training))
    runstore.write_table(table, rows)
    runstore.write_sidecar(table, wanted, metrics=metrics, generations=str(generations), n_items=len(items),
                           **timing, environment=runstore.environment())
    return metrics


def rescore(prepared: Prepared) -> FinetuneResult:
    """Score the stored generations of a finished evaluation again (after a scorer change), loading no model.

    Raises:
        BioprobeError: when the run or its generations are missing.
    """
    folder = prepared.folder
    if not runstore.is_complete(folder):
        raise BioprobeError(f"There is no finished instruction run in {folder} to rescore; run it without --rescore.")
    record = runstore.read_run(folder)
    table, generations = _paths(prepared)
    sidecar = runstore.sidecar(table)
    if not generations.is_file() or not sidecar.is_file():
        raise BioprobeError(f"No stored generations at {generations}; evaluate first (without --rescore).")
    items = [json.loads(line) for line in generations.read_text().splitlines() if line.strip()]
    stored = runstore.read_json(sidecar)
    timing = {key: stored.get(key) for key in ("seconds", "generated_tokens", "tokens_per_second")}
    metrics = _score_and_store(prepared, record, items, stored["settings"], {**timing, "rescored": True})
    return FinetuneResult(folder, metrics, reused=False, record=record)
