"""Natural language inference: premise / hypothesis pairs with a label (entailment, neutral, contradiction); a
sequence-classification head over the pair; accuracy and macro-F1; instructions answered with a label word; probe
items are pairs; attribution reports the hypothesis' share."""

from __future__ import annotations

import os
import re

import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.tasks.base import (Prompted, Task, classification_metrics, draw, parse_counts, parse_label_word,
                                 tokenized)

LABELS = ("entailment", "neutral", "contradiction")
WORDS = {"entailment": "Entailment", "neutral": "Neutral", "contradiction": "Contradiction"}
"""The label word an answer gives for each label."""
ALIASES = {"entailment": "entailment", "entails": "entailment", "entailed": "entailment", "neutral": "neutral",
           "contradiction": "contradiction", "contradicts": "contradiction", "contradictory": "contradiction"}
"""Words of an answer read as a label (the label words and their verbs)."""
_DATA_ALIASES = {**ALIASES, "entail": "entailment", "contradict": "contradiction"}
"""Label values of data files read as a label."""
MEDNLI_ENV = "MEDNLI_DIR"
INSTRUCTIONS = (
    "Decide whether the premise entails the hypothesis, contradicts it, or neither. Answer with one word: "
    "Entailment, Contradiction or Neutral.",
    "Natural language inference: read the two clinical sentences and say whether the hypothesis follows from the "
    "premise (Entailment), contradicts it (Contradiction) or is undetermined by it (Neutral).",
    "What is the relation of the hypothesis to the premise? Reply with Entailment, Neutral or Contradiction.",
    "Classify the sentence pair as Entailment, Contradiction or Neutral.",
    "Does the premise support the hypothesis (Entailment), refute it (Contradiction), or neither (Neutral)? Give only "
    "the label.",
)
"""Paraphrases, one drawn per item with the seed; each names the three label words."""
PREMISE, HYPOTHESIS = "Premise: ", " Hypothesis: "
"""How a decoder classifier reads a pair (the boundary is in the ids, so it survives tokenizers that drop newlines,
like BioGPT's Moses)."""
_NLI_TEXT = re.compile(r"entail|contradict|natural language inference")


def prompt_input(premise: str, hypothesis: str) -> str:
    """The input of an NLI instruction."""
    return f"Premise: {premise}\nHypothesis: {hypothesis}"


def parse(text: str, stopped: bool = True):
    """Read an NLI answer: a label word (`bioprobe.tasks.base.parse_label_word`)."""
    return parse_label_word(text, ALIASES, LABELS, stopped)


def uses_native_pair(tokenizer, kind: str) -> bool:
    """Whether the tokenizer marks a sentence pair itself (encoders with [SEP]); decoders get a text template."""
    return kind == "encoder" and tokenizer.sep_token is not None


def encode_pairs(dataset, tokenizer, labels: tuple[str, ...], max_length: int, kind: str):
    """Tokenize premise / hypothesis pairs for sequence classification.

    Encoders get the tokenizer's own pair format (`[CLS] p [SEP] h [SEP]`), truncated longest first. Decoders read
    `Premise: p Hypothesis: h` and classify from the last real token, which is always the hypothesis's last token:
    long pairs lose the end of the premise, never the hypothesis.

    Returns:
        A `datasets.Dataset` with `input_ids`, `attention_mask` (and `token_type_ids` for pair encoders), `labels`,
        `length` and `truncated`.
    """
    from bioprobe.align import special_tokens

    label_id = {label: i for i, label in enumerate(labels)}
    native_pair = uses_native_pair(tokenizer, kind)
    prefix, suffix = special_tokens(tokenizer)

    def batch(examples):
        if native_pair:
            full = tokenizer(examples["premise"], examples["hypothesis"])["input_ids"]
            out = tokenizer(examples["premise"], examples["hypothesis"], truncation="longest_first",
                            max_length=max_length)
            ids = out["input_ids"]
            truncated = [len(a) > len(b) for a, b in zip(full, ids)]
        else:
            premises = tokenizer([PREMISE + p for p in examples["premise"]], add_special_tokens=False)["input_ids"]
            hypotheses = tokenizer([HYPOTHESIS + h for h in examples["hypothesis"]],
                                   add_special_tokens=False)["input_ids"]
            ids, truncated = [], []
            for p_ids, h_ids in zip(premises, hypotheses):
                room = max_length - len(prefix) - len(suffix)
                kept_h = h_ids[:room]
                kept_p = p_ids[:max(room - len(kept_h), 0)]
                ids.append(prefix + kept_p + kept_h + suffix)
                truncated.append(len(kept_p) + len(kept_h) < len(p_ids) + len(h_ids))
            out = {"attention_mask": [[1] * len(row) for row in ids]}
        encoded = {"input_ids": ids, "attention_mask": out["attention_mask"],
                   "labels": [label_id[label] for label in examples["label"]],
                   "length": [len(row) for row in ids], "truncated": truncated}
        if "token_type_ids" in out:
            encoded["token_type_ids"] = out["token_type_ids"]
        return encoded

    return tokenized(dataset, batch, "Tokenizing NLI")


def segments(ids: list[int], tokenizer, premise: str, hypothesis: str, kind: str, max_length: int) -> np.ndarray:
    """`[tokens]` 0 for premise tokens, 1 for hypothesis tokens, -1 for the rest, of one pair encoded by
    `encode_pairs`.

    Encoders: the tokenizer's own pair information, `sequence_ids()` of the pair encoded again the same way (-1 where
    it is None: [CLS], [SEP]); an [UNK] or [MASK] belongs to the sentence it stands in. A slow tokenizer has no
    `sequence_ids`: there the positions its special-tokens mask marks ([CLS], [SEP]; never [UNK]) split the text, the
    first run being the premise and the rest the hypothesis (this misreads a premise truncated to nothing). Decoders
    (`Premise: p Hypothesis: h` between the tokenizer's own prefix and suffix): the hypothesis is the last part and is
    kept whole unless it alone is too long, so its own length marks the boundary even when the premise was truncated
    (the template words count with their part; every text position counts, an unknown character's <unk> too).

    Raises:
        ValueError: `ids` are not the pair as the tokenizer encodes it (a bug, not a user error).
    """
    from bioprobe.align import special_tokens

    out = np.full(len(ids), -1)
    if uses_native_pair(tokenizer, kind):
        encoded = tokenizer(premise, hypothesis, truncation="longest_first", max_length=max_length,
                            return_special_tokens_mask=True)
        if list(encoded["input_ids"]) != list(ids):
            raise ValueError("The pair's ids differ from the tokenizer's own encoding of it; cannot find its segments.")
        if getattr(encoded, "is_fast", False):
            return np.array([-1 if part is None else part for part in encoded.sequence_ids(0)])
        part = -1
        added = encoded["special_tokens_mask"]
        for position, flag in enumerate(added):
            if flag:
                continue
            if position == 0 or added[position - 1]:
                part = min(part + 1, 1)
            out[position] = part
        return out
    prefix, suffix = special_tokens(tokenizer)
    text = range(len(prefix), len(ids) - len(suffix))
    n_hypothesis = min(len(tokenizer(HYPOTHESIS + hypothesis, add_special_tokens=False)["input_ids"]), len(text))
    for k, position in enumerate(text):
        out[position] = 1 if k >= len(text) - n_hypothesis else 0
    return out


class NLI(Task):
    name = "nli"
    title = "NLI"
    help = "NLI (sentence pairs; instruct: a label word)"
    head = "sequence"
    metrics = ("accuracy", "macro_f1")
    fixed_labels = LABELS
    columns = {"premise": ("premise", "sentence1", "text_a"), "hypothesis": ("hypothesis", "sentence2", "text_b"),
               "label": ("label", "gold_label")}
    formats = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
    poolings = ("joint-mean", "cls", "last", "separate-mean")
    prompt_poolings = ("joint-mean", "last")
    item, items = "pair", "pairs"
    generative_metrics = ("loglik_accuracy",)
    answer_rule = ("NLI answers are a label word; the log-likelihood ranking scores the three label words without "
                   "generating.")
    share_name = "hypothesis_share"
    share_title = "hypothesis share"
    share_where = "the hypothesis tokens (the rest is on the premise)"

    # --- data ---

    def features(self):
        import datasets

        return datasets.Features({name: datasets.Value("string") for name in ("premise", "hypothesis", "label")})

    def default_source(self) -> tuple[str, str | None]:
        """MedNLI from `$MEDNLI_DIR` (credentialed: it cannot be downloaded)."""
        directory = os.environ.get(MEDNLI_ENV, "").strip()
        if not directory:
            raise BioprobeError(
                "MedNLI is credentialed data from PhysioNet (https://physionet.org/content/mednli/), so it cannot be "
                f"downloaded automatically: get access there, then pass --data DIR or set {MEDNLI_ENV}=DIR to the "
                "folder with mli_train_v1.jsonl, or use --data demo.")
        return directory, MEDNLI_ENV

    def data_key(self, data):
        return data if data is not None else (os.environ.get(MEDNLI_ENV) or None)

    def demo(self):
        from bioprobe.demo_corpus import demo_nli

        return demo_nli()

    def standardize(self, split, names, where=None) -> dict[str, list]:
        """Map rows to `premise` / `hypothesis` / `label` strings, labels normalised to `LABELS`."""
        from bioprobe.schema import field_value, id_name, integer_id, text_value

        columns: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
        for i, row in enumerate(split.rows):
            where = split.locate(i)
            for name in ("premise", "hypothesis"):
                columns[name].append(text_value(row, name, self.columns[name], where))
            value = field_value(row, "label", self.columns["label"], where)[1]
            index = integer_id(value)
            if index is not None:
                value = id_name(value, index, names, "label", ",".join(LABELS), where)
            label = _DATA_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None
            if label is None:
                raise BioprobeError(f"{where}: label {value!r} is not one of {', '.join(LABELS)}.")
            columns["label"].append(label)
        return columns

    def strata(self, split):
        return split["label"][:]

    def describe_item(self, row: dict) -> str:
        return f"{row['premise']} / {row['hypothesis']}"

    # --- classifier ---

    def encode(self, dataset, tokenizer, names, max_length, kind):
        return encode_pairs(dataset, tokenizer, names, max_length, kind)

    # --- instructions ---

    def build_instructions(self, split, labels, seed, split_name):
        """One instruction per premise / hypothesis pair, answered by its label word."""
        from bioprobe.instructions import COLUMNS

        columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
        for index, (premise, hypothesis, label) in enumerate(zip(split["premise"][:], split["hypothesis"][:],
                                                                 split["label"][:])):
            columns["instruction"].append(INSTRUCTIONS[draw(seed, split_name, index, n=len(INSTRUCTIONS))])
            columns["input"].append(prompt_input(premise, hypothesis))
            columns["output"].append(WORDS[label])
            columns["task"].append(self.name)
            columns["entity_type"].append("")
            columns["item"].append(index)
        return columns

    def instructions_how(self, labels) -> str:
        return "one instruction per pair"

    def shows_answer(self, input: str, output: str) -> bool:
        """The answer is one label word (Entailment, Neutral or Contradiction; any case, a final period)."""
        return output.strip().rstrip(".").lower() in WORDS

    def asks(self, instruction: str) -> bool:
        """It mentions entailment or contradiction ("entail", "contradict") or "natural language inference"."""
        return _NLI_TEXT.search(instruction.lower()) is not None

    def named_by(self, value: str) -> bool:
        return re.search(r"nli\b|inference|entail", value.lower()) is not None

    def stratum(self, outputs):
        return [output.strip().lower() for output in outputs]

    def analysis_instruction(self, index, seed, labels=()):
        return INSTRUCTIONS[draw(seed, "analysis", index, n=len(INSTRUCTIONS))], ""

    def example_output(self, row: dict, entity_type: str, labels=()) -> str:
        return WORDS[row["label"]]

    def prompt_input(self, row: dict) -> str:
        return prompt_input(row["premise"], row["hypothesis"])

    def cap_answers(self, gold) -> list[str]:
        return list(WORDS.values())

    def gold(self, output: str, labels=()):
        parsed = parse(output)
        if not parsed.ok:
            raise BioprobeError(f"The gold answer {output!r} is not an NLI label word (Entailment, Neutral or "
                                "Contradiction).")
        return parsed.labels[0]

    def parse_answer(self, item, gold, labels=()):
        return parse(item["output"], item["stopped"])

    def score_answers(self, items, golds, parsed, labels=()):
        """`accuracy` and `macro_f1` over all items (an answer with any failure is wrong), and the parse counts."""
        index = {label: i for i, label in enumerate(LABELS)}
        truth = np.array([index[label] for label in golds])
        predicted = np.array([index[p.labels[0]] if p.ok else -1 for p in parsed])
        return {**classification_metrics(truth, predicted, len(LABELS)), **parse_counts(parsed)}

    def answer_words(self, labels=()):
        return dict(WORDS)

    # --- probing ---

    def probe_plan(self, columns, tokenizer, pooling, kind, max_length):
        """Pair vectors, the pair encoded as fine-tuning encodes it (`encode_pairs`), except for `separate-mean`,
        which encodes premise and hypothesis on their own and concatenates their mean vectors (the study's setup).
        Items are `(pair, 0)`."""
        import datasets

        from bioprobe.units import Plan, Unit, longest_first

        units, cut = [], 0
        if pooling == "separate-mean":
            for index, (premise, hypothesis) in enumerate(zip(columns["premise"], columns["hypothesis"])):
                seqs = []
                for text in (premise, hypothesis):
                    full = tokenizer(text)["input_ids"]
                    kept = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
                    cut += len(kept) < len(full)
                    seqs.append(list(kept))
                units.append(Unit(seqs, None, [[(0, len(s), 0)] for s in seqs], [(index, 0)]))
            return Plan(longest_first(units), "mean", blocks=2, n_truncated=cut)
        rows = datasets.Dataset.from_dict({"premise": list(columns["premise"]),
                                           "hypothesis": list(columns["hypothesis"]),
                                           "label": [LABELS[0]] * len(columns["premise"])})
        encoded = encode_pairs(rows, tokenizer, LABELS, max_length, kind)[:]  # lists, read from Arrow once
        types = encoded.get("token_type_ids")
        for index, ids in enumerate(encoded["input_ids"]):
            n = len(ids)
            span = {"joint-mean": (0, n), "cls": (0, 1), "last": (n - 1, n)}[pooling]
            units.append(Unit([ids], [types[index]] if types else None, [[(*span, 0)]], [(index, 0)]))
        return Plan(longest_first(units), {"joint-mean": "mean", "cls": "first", "last": "last"}[pooling],
                    n_truncated=int(sum(encoded["truncated"])))

    def prompted(self, columns, k, tokenizer, pooling, room, start, suffix):
        """The pair as `Premise: ...\nHypothesis: ...`; `joint-mean` pools its tokens, `last` the prompt's last token
        (where the answer is read). A pair too long loses the end of the premise, as in fine-tuning."""
        premise = tokenizer("Premise: " + columns["premise"][k], add_special_tokens=False)["input_ids"]
        hypothesis = tokenizer("\nHypothesis: " + columns["hypothesis"][k], add_special_tokens=False)["input_ids"]
        kept_h = hypothesis[:room]
        kept_p = premise[:max(room - len(kept_h), 0)]
        ids = kept_p + kept_h
        end = start + len(ids) + suffix
        target = (start, start + len(ids)) if pooling == "joint-mean" else (end - 1, end)
        return Prompted(ids, [(*target, 0)], [(k, 0)], int(len(ids) < len(premise) + len(hypothesis)))

    # --- attention and attribution ---

    def attention_inputs(self, columns, tokenizer, kind, max_length):
        import datasets

        pairs = datasets.Dataset.from_dict({"premise": columns["premise"], "hypothesis": columns["hypothesis"],
                                            "label": [LABELS[0]] * len(columns["premise"])})
        encoded = encode_pairs(pairs, tokenizer, LABELS, max_length, kind)[:]
        return encoded["input_ids"], encoded.get("token_type_ids"), int(sum(encoded["truncated"])), {}

    def attribution_target(self, row, tokenizer, max_length, kind):
        """The pair's predicted class; segments premise (0) and hypothesis (1)."""
        import datasets

        encoded = encode_pairs(datasets.Dataset.from_dict({"premise": [row["premise"]],
                                                           "hypothesis": [row["hypothesis"]],
                                                           "label": [LABELS[0]]}),
                               tokenizer, LABELS, max_length, kind)[0]
        ids = encoded["input_ids"]
        return ids, encoded.get("token_type_ids"), None, segments(ids, tokenizer, row["premise"], row["hypothesis"],
                                                                  kind, max_length)

    def prompted_answer(self, row, tokenizer, room, entity, labels=()):
        """The label word right after the prompt; segments 0 the `Premise: ...` part, 1 the `Hypothesis: ...` part
        (the premise is cut first when the pair is too long)."""
        premise = tokenizer("Premise: " + row["premise"], add_special_tokens=False)["input_ids"]
        hypothesis = tokenizer("\nHypothesis: " + row["hypothesis"], add_special_tokens=False)["input_ids"]
        premise = premise[:max(room - len(hypothesis), 0)]
        return premise + hypothesis, np.array([0] * len(premise) + [1] * len(hypothesis)), "", dict(WORDS)


TASK = NLI()
