"""Generation speed: our batched evaluation against the study's way and against batch-1 greedy, same model and items.

    .venv/bin/python benchmarks/generate.py [--model smollm2] [--items 64] [--study-items 2] [--batch-size 32]

The model is first instruction-tuned for a few steps on demo NER instructions (`bioprobe finetune --objective
instruct`, into a temporary runs dir), so that it answers in the `word : B|I|O` format at its real length, as an
evaluated checkpoint does. Then the same NER test prompts are answered

- by ours (`bioprobe.finetune.generate.generate`: left-padded batches sorted by expected answer length, greedy with
  the key/value cache, stop at EOS or `###`, a cap from the expected answer's length, finished rows leaving the
  batch),
- by batch-1 greedy: transformers' `model.generate`, one prompt at a time, greedy, with the same caps and stop rule
  (the reference the speed goal is stated against; its answers must equal ours),
- by the study's way: one prompt at a time, 4 beams, up to 512 new tokens, stopping at EOS only (slow: run on
  `--study-items` prompts and compared per item).

Prints seconds per item, generated tokens per second and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--items", type=int, default=64, help="NER test instructions answered by ours and batch-1")
    parser.add_argument("--study-items", type=int, default=2, help="of them, answered the study's way too")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--train-items", type=int, default=48)
    args = parser.parse_args()

    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    from bioprobe.instructions import load_instructions
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.finetune.decode import answer_text, stop_rule
    from bioprobe.finetune.generate import cut_answer, generate
    from bioprobe.finetune.instruct import expected_cap
    from bioprobe.finetune.prompts import prompt_ids, prompt_text
    from bioprobe.finetune.train import run_finetune

    runs = tempfile.mkdtemp(prefix="bioprobe-generate-")
    started = time.perf_counter()
    run_finetune(task="ner", objective="instruct", model_name=args.model, training_size=100, data="demo",
                 train_limit=args.train_items, epochs=1, batch_size=4, lr=2e-3, lora=True, test_limit=1,
                 runs_dir=runs)
    print(f"instruction-tuned {args.model} on {args.train_items} demo NER instructions in "
          f"{time.perf_counter() - started:.0f} s")
    loaded = load_finetuned(runs, "ner", args.model, 100, 42, merge=True, objective="instruct")
    model, tokenizer = loaded.model, loaded.tokenizer
    rows = load_instructions("ner", "demo").splits["test"].select(range(args.items)).to_list()
    prompts = [prompt_ids(tokenizer, "medtuned", prompt_text(tokenizer, "medtuned", r["instruction"], r["input"]))
               for r in rows]
    caps = [expected_cap("ner", tokenizer, r["input"].split()) for r in rows]
    stop = stop_rule(tokenizer, "medtuned")

    def timed(function):
        began = time.perf_counter()
        out = function()
        return out, time.perf_counter() - began

    ours, ours_s = timed(lambda: generate(model, tokenizer, prompts, caps, stop, batch_size=args.batch_size,
                                          progress=False))

    def greedy_one(prompt: list[int], cap: int):
        def stop_text(input_ids, scores, **kwargs):  # "###" in the last new tokens (`stop_strings` costs 2 s a call)
            tail = input_ids[0, len(prompt):][-6:].tolist()
            return torch.tensor([stop.index(answer_text(tokenizer, tail)) is not None])

        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=cap,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        with torch.inference_mode():
            out = model.generate(input_ids=torch.tensor([prompt]), generation_config=config,
                                 stopping_criteria=StoppingCriteriaList([stop_text]))
        return cut_answer(out[0, len(prompt):].tolist(), tokenizer, cap, stop)

    single, single_s = timed(lambda: [greedy_one(p, c) for p, c in zip(prompts, caps)])
    tokens = sum(g.tokens for g in ours)
    same = sum(a == b for a, b in zip(ours, single))
    parsed = sum(g.stopped for g in ours)

    study = GenerationConfig(do_sample=False, num_beams=4, max_new_tokens=512, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
    study_s = 0.0
    for prompt in prompts[:args.study_items]:
        with torch.inference_mode():
            _, seconds = timed(lambda: model.generate(input_ids=torch.tensor([prompt]), generation_config=study))
        study_s += seconds

    per = {"ours": ours_s / len(prompts), "batch-1 greedy": single_s / len(prompts),
           "study (batch 1, 4 beams, 512)": study_s / max(1, args.study_items)}
    print(f"{len(prompts)} NER test instructions, {tokens} answer tokens ({tokens / len(prompts):.0f} per item), "
          f"{parsed} stopped on their own; batch-1 greedy gave the same answer for {same} of {len(prompts)}")
    for name, seconds in per.items():
        print(f"  {name:32s} {seconds:7.2f} s per item")
    print(f"ours: {tokens / ours_s:.1f} answer tokens/s; {per['batch-1 greedy'] / per['ours']:.1f}x batch-1 greedy, "
          f"{per['study (batch 1, 4 beams, 512)'] / per['ours']:.1f}x the study's way")


if __name__ == "__main__":
    main()
