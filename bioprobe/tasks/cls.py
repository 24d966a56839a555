"""Document classification, multi-label: texts with zero or more labels from a label set (`text`, `labels`; HoC: ten
hallmarks of cancer, most sentences none); a multi-label head (a sigmoid per label) whose per-label thresholds are
chosen on the validation split; micro- and macro-F1 over labels and macro average precision (threshold-free);
one-vs-rest probes; instructions answered with the label names, comma-separated, order-free, "none" for no label."""

from __future__ import annotations

import json
import re

import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.tasks.base import Parsed, Task, draw, no_failures, parse_counts, tokenized

HALLMARKS = ("sustaining proliferative signaling", "evading growth suppressors", "resisting cell death",
             "enabling replicative immortality", "inducing angiogenesis", "activating invasion and metastasis",
             "genomic instability and mutation", "tumor promoting inflammation", "cellular energetics",
             "avoiding immune destruction")
"""HoC's ten hallmarks, in the order of BLURB's `i_v` label flags."""
NONE = "none"
"""The answer that says a text has no label."""
INSTRUCTIONS = (
    "Which of these labels apply to the text: {labels}? Answer with the labels that apply, separated by commas, or "
    "none.",
    "Document classification: list every label of {labels} that the text is about, comma-separated; answer none if "
    "no label applies.",
    "Assign the text its labels from {labels}. Give them separated by commas (none when there is no label).",
    "Read the text and name each of the following labels that fits it: {labels}. Separate them by commas; write "
    "none if none fits.",
    "Classify the document into zero or more of the categories {labels}. Answer with the categories, comma-"
    "separated, or none.",
)
"""Paraphrases, one drawn per item with the seed; each lists the labels."""
_CLS_TEXT = re.compile(r"hallmark|classif\w* (?:the |this )?(?:document|abstract|text)|categor|topics?\b")
_FLAG = re.compile(r"\s*(\d+)_([01])\s*")


def read_blurb_hoc(path):
    """A TSV split file of BLURB's HoC layout: `labels<TAB>sentence`, the labels as `i_v` flags (`0_0,1_1,...`: label
    i present when v is 1, `HALLMARKS` order), an optional header row and an optional leading index column.

    Returns:
        The raw split (`bioprobe.data.RawSplit`) with `text` and `labels` (a list of hallmark names).
    """
    from bioprobe.data import RawSplit, read_text, row_locator

    rows, numbers = [], []
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        flags = next((f for f in fields if f and all(_FLAG.fullmatch(x) for x in f.split(","))), None)
        if flags is None:
            if not rows and {f.lower() for f in fields} & {"labels", "label", "sentence", "text"}:
                continue  # the header
            raise BioprobeError(f"{path} line {number}: no labels column of i_v flags (0_0,1_1,...); a HoC file has "
                                "labels and a sentence.")
        present = []
        for flag in flags.split(","):
            index, value = (int(x) for x in _FLAG.fullmatch(flag).groups())
            if index >= len(HALLMARKS):
                raise BioprobeError(f"{path} line {number}: label flag {flag!r} names label {index}, but HoC has "
                                    f"{len(HALLMARKS)}.")
            if value:
                present.append(HALLMARKS[index])
        text = fields[-1] if fields[-1] != flags else fields[-2]
        rows.append({"text": text, "labels": present})
        numbers.append(number)
    return RawSplit(rows, None, row_locator(str(path), "line", numbers), str(path))


read_blurb_hoc.format_name = "blurb hoc tsv"


def label_list(value, column: str, names, where: str) -> list[str]:
    """A row's labels as names: a list (or a JSON list in a text cell) of names or integer ids (`names`).

    Raises:
        BioprobeError: for labels that are not a list.
    """
    from bioprobe.schema import id_name, integer_id

    if isinstance(value, str):
        try:
            value = json.loads(value) if value.lstrip().startswith("[") else value
        except json.JSONDecodeError:
            raise BioprobeError(f"{where}: the {column} value is not a valid JSON list.") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise BioprobeError(f"{where}: the {column} value {value!r} is not a list; a multi-label row gives its labels "
                            "as a list (an empty one for none).")
    out = []
    for item in value:
        index = integer_id(item)
        label = id_name(item, index, names, "label", ",".join(HALLMARKS[:3]), where) if index is not None else item
        if not isinstance(label, str) or not label.strip():
            raise BioprobeError(f"{where}: the label {item!r} is not a label name.")
        out.append(label.strip())
    return list(dict.fromkeys(out))


def multi_hot(labels: list[str], names: tuple[str, ...]) -> list[float]:
    """A 0/1 row over `names`."""
    chosen = set(labels)
    return [float(name in chosen) for name in names]


def thresholds(probabilities: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per label, the threshold on the validation probabilities that gives the best F1 of that label: the best
    cut between two consecutive validation probabilities (ties: the highest), placed halfway between them, so that
    a test item a little below the lowest validation positive still counts; 0.5 for a label the validation split
    never has.

    Args:
        probabilities: `[items, labels]` sigmoid outputs.
        gold: `[items, labels]` 0/1.
    """
    chosen = np.full(probabilities.shape[1], 0.5)
    for k in range(probabilities.shape[1]):
        truth = gold[:, k] > 0
        if not truth.any():
            continue
        best = -1.0
        values = np.unique(probabilities[:, k])
        for i, threshold in enumerate(values):
            said = probabilities[:, k] >= threshold
            tp = float((said & truth).sum())
            f1 = 2 * tp / (said.sum() + truth.sum()) if said.sum() + truth.sum() else 0.0
            if f1 >= best:
                best, chosen[k] = f1, float(threshold + values[i - 1]) / 2 if i else float(threshold) / 2
    return chosen


def multilabel_metrics(gold: np.ndarray, predicted: np.ndarray, names: tuple[str, ...],
                       scores: np.ndarray | None = None) -> dict[str, float]:
    """`micro_f1`, `macro_f1` over labels (a label never predicted nor present scores 0), `f1/<label>`, and with
    `scores` the threshold-free `macro_average_precision` (over labels present in `gold`).

    Args:
        gold: `[items, labels]` 0/1.
        predicted: `[items, labels]` 0/1.
        names: The label names.
        scores: `[items, labels]` scores (probabilities) for the average precision.
    """
    from sklearn.metrics import average_precision_score, f1_score

    gold, predicted = np.asarray(gold, dtype=int), np.asarray(predicted, dtype=int)
    out = {"micro_f1": float(f1_score(gold, predicted, average="micro", zero_division=0)),
           "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0))}
    if scores is not None:
        present = [k for k in range(gold.shape[1]) if gold[:, k].any()]
        out["macro_average_precision"] = float(np.mean([average_precision_score(gold[:, k], scores[:, k])
                                                        for k in present])) if present else float("nan")
    for k, name in enumerate(names):
        out[f"f1/{name}"] = float(f1_score(gold[:, k], predicted[:, k], zero_division=0))
    return out


def parse(text: str, labels: tuple[str, ...], stopped: bool = True) -> Parsed:
    """Read a label-set answer: names separated by commas (or semicolons, or lines), case and outer punctuation ignored,
    order free; "none" (alone) for no label. A part that is not a label is an `unknown_label` failure."""
    failures = no_failures(stopped)
    known = {label.lower(): label for label in labels}
    answer = text.strip()
    if not answer:
        failures["empty"] = 1
        return Parsed([], failures)
    parts = [p.strip(" .;:\"'").lower() for p in re.split(r",|\n|;", answer)]
    parts = [p for p in parts if p]
    if parts == [NONE]:
        return Parsed([], failures)
    said = []
    for part in parts:
        if part in known:
            said.append(known[part])
        else:
            failures["unknown_label"] += 1
    return Parsed(list(dict.fromkeys(said)), failures)


class CLS(Task):
    name = "cls"
    title = "CLS"
    help = "document classification (multi-label texts; instruct: label names, comma-separated)"
    head = "multilabel"
    metrics = ("micro_f1", "macro_f1", "macro_average_precision")
    columns = {"text": ("text", "sentence", "abstract", "document"), "labels": ("labels", "label", "hallmarks")}
    formats = {".tsv": read_blurb_hoc, ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
    default_data = "bigbio/hallmarks_of_cancer:hallmarks_of_cancer_bigbio_text"
    poolings = ("mean", "cls", "last")
    prompt_poolings = ("mean", "last")
    item, items = "text", "texts"
    generative_metrics = ("macro_f1",)
    answer_rule = ("CLS answers are label names, comma-separated in any order (or none), read as a set and scored by "
                   "micro- and macro-F1 over labels.")
    per_label = ("finetune_label_f1", "label", "F1 (test)", "f1")

    # --- data ---

    def features(self):
        import datasets

        return datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.Value("string"))})

    def demo(self):
        from bioprobe.demo_corpus import demo_cls

        return demo_cls()

    def standardize(self, split, names, where=None) -> dict[str, list]:
        """Map rows to `text` and `labels` (a list of names; an empty list for none)."""
        from bioprobe.schema import field_value, text_value

        columns: dict[str, list] = {"text": [], "labels": []}
        for i, row in enumerate(split.rows):
            where = split.locate(i)
            columns["text"].append(text_value(row, "text", self.columns["text"], where))
            column, value = field_value(row, "labels", self.columns["labels"], where)
            columns["labels"].append(label_list(value, column, names, where))
        return columns

    def label_set(self, columns, names) -> tuple[str, ...]:
        """`--labels` when given, else every label of the training and validation splits (sorted); a test label
        outside them is refused (`check_labels`).

        Raises:
            BioprobeError: for an empty label set (no training text has a label).
        """
        if names:
            return tuple(names)
        found = sorted({label for role in ("train", "validation")
                        for labels in columns.get(role, {}).get("labels", []) for label in labels})
        if not found:
            raise BioprobeError("The training split has no labels at all (every text has an empty label list); "
                                "document classification needs a label set.")
        return tuple(found)

    def check_labels(self, columns, raw, labels):
        allowed = set(labels)
        for role, split in columns.items():
            for i, found in enumerate(split["labels"]):
                outside = [label for label in found if label not in allowed]
                if outside:
                    raise BioprobeError(f"{raw[role].locate(i)}: label {outside[0]!r} is outside the label set "
                                        f"({', '.join(labels)}); pass --labels with every label, or fix the data.")

    def label_names_from(self):
        return self.columns["labels"]

    def describe_item(self, row):
        return row["text"]

    # --- classifier ---

    def encode(self, dataset, tokenizer, names, max_length, kind):
        """Texts for a multi-label head: the tokenizer's own special tokens around the text, cut at `max_length`;
        labels a 0/1 row over `names`.

        Returns:
            A `datasets.Dataset` with `input_ids`, `attention_mask`, `labels`, `length`, `truncated`.
        """
        from bioprobe.align import special_tokens

        prefix, suffix = special_tokens(tokenizer)
        room = max(max_length - len(prefix) - len(suffix), 1)

        def batch(examples):
            texts = tokenizer(examples["text"], add_special_tokens=False)["input_ids"]
            ids = [prefix + list(t[:room]) + suffix for t in texts]
            return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids],
                    "labels": [multi_hot(labels, names) for labels in examples["labels"]],
                    "length": [len(row) for row in ids], "truncated": [len(t) > room for t in texts]}

        return tokenized(dataset, batch, "Tokenizing texts")

    def classifier_scores(self, logits, splits, names):
        """Micro- and macro-F1 with per-label thresholds chosen on the validation split (recorded), and macro
        average precision, which needs no threshold. A head that learnt a ranking of rare labels shows it in F1 too
        (at 0.5 it may predict no label at all)."""
        probabilities = {}
        gold = {}
        for role in ("validation", "test"):
            scores, encoded = logits(role)
            probabilities[role] = 1 / (1 + np.exp(-np.stack(scores)))
            gold[role] = np.asarray(encoded["labels"][:], dtype=int)
        chosen = thresholds(probabilities["validation"], gold["validation"])
        predicted = (probabilities["test"] >= chosen).astype(int)
        metrics = multilabel_metrics(gold["test"], predicted, names, probabilities["test"])
        at_half = multilabel_metrics(gold["test"], (probabilities["test"] >= 0.5).astype(int), names)
        return metrics, {"thresholds": dict(zip(names, map(float, chosen))), "thresholds_from": "validation",
                         "n_validation": len(gold["validation"]), "micro_f1_at_0.5": at_half["micro_f1"],
                         "macro_f1_at_0.5": at_half["macro_f1"]}

    def outcomes(self, scores, encoded, gold, names, evaluation=None):
        """Per text and label the true positive, false positive and false negative at the run's thresholds (chosen on
        the validation split when it was tuned; 0.5 where none are recorded): `[texts, labels, 3]`."""
        chosen = (evaluation or {}).get("thresholds") or {}
        cut = np.array([chosen.get(name, 0.5) for name in names])
        predicted = (1 / (1 + np.exp(-np.stack(scores))) >= cut).astype(int)
        truth = np.asarray(encoded["labels"][:], dtype=int)
        return np.stack([predicted & truth, predicted & (1 - truth), (1 - predicted) & truth], axis=-1).astype(float)

    def outcome_score(self, sums, names):
        """Micro-F1 over labels (the main metric) from summed outcomes."""
        tp, fp, fn = (sums[..., k].sum(-1) for k in range(3))
        return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp, dtype=float), where=2 * tp + fp + fn > 0)

    def _texts(self, texts, tokenizer, max_length, kind) -> dict[str, list]:
        """Texts encoded as the classifier reads them (`encode`, no labels), every column as a list."""
        import datasets

        rows = datasets.Dataset.from_dict({"text": list(texts), "labels": [[] for _ in texts]})
        return self.encode(rows, tokenizer, (), max_length, kind)[:]

    # --- instructions ---

    def build_instructions(self, split, labels, seed, split_name):
        """One instruction per text, answered by its label names in label-set order, comma-separated, or none."""
        from bioprobe.instructions import COLUMNS

        listing = ", ".join(labels)
        columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
        for index, (text, found) in enumerate(zip(split["text"][:], split["labels"][:])):
            columns["instruction"].append(INSTRUCTIONS[draw(seed, split_name, index, n=len(INSTRUCTIONS))]
                                          .format(labels=listing))
            columns["input"].append(text)
            columns["output"].append(self.example_output({"labels": found}, "", labels))
            columns["task"].append(self.name)
            columns["entity_type"].append("")
            columns["item"].append(index)
        return columns

    def instructions_how(self, labels):
        return f"one instruction per text, answered by its labels among {', '.join(labels)}"

    def instruction_types(self, labels):
        return tuple(labels)

    def shows_answer(self, input: str, output: str) -> bool:
        """Every comma-separated part of the answer is a hallmark of cancer (HoC's answers)."""
        parts = [p.strip().lower() for p in output.split(",") if p.strip()]
        return bool(parts) and all(p in HALLMARKS for p in parts)

    def asks(self, instruction: str) -> bool:
        """It mentions hallmarks, categories, topics, or classifying a document / abstract / text."""
        return _CLS_TEXT.search(instruction.lower()) is not None and "entail" not in instruction.lower()

    def named_by(self, value: str) -> bool:
        return re.search(r"\bhoc\b|hallmark|\bcls\b|classification|litcovid", value.lower()) is not None

    def answer_labels(self, outputs):
        """Every label name the answers give (lower case, in order of first sight), "none" left out."""
        found = [p.strip() for output in outputs for p in output.split(",") if p.strip()]
        return tuple(dict.fromkeys(p for p in found if p.lower() != NONE))

    def analysis_instruction(self, index, seed, labels=()):
        return INSTRUCTIONS[draw(seed, "analysis", index, n=len(INSTRUCTIONS))].format(labels=", ".join(labels)), ""

    def example_output(self, row, entity_type, labels=()):
        ordered = [label for label in labels if label in set(row["labels"])] or list(row["labels"])
        return ", ".join(ordered) if ordered else NONE

    def prompt_input(self, row):
        return row["text"]

    def cap_answers(self, gold):
        return [", ".join(gold) if gold else NONE]

    answer_slack = 16

    def gold(self, output, labels=()):
        parsed = parse(output, labels)
        if not parsed.ok:
            raise BioprobeError(f"The gold answer {output!r} names a label outside the run's labels "
                                f"({', '.join(labels)}).")
        return parsed.labels

    def parse_answer(self, item, gold, labels=()):
        return parse(item["output"], labels, item["stopped"])

    def score_answers(self, items, golds, parsed, labels=()):
        """Set F1 over labels: `micro_f1`, `macro_f1`, `f1/<label>`; a failed answer counts as the complement of its
        gold set (every gold label missed, every other label said: no well-formed answer scores worse)."""
        gold = np.array([multi_hot(g, labels) for g in golds], dtype=int).reshape(len(golds), len(labels))
        said = np.array([multi_hot(p.labels, labels) if p.ok else [1.0 - x for x in multi_hot(g, labels)]
                         for p, g in zip(parsed, golds)], dtype=int).reshape(len(golds), len(labels))
        return {**multilabel_metrics(gold, said, labels), **parse_counts(parsed)}

    # --- probing ---

    def probe_plan(self, columns, tokenizer, pooling, kind, max_length):
        """Text vectors: `mean` over the text, `cls` (encoders) or `last`. Items are `(text, 0)`."""
        from bioprobe.units import Plan, Unit, longest_first

        encoded = self._texts(columns["text"], tokenizer, max_length, kind)
        units = []
        for index, ids in enumerate(encoded["input_ids"]):
            n = len(ids)
            span = {"mean": (0, n), "cls": (0, 1), "last": (n - 1, n)}[pooling]
            units.append(Unit([ids], None, [[(*span, 0)]], [(index, 0)]))
        return Plan(longest_first(units), {"mean": "mean", "cls": "first", "last": "last"}[pooling],
                    n_truncated=int(sum(encoded["truncated"])))

    def prompted(self, columns, k, tokenizer, pooling, room, start, suffix):
        from bioprobe.tasks.base import Prompted

        ids = tokenizer(columns["text"][k], add_special_tokens=False)["input_ids"]
        kept = list(ids[:room])
        end = start + len(kept) + suffix
        target = (start, start + len(kept)) if pooling == "mean" else (end - 1, end)
        return Prompted(kept, [(*target, 0)], [(k, 0)], int(len(kept) < len(ids)))

    def item_labels(self, columns, keys):
        """The item's labels joined by "|" (the probe reads them back as a 0/1 row)."""
        found = columns["labels"]
        return [""] * len(keys), ["|".join(found[row]) for row, _ in keys]

    # --- attention and attribution ---

    def attention_inputs(self, columns, tokenizer, kind, max_length):
        encoded = self._texts(columns["text"], tokenizer, max_length, kind)
        return encoded["input_ids"], None, int(sum(encoded["truncated"])), {}

    def attribution_target(self, row, tokenizer, max_length, kind):
        """The label the head scores highest."""
        return self._texts([row["text"]], tokenizer, max_length, kind)["input_ids"][0], None, None, None

    def prompted_answer(self, row, tokenizer, room, entity, labels=()):
        """The first label name (or "none") right after the prompt."""
        ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"][:room]
        return list(ids), None, "", {label: label for label in (*labels, NONE)}


TASK = CLS()
