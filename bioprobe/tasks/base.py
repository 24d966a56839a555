"""What a task module provides (`Task`), and what the label-classification tasks share: single-label metrics, the
label-word answer (parsed, scored and ranked by log-likelihood), parse results and their failure counts.

Every stage asks the task object (`bioprobe.tasks.get_task`) instead of comparing task names: a new task is one module
with a `Task` subclass, one line in `bioprobe.tasks.TASKS`, and its tests.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from bioprobe.errors import BioprobeError

FAILURES = ("empty", "missing_lines", "extra_lines", "word_mismatch", "unknown_label", "several_labels", "no_stop")
"""Failure kinds of a generated answer, counted per item (an item can have several): no answer at all; fewer lines
than input words; more lines; a line whose word is not the input word at its position; a label outside the task's
labels; an answer that names two different labels ("Entailment or Contradiction"); no stop within the length cap."""


def tokenized(dataset, batch, desc: str):
    """`dataset.map(batch, batched=True)` in memory, without `datasets`' fingerprint of the transform.

    The fingerprint pickles `batch` with everything it closes over, the tokenizer included: 0.1-1.7 s per call, paid
    by every stage that encodes a split (about a minute of the quick demo), for a cache we never read. A random
    fingerprint, no cache file read or written: the rows are exactly those `map` computes.
    """
    import uuid

    return dataset.map(batch, batched=True, remove_columns=dataset.column_names, desc=desc,
                       new_fingerprint=uuid.uuid4().hex, load_from_cache_file=False, keep_in_memory=True)


def draw(seed: int, *key, n: int) -> int:
    """A seeded choice among `n`, fixed by `(seed, *key)` alone: the same item always gets the same draw, whatever
    else is drawn or in which order."""
    text = "\x00".join(map(str, (seed, *key)))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % n


@dataclass
class Parsed:
    """One parsed answer.

    Attributes:
        labels: NER: a label per gold word by position (B / I / O, or typed B-X / I-X; missing or unknown lines "O");
            a label-word task: one label name, or "" when none was found; multi-label: the label names said.
        failures: Failure kind -> how often it occurred in this answer.
        aligned: NER: a label per gold word from the answer line aligned to it by its text (`f1_aligned`).
    """

    labels: list[str]
    failures: dict[str, int] = field(default_factory=dict)
    aligned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the answer parsed without any failure."""
        return not any(self.failures.values())


def no_failures(stopped: bool = True) -> dict[str, int]:
    """A failure count of every kind at 0 (`no_stop` set when generation did not stop)."""
    failures = dict.fromkeys(FAILURES, 0)
    failures["no_stop"] = int(not stopped)
    return failures


def parse_counts(parsed: list[Parsed]) -> dict[str, float]:
    """`parse_rate` (items without any failure) and `failures/<kind>` (items with that failure)."""
    out = {"parse_rate": float(np.mean([p.ok for p in parsed])) if parsed else float("nan")}
    for kind in FAILURES:
        out[f"failures/{kind}"] = int(sum(p.failures.get(kind, 0) > 0 for p in parsed))
    return out


def squeeze(text: str) -> str:
    """`text` without whitespace: how answer words are compared, since tokenizers differ only in spacing."""
    return "".join(text.split())


def classification_metrics(gold: np.ndarray, predicted: np.ndarray, n_classes: int,
                           positive: int | None = None) -> dict[str, float]:
    """Accuracy and macro-F1 over all classes (a class never predicted scores F1 0); with `positive` (binary data)
    also `f1_positive`, the F1 of that class (what GAD reports). A prediction of -1 (an answer that did not parse)
    is wrong for every class."""
    from sklearn.metrics import f1_score

    out = {
        "accuracy": float((gold == predicted).mean()) if len(gold) else float("nan"),
        "macro_f1": float(f1_score(gold, predicted, labels=list(range(n_classes)), average="macro",
                                   zero_division=0)),
    }
    if positive is not None:
        out["f1_positive"] = float(f1_score(gold, predicted, labels=[positive], average="macro", zero_division=0))
    return out


def loglik_scores(gold: list[str], logliks: list[dict[str, float]]) -> dict[str, float]:
    """A label-word task scored by ranking its labels' log-likelihood after the prompt (no generation):
    `loglik_accuracy`, `loglik_macro_f1`.

    Args:
        gold: The gold label of each item.
        logliks: Per item, label -> log-likelihood of its answer word.
    """
    labels = list(logliks[0])
    index = {label: i for i, label in enumerate(labels)}
    predicted = np.array([int(np.argmax([row[label] for label in labels])) for row in logliks])
    truth = np.array([index.get(label, -1) for label in gold])
    return {f"loglik_{name}": value for name, value in classification_metrics(truth, predicted, len(labels)).items()}


_LEADING = {"answer", "label", "output", "relation", "relationship", "prediction", "the", "is", "it", "this",
            "final", "a", "an", "class"}
"""Words a label-word answer may start with before its label ("Answer: Entailment", "The relation is neutral")."""


def parse_label_word(text: str, aliases: dict[str, str], names: tuple[str, ...], stopped: bool = True) -> Parsed:
    """Read an answer that should be one label word: case and punctuation ignored, leading words such as "Answer:"
    or "The relation is" skipped; the next word (or words, for a label of several) must name a label. An answer that
    names another label too ("Entailment or Contradiction") is a `several_labels` failure; words that only an alias
    knows (a verb such as "entails") are not label names.

    Args:
        text: The answer.
        aliases: Lower-case word sequences (space-joined) -> label name, the label names themselves included.
        names: The label names (what a second label is recognised by).
        stopped: Whether generation stopped on its own.
    """
    failures = no_failures(stopped)
    words = re.findall(r"[a-z0-9]+", text.lower())
    if not words:
        failures["empty"] = 1
        return Parsed([""], failures)
    while len(words) > 1 and words[0] in _LEADING:
        words = words[1:]
    label, used = "", 0
    for size in sorted({len(key.split()) for key in aliases}, reverse=True):  # the longest alias first
        key = " ".join(words[:size])
        if key in aliases:
            label, used = aliases[key], size
            break
    failures["unknown_label"] = int(not label)
    rest = " " + " ".join(words[used:]) + " "
    failures["several_labels"] = int(bool(label) and any(f" {name.lower()} " in rest
                                                         for name in names if name != label))
    return Parsed([label], failures)


@dataclass(frozen=True)
class Prompted:
    """An item's input inside an instruction prompt, for analyses `--in-prompt` (probing, attention).

    Attributes:
        ids: Token ids of the whole prompt (instruction, template, input).
        targets: `(start, end, item)` positions pooled into each of the item's vectors.
        items: What identifies each vector in its split: `(row, word)` or `(row, 0)`.
        truncated: Whether the input lost words or tokens to the length limit.
    """

    ids: list[int]
    targets: list[tuple[int, int, int]]
    items: list[tuple[int, int]]
    truncated: int


class Task:
    """What bioprobe knows about one task. A task module subclasses it; the class attributes are its facts, the
    methods its rules. Methods a task cannot serve raise `BioprobeError` with one sentence.

    Attributes:
        name: Command-line and table name ("ner").
        title: How reports and figures name it ("NER").
        help: One line for `--task` help.
        head: The classifier head: "token" (a label per word), "sequence" (one label), "multilabel" (any labels).
        metrics: The classifier's metrics in tidy tables; the first is the one figures and reports show.
        fixed_labels: The label set when the task fixes it (NLI), else None (it comes from the data).
        columns: Schema field -> column names a file may use for it.
        formats: File extension -> reader (`bioprobe.data.READERS`) of the task's split files.
        default_data: The `--data` default (a hub id), or None when the task has no public default.
        poolings: Probing poolings; the first is the default.
        item: What one probe item is ("word", "pair", "sentence", "text"), and its plural for truncation counts.
        generative_metrics: Besides the main metric and parse rate, what the generative-evaluation table shows.
        answer_rule: One sentence for the report: how an instruction answer is read and scored.
        attention_pairs: The attention statistics the task adds (`attention_inputs`' names) with their titles.
        control_keys_text: The control task gives each item text (a word type) a fixed random label (Hewitt &
            Liang); otherwise it shuffles the labels across items.
    """

    name = ""
    title = ""
    help = ""
    head = "sequence"
    metrics: tuple[str, ...] = ()
    fixed_labels: tuple[str, ...] | None = None
    columns: dict[str, tuple[str, ...]] = {}
    formats: dict[str, str] = {}
    default_data: str | None = None
    poolings: tuple[str, ...] = ()
    item = "text"
    items = "texts"
    generative_metrics: tuple[str, ...] = ()
    answer_rule = ""
    attention_pairs: tuple[tuple[str, str], ...] = ()
    control_keys_text = False
    prompt_poolings: tuple[str, ...] = ()
    """Poolings that can read an item inside an instruction prompt (`--in-prompt`)."""
    marks_entities = False
    """Whether items mark entities whose markers `--entity-markers tokens` adds to the tokenizer (`added_tokens`)."""

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def default_pooling(self) -> str:
        return self.poolings[0]

    # --- data --------------------------------------------------------------------------------------------------

    def features(self):
        """The `datasets.Features` of the task's schema."""
        raise NotImplementedError

    def default_source(self) -> tuple[str, str | None]:
        """`(data, origin)` when `--data` is not given: a hub id (origin None), or a local folder named by `origin`
        (an environment variable: the folder must exist, it is never read as a hub id)."""
        if self.default_data is None:
            raise BioprobeError(f"{self.title} has no public default data set; pass --data DIR, a hub id, or demo.")
        return self.default_data, None

    def data_key(self, data: str | None) -> str | None:
        """What `--data` None means for this task, recorded so that a later analysis loads the same data."""
        return data

    def demo(self):
        """The embedded demo corpus for this task as a `datasets.DatasetDict`."""
        raise BioprobeError(f"The demo corpus has no {self.title} data.")

    def standardize(self, split, names: tuple[str, ...] | None, where: str) -> dict[str, list]:
        """A raw split (`bioprobe.data.RawSplit`) as schema columns, every row checked (one sentence naming the row
        and file for a bad one). `names` map integer labels (`--labels`, or the data's ClassLabel names)."""
        raise NotImplementedError

    def hub_names(self, dataset_id: str) -> tuple[str, ...] | None:
        """Label names of a hub data set that stores integer labels without naming them (from its card), or None."""
        return None

    def label_names_from(self) -> tuple[str, ...]:
        """Columns whose ClassLabel names name integer labels."""
        return self.columns.get("label", ())

    def label_set(self, columns: dict[str, dict[str, list]], names: tuple[str, ...] | None) -> tuple[str, ...]:
        """The task's label set from the standardized splits (role -> columns)."""
        return self.fixed_labels

    def check_labels(self, columns: dict[str, dict[str, list]], raw: dict, labels: tuple[str, ...]) -> None:
        """Refuse labels outside the label set, naming the row and file (`raw[role].locate(i)`)."""

    def strata(self, split) -> list | None:
        """What training subsets are stratified by (a value per item), or None."""
        return None

    def describe_item(self, row: dict) -> str:
        """A short text of one item, for error messages and examples."""
        return str(row)[:80]

    # --- classifier fine-tuning --------------------------------------------------------------------------------

    def encode(self, dataset, tokenizer, names: tuple[str, ...], max_length: int, kind: str):
        """Model inputs of a split (`input_ids`, `attention_mask`, `labels`, `length`, and what truncation cut)."""
        raise NotImplementedError

    def added_tokens(self, columns: dict) -> list[str]:
        """The entity markers of the splits' columns, as tokens to add to the tokenizer (`marks_entities`)."""
        return []

    def collator(self, tokenizer):
        """The data collator of the encoded inputs."""
        import transformers

        return transformers.DataCollatorWithPadding(tokenizer)

    def truncation(self, encoded: dict) -> dict[str, int]:
        """What truncation cut, per encoded split (`{"train_pairs": n, ...}`)."""
        return {f"{role}_{self.items}": int(sum(data["truncated"])) if len(data) else 0
                for role, data in encoded.items()}

    def classifier_scores(self, logits, splits: dict, names: tuple[str, ...]) -> tuple[dict, dict]:
        """Test metrics of a classifier, and what the run record keeps of how they were made.

        Args:
            logits: `logits(role) -> (per-item logits, encoded split)` for "test" or "validation" (predicted on
                demand: a task that tunes thresholds reads the validation split too).
            splits: The splits in the task schema (`test` cut to `--test-limit`).
            names: The label names by id.

        Returns:
            `(metrics, record)`.
        """
        scores, encoded = logits("test")
        gold = np.asarray(encoded["labels"][:])
        return classification_metrics(gold, np.stack(scores).argmax(-1), len(names), self.positive(names)), {}

    def positive(self, names: tuple[str, ...]) -> int | None:
        """The positive class of binary data (its F1 is reported), or None."""
        return None

    def outcomes(self, scores: list, encoded: dict, gold: dict, names: tuple[str, ...],
                 evaluation: dict | None = None) -> np.ndarray:
        """What each test item adds to the main metric, so that the metric of any resample of items is a function
        of summed outcomes (`outcome_score`): bootstrap intervals without recomputing predictions.

        Args:
            scores: Per item, the classifier's logits (as `classifier_scores` receives them).
            encoded: The encoded items (`labels`).
            gold: The items in the task schema (column -> list).
            names: The label names by id.
            evaluation: The run record's `evaluation` (CLS: its thresholds).

        Returns:
            `[items, classes, 3]`: per item and class the true positive, false positive and false negative it adds.
        """
        truth = np.asarray(encoded["labels"][:], dtype=int)
        predicted = np.stack(scores).argmax(-1)
        out = np.zeros((len(truth), len(names), 3))
        rows = np.arange(len(truth))
        right = predicted == truth
        np.add.at(out, (rows, predicted, np.where(right, 0, 1)), 1)
        np.add.at(out, (rows[~right], truth[~right], 2), 1)
        return out

    def outcome_score(self, sums: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """The main metric from summed `outcomes` (`[..., classes, 3]`), for every leading index at once; it equals
        `classifier_scores`' value on the same items."""
        tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
        if self.main_metric == "accuracy":
            return tp.sum(-1) / np.maximum((tp + fn).sum(-1), 1)
        f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp, dtype=float), where=(2 * tp + fp + fn) > 0)
        if self.main_metric == "f1_positive":
            return f1[..., self.positive(names)]
        return f1.mean(-1)  # macro_f1: every class, a class never predicted nor present scoring 0 (as sklearn's)

    # --- instructions ------------------------------------------------------------------------------------------

    def build_instructions(self, split, labels: tuple[str, ...], seed: int, split_name: str) -> dict[str, list]:
        """Instruction rows (`instruction`, `input`, `output`, `task`, `entity_type`, `item`) of a data split, in the
        Llama2-MedTuned style, each instruction a seeded paraphrase."""
        raise NotImplementedError

    def instructions_how(self, labels: tuple[str, ...]) -> str:
        return f"one instruction per {self.item}"

    def instruction_types(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The types an instruction may name (NER: the entity types; what an instruction run records as labels)."""
        return ()

    def shows_answer(self, input: str, output: str) -> bool:
        """Whether an instruction's answer has this task's shape beyond doubt (how a mixed set's rows are sorted)."""
        return False

    def asks(self, instruction: str) -> bool:
        """Whether an instruction's text asks for this task (used where the answer and the columns cannot tell)."""
        return False

    def named_by(self, value: str) -> bool:
        """Whether a task column's value names this task (`NCBI-disease NER`, `MedNLI`)."""
        return False

    def unusable(self, row: dict) -> tuple[str, str] | None:
        """Why an instruction row of this task cannot be trained or scored on: `(kind, detail)` (a
        `bioprobe.instructions.LEFT_OUT` key), or None."""
        if not row["output"].strip():
            return "empty", "the output is empty; every instruction needs its answer"
        return None

    def stratum(self, outputs: list[str]) -> list | None:
        """What instruction training subsets are stratified by, or None."""
        return None

    def analysis_instruction(self, index: int, seed: int, labels: tuple[str, ...] = ()) -> tuple[str, str]:
        """The seeded instruction an analysis puts item `index` in: `(instruction, entity_type)`."""
        raise NotImplementedError

    def example_output(self, row: dict, entity_type: str, labels: tuple[str, ...] = ()) -> str:
        """The gold answer of a data item (the answer its analysis instruction expects; `labels`: the data's)."""
        raise NotImplementedError

    def prompt_input(self, row: dict) -> str:
        """The input part of an item's instruction."""
        raise NotImplementedError

    answer_slack = 4
    """New tokens an answer may take beyond the longest of `cap_answers`."""

    def cap_answers(self, gold) -> list[str]:
        """The answers whose token length, with `answer_slack`, caps a generated answer (the longest well-formed
        answer to the item)."""
        raise NotImplementedError

    def gold(self, output: str, labels: tuple[str, ...] = ()):
        """The gold answer of an instruction in the form `score_answers` takes (`labels`: the run's, see
        `bioprobe.instructions.InstructionData.labels`).

        Raises:
            BioprobeError: for a gold answer the task cannot score.
        """
        raise NotImplementedError

    def parse_answer(self, item: dict, gold, labels: tuple[str, ...] = ()) -> Parsed:
        """Parse one stored generation (`output`, `raw_output`, `flat`, `stopped`)."""
        raise NotImplementedError

    def score_answers(self, items: list[dict], golds: list, parsed: list[Parsed],
                      labels: tuple[str, ...] = ()) -> dict[str, float]:
        """Metrics of the parsed answers over all items (failures count as wrong), with `parse_counts`."""
        raise NotImplementedError

    def answer_words(self, labels: tuple[str, ...] = ()) -> dict[str, str] | None:
        """Label -> the word that answers it, for ranking the answers by log-likelihood (None: no such ranking)."""
        return None

    def answer_labels(self, outputs: list[str]) -> tuple[str, ...]:
        """What the answers of instruction data read as it is are made of (RE: its label words), or ()."""
        return ()

    def shot_group(self, row: dict) -> str:
        """What a one-shot example must share with its test item (NER: the entity type)."""
        return ""

    # --- probing -----------------------------------------------------------------------------------------------

    def check_pooling(self, pooling: str, kind: str, model: str) -> None:
        """Refuse a pooling the task or the model cannot have."""
        if pooling not in self.poolings:
            raise BioprobeError(f"Pooling '{pooling}' does not exist for {self.title}; use one of "
                                f"{', '.join(self.poolings)}.")
        if pooling == "cls" and kind != "encoder":
            raise BioprobeError(f"Pooling 'cls' needs an encoder's [CLS] token, but {model} is a decoder (it reads "
                                "left to right, so its first token has seen nothing); use 'last' or another pooling.")

    def probe_plan(self, columns: dict, tokenizer, pooling: str, kind: str, max_length: int):
        """What to run and pool for probing (`bioprobe.units.Plan`); items `(row, word)` or `(row, 0)`."""
        raise NotImplementedError

    def prompted(self, columns: dict, k: int, tokenizer, pooling: str, room: int, start: int,
                 suffix: int) -> Prompted:
        """Row `k`'s input tokenised apart inside a prompt whose prefix has `start` tokens and whose suffix (after
        the input) `suffix`, the input within `room` tokens; targets are positions in the whole prompt."""
        raise BioprobeError(f"{self.title} items cannot be probed inside a prompt.")

    def prompt_blocks(self, pooling: str) -> int:
        """Column blocks of an item's vector inside a prompt (RE `entities`: 2)."""
        return 1

    def item_labels(self, columns: dict, keys: list[tuple[int, int]]) -> tuple[list[str], list[str]]:
        """Per probe item, its text (what the control task keys on; "" for none) and its gold label."""
        gold = columns["label"]
        return [""] * len(keys), [gold[row] for row, _ in keys]

    def probe_labels(self, gold: np.ndarray, bio: bool) -> np.ndarray:
        """The probe's label per item."""
        if bio:
            raise BioprobeError(f"--bio is an option of NER probing, not {self.title}.")
        return gold

    def probe_groups(self, unit: np.ndarray) -> np.ndarray | None:
        """Bootstrap groups of the test items (items of one group are resampled together), or None."""
        return None

    def multilabel(self) -> bool:
        return self.head == "multilabel"

    # --- attention and attribution -----------------------------------------------------------------------------

    def attention_inputs(self, columns: dict, tokenizer, kind: str, max_length: int):
        """Per item, input ids (and token type ids of pair encoders, else None), encoded as fine-tuning encodes them,
        and how many items were truncated: `(ids, type_ids, truncated, extra)`; `extra` maps a statistic to a pair
        of position masks per item (`{"entity_to_entity": [(from, to), ...]}`) for `pair_mass`."""
        raise NotImplementedError

    def attribution_target(self, row: dict, tokenizer, max_length: int, kind: str):
        """What Integrated Gradients explain for one item of a classifier: `(ids, type_ids, position, segments)`:
        the input, the position whose prediction is explained (None: the sequence head's), and a segment per token
        (`share` reports the share of attribution in segment 1 against segments 0 and 1), or None."""
        raise NotImplementedError

    def prompted_answer(self, row: dict, tokenizer, room: int, entity: str, labels: tuple[str, ...] = ()):
        """What Integrated Gradients explain of an instruction-tuned model's answer to one item: `(input ids within
        room, segments of the input or None, the gold answer so far, {candidate: its text after the answer so far})`;
        the candidate the model ranks highest is explained."""
        raise BioprobeError(f"Integrated Gradients of a {self.title} answer are not defined.")

    per_label: tuple[str, str, str, str] | None = None
    """`(figure name, label title, axis title, metric)` of the figure of a score per label (`metric/<label>` rows of
    the classifier's table), or None."""

    share_name: str | None = None
    """The attribution share the task reports (NLI "hypothesis_share", RE "entity_share": segment 1 against segments
    0 and 1 of `attribution_target`), or None."""
    share_title = ""
    """How tables and axes name the share ("hypothesis share")."""
    share_where = ""
    """What segment 1 is, for captions ("the hypothesis tokens (the rest is on the premise)")."""
