"""Relation extraction: a sentence with its two entities marked (`text`) and the relation between them (`label`, from
the data's label set: binary 0/1 like GAD, or named, multi-class like i2b2-2010's TrIP / TrWP / ...); a sequence-
classification head; accuracy, macro-F1 and, for binary data, the positive class's F1; instructions answered with a
label word; probe items are sentences (default pooling: the two entities' vectors side by side); attention adds the
mass between the two entities; attribution reports the entities' share.

Entities are marked by placeholders that stand for them (BLURB's GAD: `@GENE$`, `@DISEASE$`; any `@NAME$`) or by
inline markers around them (`<e1>...</e1> <e2>...</e2>`, `[E1]...[/E1] [E2]...[/E2]`: `INLINE`). A sentence is read as
words with every marker a word of its own, so its entity spans are word spans, aligned to subwords for every tokenizer
family (`bioprobe.align`).
"""

from __future__ import annotations

import re

import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.tasks.base import (Prompted, Task, classification_metrics, draw, parse_counts, parse_label_word,
                                 tokenized)

PLACEHOLDER = re.compile(r"@[A-Za-z][A-Za-z0-9_\-]*\$")
"""An entity placeholder (the entity's text replaced by its type: `@GENE$`, `@DISEASE$`, `@problem$`)."""
INLINE = ((("<e1>", "</e1>"), ("<e2>", "</e2>")), (("[E1]", "[/E1]"), ("[E2]", "[/E2]")))
"""Inline marker styles: per style, the opening and closing marker of entity 1 and of entity 2."""
_MARKERS = re.compile("(" + "|".join(re.escape(m) for style in INLINE for pair in style for m in pair) +
                      "|" + PLACEHOLDER.pattern + ")")
BINARY_WORDS = {"1": "Positive", "0": "Negative", "true": "Positive", "false": "Negative", "yes": "Positive",
                "no": "Negative", "positive": "Positive", "negative": "Negative"}
"""The answer word of a binary label (GAD's 1 / 0: Positive / Negative, as in Llama2-MedTuned)."""
INSTRUCTIONS = (
    "Decide how the two marked entities in the sentence are related. Answer with one label: {labels}.",
    "Relation extraction: read the sentence and classify the relation between the two marked entities as one of "
    "{labels}.",
    "What relation does the text state between the entities it marks? Reply with {labels}.",
    "Classify the relationship between the first and the second marked entity. Give only the label ({labels}).",
    "Your task is to identify the relation expressed between the two highlighted entities. Choose from: {labels}.",
)
"""Paraphrases, one drawn per item with the seed; each lists the label words."""
HUB_DEFAULT = "bigbio/gad:gad_blurb_bigbio_text"
_RE_TEXT = re.compile(r"\brelation|\bassociation|\brelated\b")
_NOT_RE = re.compile(r"entail|contradict|named entit")


def read_blurb_tsv(path):
    """A TSV split file of the BLURB / BioBERT RE layout: `sentence<TAB>label` or `index<TAB>sentence<TAB>label`,
    with a header row (test files) or without one (train and dev files); no quoting (sentences keep their quotes).

    Returns:
        The raw split (`bioprobe.data.RawSplit`) with `text` and `label`.
    """
    from bioprobe.data import RawSplit, read_text, row_locator

    rows, numbers, header = [], [], None
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if header is None and not rows and {f.lower() for f in fields} & {"sentence", "text", "label"}:
            header = [f.lower() for f in fields]
            continue
        if header is not None:
            if len(fields) != len(header):
                raise BioprobeError(f"{path} line {number}: found {len(fields)} columns, but the header has "
                                    f"{len(header)}.")
            row = dict(zip(header, fields))
        elif len(fields) in (2, 3):
            row = {"text": fields[-2], "label": fields[-1]}
        else:
            raise BioprobeError(f"{path} line {number}: found {len(fields)} columns; a BLURB relation file has "
                                "sentence and label (after an optional index).")
        rows.append(row)
        numbers.append(number)
    return RawSplit(rows, None, row_locator(str(path), "line", numbers), str(path))


read_blurb_tsv.format_name = "blurb tsv"


def words_of(text: str) -> list[str]:
    """The sentence as words, every entity marker a word of its own (`<e1>aspirin</e1>` -> `<e1> aspirin </e1>`)."""
    return _MARKERS.sub(r" \1 ", text).split()


def entity_spans(words: list[str]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The word spans `[start, end)` of entity 1 and entity 2: two placeholders (in order), or the words from each
    entity's opening to its closing inline marker, markers included; None when the sentence does not mark both."""
    holders = [i for i, word in enumerate(words) if PLACEHOLDER.fullmatch(word)]
    for style in INLINE:
        spans = []
        for opening, closing in style:
            if opening in words and closing in words[words.index(opening):]:
                start = words.index(opening)
                spans.append((start, words.index(closing, start) + 1))
        if len(spans) == 2:
            return spans[0], spans[1]
    if len(holders) >= 2:
        return (holders[0], holders[0] + 1), (holders[1], holders[1] + 1)
    return None


def markers(words: list[str]) -> list[str]:
    """The marker words of a sentence (placeholders and inline markers), in order."""
    return [word for word in words if _MARKERS.fullmatch(word)]


def listing(labels: tuple[str, ...]) -> str:
    """The label words an instruction offers: "Positive or Negative", "TrIP, TrWP or TrCP"."""
    words = [answer_word(label, labels) for label in labels] or ["Positive", "Negative"]
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def answer_word(label: str, labels: tuple[str, ...]) -> str:
    """The word that answers `label`: Positive / Negative for a binary label set of 0/1 (true/false, yes/no), else
    the label itself."""
    return BINARY_WORDS[label.lower()] if _binary(labels) else label


def _binary(labels: tuple[str, ...]) -> bool:
    return len(labels) == 2 and all(label.lower() in BINARY_WORDS for label in labels) and \
        {BINARY_WORDS[label.lower()] for label in labels} == {"Positive", "Negative"}


def encode_sentences(dataset, tokenizer, labels: tuple[str, ...], max_length: int, kind: str | None = None):
    """Tokenize marked sentences for sequence classification, word by word (`bioprobe.align.encode_words`), the
    markers kept as text (or as the tokens a tokenizer has been given for them).

    Returns:
        A `datasets.Dataset` with `input_ids`, `attention_mask`, `labels`, `length` and `truncated` (a word cut by
        `max_length`).
    """
    from bioprobe.align import encode_words

    label_id = {label: i for i, label in enumerate(labels)}

    def batch(examples):
        out = {"input_ids": [], "attention_mask": [], "labels": [], "length": [], "truncated": []}
        for text, label in zip(examples["text"], examples["label"]):
            encoding = encode_words(tokenizer, words_of(text), max_length=max_length)
            out["input_ids"].append(encoding.input_ids)
            out["attention_mask"].append([1] * len(encoding.input_ids))
            out["labels"].append(label_id[label])
            out["length"].append(len(encoding.input_ids))
            out["truncated"].append(encoding.n_truncated_words > 0)
        return out

    return tokenized(dataset, batch, "Tokenizing RE")


def token_spans(encoding, spans) -> list[list[int]]:
    """The token spans of the two entities' word spans in a word encoding (`[-1, -1]` for an entity truncation
    cut)."""
    out = []
    for start, end in spans:
        pieces = [encoding.spans[w] for w in range(start, end)]
        out.append([pieces[0][0], pieces[-1][1]] if all(p is not None for p in pieces) else [-1, -1])
    return out


def entity_segments(encoding, spans, outside_words: int = -1) -> np.ndarray:
    """Per token of a word encoding: 1 on the two entity mentions (markers included), 0 on the other words,
    `outside_words` on tokens of no word (the special tokens)."""
    segments = np.full(len(encoding.input_ids), outside_words)
    for w, span in enumerate(encoding.spans):
        if span is not None:
            segments[span[0]:span[1]] = 1 if any(a <= w < b for a, b in spans) else 0
    return segments


class RE(Task):
    name = "re"
    title = "RE"
    help = "relation extraction (sentences with two marked entities; instruct: a label word)"
    head = "sequence"
    metrics = ("macro_f1", "accuracy", "f1_positive")
    columns = {"text": ("text", "sentence", "sentence1"), "label": ("label", "relation", "labels", "gold_label")}
    formats = {".tsv": read_blurb_tsv, ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
    default_data = HUB_DEFAULT
    poolings = ("entities", "mean", "cls", "last")
    prompt_poolings = ("entities", "mean", "last")
    item, items = "sentence", "sentences"
    marks_entities = True
    generative_metrics = ("loglik_accuracy",)
    attention_pairs = (("e1_to_e2", "entity 1 -> 2 mass"), ("e2_to_e1", "entity 2 -> 1 mass"))
    answer_rule = ("RE answers are a label word (Positive / Negative for a binary relation), scored and ranked by "
                   "log-likelihood like NLI.")
    share_name = "entity_share"
    share_title = "entity share"
    share_where = "the two entity mentions, their markers included (the rest is on the other words)"

    # --- data ---

    def features(self):
        import datasets

        return datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string")})

    def demo(self):
        from bioprobe.demo_corpus import demo_re

        return demo_re()

    def standardize(self, split, names, where=None) -> dict[str, list]:
        """Map rows to `text` (both entities marked) and `label` (a string; integer ids named by `names`, a
        one-element list taken as its element, as BigBio's text schema gives it)."""
        from bioprobe.schema import field_value, id_name, integer_id, text_value

        columns: dict[str, list] = {"text": [], "label": []}
        for i, row in enumerate(split.rows):
            where = split.locate(i)
            text = text_value(row, "text", self.columns["text"], where)
            if entity_spans(words_of(text)) is None:
                raise BioprobeError(f"{where}: the sentence does not mark both entities (two placeholders such as "
                                    "@GENE$ and @DISEASE$, or <e1>...</e1> and <e2>...</e2>, or [E1]...[/E1] and "
                                    "[E2]...[/E2]).")
            column, value = field_value(row, "label", self.columns["label"], where)
            if isinstance(value, (list, tuple, np.ndarray)):
                if len(value) != 1:
                    raise BioprobeError(f"{where}: the {column} value {list(value)!r} is not one label; relation "
                                        "extraction gives each sentence one.")
                value = list(value)[0]
            index = integer_id(value)
            if index is not None and names is not None:
                value = id_name(value, index, names, "label", "0,1", where)
            elif index is not None:
                value = str(index)
            if not isinstance(value, str) or not value.strip():
                raise BioprobeError(f"{where}: the {column} value {value!r} is not a label.")
            columns["text"].append(text)
            columns["label"].append(value.strip())
        return columns

    def label_set(self, columns, names) -> tuple[str, ...]:
        """`--labels` when given, else the labels of the training and validation splits (sorted); a test label
        outside them is refused (`check_labels`): no run could learn it."""
        if names:
            return tuple(names)
        found = sorted({label for role in ("train", "validation") for label in columns.get(role, {}).get("label", [])})
        if not found:
            raise BioprobeError("The training split has no labels; relation extraction needs a label set.")
        return tuple(found)

    def check_labels(self, columns, raw, labels):
        """Every label is in the label set (a validation or test label the training split never has is refused)."""
        allowed = set(labels)
        for role, split in columns.items():
            for i, label in enumerate(split["label"]):
                if label not in allowed:
                    raise BioprobeError(f"{raw[role].locate(i)}: label {label!r} is outside the label set "
                                        f"({', '.join(labels)}); pass --labels with every label, or fix the data.")

    def strata(self, split):
        return split["label"][:]

    def describe_item(self, row):
        return row["text"]

    def positive(self, names):
        """The positive class of binary data: the label answered by Positive (1, true, yes)."""
        if not _binary(tuple(names)):
            return None
        return next(i for i, label in enumerate(names) if BINARY_WORDS[label.lower()] == "Positive")

    # --- classifier ---

    def encode(self, dataset, tokenizer, names, max_length, kind):
        return encode_sentences(dataset, tokenizer, names, max_length, kind)

    def added_tokens(self, columns: dict) -> list[str]:
        """The markers a run with `--entity-markers tokens` adds to the tokenizer: those of every split it is given, so
        that none is split into subwords at test time."""
        return sorted({m for text in columns["text"] for m in markers(words_of(text))})

    # --- instructions ---

    def build_instructions(self, split, labels, seed, split_name):
        """One instruction per sentence, answered by its label word (`answer_word`); the instruction lists the
        label words."""
        from bioprobe.instructions import COLUMNS

        offered = listing(labels)
        columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
        for index, (text, label) in enumerate(zip(split["text"][:], split["label"][:])):
            columns["instruction"].append(INSTRUCTIONS[draw(seed, split_name, index, n=len(INSTRUCTIONS))]
                                          .format(labels=offered))
            columns["input"].append(" ".join(words_of(text)))
            columns["output"].append(answer_word(label, labels))
            columns["task"].append(self.name)
            columns["entity_type"].append("")
            columns["item"].append(index)
        return columns

    def instructions_how(self, labels) -> str:
        return f"one instruction per sentence, answered by {', '.join(answer_word(x, labels) for x in labels)}"

    def instruction_types(self, labels):
        """The label words the answers are made of."""
        return tuple(answer_word(label, labels) for label in labels)

    def shows_answer(self, input: str, output: str) -> bool:
        """The input marks both entities and the answer is one short label (at most three words, one line)."""
        answer = output.strip()
        return bool(answer) and "\n" not in answer and len(answer.split()) <= 3 and "," not in answer \
            and entity_spans(words_of(input)) is not None

    def asks(self, instruction: str) -> bool:
        """It mentions a relation or association (and neither entailment nor named entities)."""
        text = instruction.lower()
        return _RE_TEXT.search(text) is not None and _NOT_RE.search(text) is None

    def named_by(self, value: str) -> bool:
        return re.search(r"\bre\b|relation|\bgad\b|i2b2-2010|chemprot|\bddi\b", value.lower()) is not None

    def unusable(self, row: dict):
        problem = super().unusable(row)
        if problem is None and entity_spans(words_of(row["input"])) is None:
            return "no_entities", "the input does not mark both entities"
        return problem

    def answer_labels(self, outputs):
        """The label words of instruction data read as it is: every answer seen, in order of first sight."""
        return tuple(dict.fromkeys(output.strip() for output in outputs))

    def stratum(self, outputs):
        return [output.strip().lower() for output in outputs]

    def analysis_instruction(self, index, seed, labels=()):
        return INSTRUCTIONS[draw(seed, "analysis", index, n=len(INSTRUCTIONS))].format(labels=listing(labels)), ""

    def example_output(self, row, entity_type, labels=()):
        return answer_word(row["label"], labels)

    def prompt_input(self, row):
        return " ".join(words_of(row["text"]))

    def cap_answers(self, gold):
        return [gold] if gold else ["Negative"]

    def _aliases(self, labels: tuple[str, ...]) -> dict[str, str]:
        words = {label.lower(): label for label in labels}
        if set(labels) <= {"Positive", "Negative"}:
            words.update({"yes": "Positive", "no": "Negative", "true": "Positive", "false": "Negative",
                          "1": "Positive", "0": "Negative"})
        return words

    def gold(self, output, labels=()):
        parsed = parse_label_word(output, self._aliases(labels), labels)
        if not parsed.ok:
            raise BioprobeError(f"The gold answer {output!r} is not one of the run's label words "
                                f"({', '.join(labels)}).")
        return parsed.labels[0]

    def parse_answer(self, item, gold, labels=()):
        return parse_label_word(item["output"], self._aliases(labels), labels, item["stopped"])

    def score_answers(self, items, golds, parsed, labels=()):
        """`accuracy`, `macro_f1` (and `f1_positive` for Positive / Negative) over all items; a failure is wrong."""
        index = {label: i for i, label in enumerate(labels)}
        truth = np.array([index[label] for label in golds])
        predicted = np.array([index[p.labels[0]] if p.ok else -1 for p in parsed])
        positive = index.get("Positive") if set(labels) == {"Positive", "Negative"} else None
        return {**classification_metrics(truth, predicted, len(labels), positive), **parse_counts(parsed)}

    def answer_words(self, labels=()):
        return {label: label for label in labels} if labels else None

    # --- probing ---

    def probe_plan(self, columns, tokenizer, pooling, kind, max_length):
        """Sentence vectors: `entities` the two entities' mean vectors side by side (the standard RE probe), `mean`
        over the sentence, `cls` (encoders) or `last`. Items are `(sentence, 0)`; a sentence whose entity was cut by
        `max_length` is left out (`entities`) and counted."""
        from bioprobe.align import encode_words
        from bioprobe.units import Plan, Unit, longest_first

        units, cut = [], 0
        for index, text in enumerate(columns["text"]):
            words = words_of(text)
            encoding = encode_words(tokenizer, words, max_length=max_length)
            cut += encoding.n_truncated_words > 0
            ids, n = encoding.input_ids, len(encoding.input_ids)
            if pooling == "entities":
                first, second = token_spans(encoding, entity_spans(words))
                if first[0] < 0 or second[0] < 0:
                    continue
                units.append(Unit([ids], None, [[(*first, 0, 0), (*second, 0, 1)]], [(index, 0)]))
            else:
                span = {"mean": (0, n), "cls": (0, 1), "last": (n - 1, n)}[pooling]
                units.append(Unit([ids], None, [[(*span, 0)]], [(index, 0)]))
        reduce = {"entities": "mean", "mean": "mean", "cls": "first", "last": "last"}[pooling]
        return Plan(longest_first(units), reduce, blocks=2 if pooling == "entities" else 1, n_truncated=cut)

    def prompted(self, columns, k, tokenizer, pooling, room, start, suffix):
        from bioprobe.align import encode_words

        words = words_of(columns["text"][k])
        encoding = encode_words(tokenizer, words, max_length=room, add_special_tokens=False)
        ids = encoding.input_ids
        end = start + len(ids) + suffix
        truncated = int(encoding.n_truncated_words > 0)
        if pooling != "entities":
            target = (start, start + len(ids), 0) if pooling == "mean" else (end - 1, end, 0)
            return Prompted(ids, [target], [(k, 0)], truncated)
        spans = token_spans(encoding, entity_spans(words))
        if any(a < 0 for a, _ in spans):  # an entity cut: the sentence is left out, as in `probe_plan`
            return Prompted(ids, [], [], truncated)
        return Prompted(ids, [(start + a, start + b, 0, block) for block, (a, b) in enumerate(spans)], [(k, 0)],
                        truncated)

    def prompt_blocks(self, pooling: str) -> int:
        return 2 if pooling == "entities" else 1

    # --- attention and attribution ---

    def attention_inputs(self, columns, tokenizer, kind, max_length):
        """The sentences as fine-tuning encodes them, and each one's token masks of entity 1 and entity 2 (for the
        attention mass between them: `e1_to_e2`, `e2_to_e1`)."""
        from bioprobe.align import encode_words

        ids, pairs, cut = [], [], 0
        for text in columns["text"]:
            words = words_of(text)
            encoding = encode_words(tokenizer, words, max_length=max_length)
            ids.append(encoding.input_ids)
            cut += encoding.n_truncated_words > 0
            masks = []
            for a, b in token_spans(encoding, entity_spans(words)):
                mask = np.zeros(len(encoding.input_ids), dtype=bool)
                if a >= 0:
                    mask[a:b] = True
                masks.append(mask)
            pairs.append(tuple(masks))
        return ids, None, cut, {"e1_to_e2": pairs, "e2_to_e1": [(b, a) for a, b in pairs]}

    def attribution_target(self, row, tokenizer, max_length, kind):
        """The sentence's predicted relation; segments 1 on the entity mentions (markers included), 0 on the rest of
        the sentence, -1 on special tokens."""
        from bioprobe.align import encode_words

        words = words_of(row["text"])
        encoding = encode_words(tokenizer, words, max_length=max_length)
        return encoding.input_ids, None, None, entity_segments(encoding, entity_spans(words))

    def prompted_answer(self, row, tokenizer, room, entity, labels=()):
        from bioprobe.align import encode_words

        words = words_of(row["text"])
        encoding = encode_words(tokenizer, words, max_length=room, add_special_tokens=False)
        segments = entity_segments(encoding, entity_spans(words), outside_words=0)
        choices = {label: answer_word(label, labels) for label in labels}
        return encoding.input_ids, segments, "", choices


TASK = RE()
