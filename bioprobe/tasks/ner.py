"""Named-entity recognition: words with IOB2 tags (`tokens`, `tags`); a token-classification head with the label on
each word's first subword; entity-level F1 (strict IOB2); instructions answered with one `word : B|I|O` line per word
for one entity type; probe items are words; attribution explains the first entity word's tag."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.tasks.base import Parsed, Prompted, Task, draw, no_failures, parse_counts, squeeze, tokenized

SEPARATOR = " : "
"""Between a word and its label on an answer line (lines are split on its last occurrence)."""
NER_LABEL = re.compile(r"[BI](-\S.*)?|O")
"""An answer line's label: B, I or O, typed (`B-Disease`) or not."""
INSTRUCTIONS = (
    "Tag every word of the text with the BIO scheme for {entity} entities: B for the first word of a {entity} "
    "mention, I for each word that continues it, O for every other word. Answer with one line per word, word : label.",
    "In the sentence below, find the {entity} named entities. Label each word B (beginning of a {entity} mention), "
    "I (inside one) or O (outside), one 'word : label' line per word, in order.",
    "Your task is named entity recognition of {entity} mentions. For every word of the input, in order, write the "
    "word, ' : ' and its BIO label (B, I or O).",
    "Mark the {entity} entities in this biomedical text with BIO labels. Write each word on its own line followed by "
    "' : ' and B, I or O.",
    "Identify the {entity} named entities in the following text. Output one line per input word in the form "
    "'word : B', 'word : I' or 'word : O'.",
)
"""Paraphrases, one drawn per item with the seed, so a model cannot key on one wording; each names the type and the
BIO scheme."""
KNOWN_TAG_NAMES = {
    "tner/bionlp2004": ("O", "B-DNA", "I-DNA", "B-protein", "I-protein", "B-cell_type", "I-cell_type",
                        "B-cell_line", "I-cell_line", "B-RNA", "I-RNA"),
}
"""Hub datasets that store integer tags without ClassLabel names; the ids come from their dataset cards."""
SLACK = 8
"""New tokens allowed beyond the expected answer's length (every word labelled O)."""
_IOB2_RULE = "tags must be IOB2 (BIO) with an entity type such as B-Disease, I-Disease or O"
_NER_TEXT = re.compile(r"named entit|entity recognition")
_BIO_TEXT = re.compile(r"\bbio\b|\(begin|\bb-|\biob")


# --- the answer format -------------------------------------------------------------------------------------------


def output_lines(output: str) -> list[tuple[str, str | None]]:
    """An NER answer's non-empty lines as `(word, label)`, each split on its last `SEPARATOR` (a line ending in
    " :" has label ""; one without a separator has label None)."""
    lines = []
    for line in output.strip().split("\n"):
        text = line.rstrip()
        if not text.strip():
            continue
        word, separator, label = text.rpartition(SEPARATOR)
        if separator:
            lines.append((word.strip(), label.strip()))
        elif text.endswith(SEPARATOR.rstrip()):
            lines.append((text[: -len(SEPARATOR.rstrip())].strip(), ""))
        else:
            lines.append((text.strip(), None))
    return lines


def answer(words: list[str], tags: list[str], entity_type: str) -> str:
    """The Llama2-MedTuned NER answer: `word : B|I|O` per word, B/I for mentions of `entity_type` only.

    Args:
        words: The sentence's words.
        tags: Their IOB2 tags with types (`B-Disease`, `I-Disease`, `O`).
        entity_type: The type the instruction asks for.
    """
    labels = [tag[0] if tag != "O" and tag[2:] == entity_type else "O" for tag in tags]
    return "\n".join(f"{word}{SEPARATOR}{label}" for word, label in zip(words, labels))


def entity_types(labels: tuple[str, ...]) -> tuple[str, ...]:
    """Entity types of a tag set (`O, B-Chemical, I-Chemical, ...` -> `Chemical, ...`), in order."""
    return tuple(dict.fromkeys(tag[2:] for tag in labels if tag != "O"))


def flat_lines(text: str) -> list[tuple[str, str | None]]:
    """An answer written on one line (`w1 : B w2 : O ...`, as a tokenizer without newlines writes the line-per-word
    answer) as `(word, label)` entries: an entry ends at a `:` token followed by a label token; its word is
    everything since the previous entry (a word may be `:` itself or be spaced by the tokenizer: "b 's"). Trailing
    text without a label is one more entry with label None."""
    tokens = text.split()
    entries, start, k = [], 0, 0
    while k < len(tokens) - 1:
        if tokens[k] == SEPARATOR.strip() and k > start and NER_LABEL.fullmatch(tokens[k + 1]):
            entries.append((" ".join(tokens[start:k]), tokens[k + 1]))
            start = k = k + 2
        else:
            k += 1
    if start < len(tokens):
        entries.append((" ".join(tokens[start:]), None))
    return entries


def align_lines(said: list[str], words: list[str]) -> list[int | None]:
    """A monotone alignment of answer lines to input words on their text (whitespace ignored): the longest common
    subsequence, so a skipped or inserted word shifts nothing after it.

    Returns:
        For each input word, the index of the answer line aligned to it, or None.
    """
    a, b = [squeeze(w) for w in said], [squeeze(w) for w in words]
    n, m = len(a), len(b)
    table = np.zeros((n + 1, m + 1), dtype=np.int32)
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i, j] = table[i + 1, j + 1] + 1 if a[i] == b[j] else max(table[i + 1, j], table[i, j + 1])
    out: list[int | None] = [None] * m
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            out[j] = i
            i, j = i + 1, j + 1
        elif table[i + 1, j] >= table[i, j + 1]:
            i += 1
        else:
            j += 1
    return out


def parse(text: str, words: list[str], stopped: bool = True, flat: bool = False) -> Parsed:
    """Read an NER answer by position: line i is word i (its word compared with the input word up to whitespace).

    Args:
        text: The generated answer (`bioprobe.finetune.decode.answer_text`: no detokeniser clean-up).
        words: The gold words (the input's words).
        stopped: Whether generation stopped on its own.
        flat: The tokenizer cannot write newlines (BioGPT): entries follow each other on one line (`flat_lines`).

    Returns:
        Labels for every gold word, the failures found, and the labels of the aligned reading.
    """
    lines = flat_lines(text) if flat else output_lines(text)
    failures = no_failures(stopped)
    failures["empty"] = int(not text.strip())
    labels = []
    for i, word in enumerate(words):
        if i >= len(lines):
            failures["missing_lines"] += 1
            labels.append("O")
            continue
        said, label = lines[i]
        if squeeze(said) != squeeze(word):
            failures["word_mismatch"] += 1
        if label is None or not NER_LABEL.fullmatch(label):
            failures["unknown_label"] += 1
            label = "O"
        labels.append(label)
    failures["extra_lines"] = max(0, len(lines) - len(words))
    if failures["empty"]:
        failures["missing_lines"] = 0  # one failure, not one per word
    aligned = []
    for line in align_lines([said for said, _ in lines], words):
        label = lines[line][1] if line is not None else None
        aligned.append(label if label is not None and NER_LABEL.fullmatch(label) else "O")
    return Parsed(labels, failures, aligned)


def typed(labels: list[str], entity_type: str) -> list[str]:
    """B / I / O labels as IOB2 tags of `entity_type` (already typed labels are kept)."""
    kind = entity_type or "ENT"
    return [label if label == "O" or "-" in label else f"{label}-{kind}" for label in labels]


def _entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """The entities of one IOB2 tag sequence as `(type, start, end)`, read as seqeval's strict IOB2 mode reads them
    (an I- that does not continue a B- of its type starts no entity)."""
    from seqeval.scheme import IOB2, Tokens

    return {(e.tag, e.start, e.end) for e in Tokens(tags, scheme=IOB2).entities}


def entity_scores(gold: list[list[str]], predicted: list[list[str] | None], types: list[str]) -> dict[str, float]:
    """Entity-level micro precision, recall and F1 (strict IOB2, the same counts as seqeval's) and F1 per gold type.

    Args:
        gold: Gold IOB2 tags per item (typed, `B-Disease`).
        predicted: Predicted IOB2 tags per item, or None for an answer that failed to parse.
        types: The entity type each item asks for (where a failed item's false positives are counted).

    Returns:
        `{"precision", "recall", "f1", "f1/<type>" ...}` (per type only for types with gold entities).

    A failed answer counts every gold entity of its item as missed and one false positive per input word, the most
    entities any well-formed answer can predict: so it never scores better than any well-formed answer to the same
    item (where the gold has no entity, an all-O answer would otherwise be perfect).
    """
    right, found, wanted = Counter(), Counter(), Counter()
    for tags, guess, kind in zip(gold, predicted, types):
        truth = _entities(tags)
        wanted.update(e[0] for e in truth)
        if guess is None:
            found[kind] += len(tags)
            continue
        said = _entities(guess)
        found.update(e[0] for e in said)
        right.update(e[0] for e in said & truth)

    def prf(tp: int, n_found: int, n_wanted: int) -> tuple[float, float, float]:
        precision = tp / n_found if n_found else 0.0
        recall = tp / n_wanted if n_wanted else 0.0
        return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    precision, recall, f1 = prf(sum(right.values()), sum(found.values()), sum(wanted.values()))
    out = {"precision": precision, "recall": recall, "f1": f1}
    for kind in sorted(wanted):
        out[f"f1/{kind}"] = prf(right[kind], found[kind], wanted[kind])[2]
    return out


def answer_scores(gold: list[list[str]], parsed: list[Parsed], entity_types: list[str]) -> dict[str, float]:
    """Entity-level scores of generated answers over all items.

    Args:
        gold: Gold labels per item (B / I / O by position).
        parsed: The parsed answers.
        entity_types: The type each item's instruction names ("" when unknown).

    Returns:
        `precision`, `recall`, `f1` (strict IOB2, micro; a failed answer scored as `entity_scores` says), `f1/<type>`,
        `f1_lenient` (every parsed line counts at its position, failures or not), `f1_aligned` (every answer line
        counts at the input word it aligns to by its text, `align_lines`: a skipped or inserted word costs its own
        label only), `parse_rate`, `failures/<kind>` (items with that failure).
    """
    gold_tags = [typed(g, t) for g, t in zip(gold, entity_types)]
    kinds = [entity_type or "ENT" for entity_type in entity_types]
    strict = [typed(p.labels, t) if p.ok else None for p, t in zip(parsed, entity_types)]
    metrics = entity_scores(gold_tags, strict, kinds)
    metrics["f1_lenient"] = entity_scores(gold_tags, [typed(p.labels, t) for p, t in zip(parsed, entity_types)],
                                          kinds)["f1"]
    metrics["f1_aligned"] = entity_scores(gold_tags, [typed(p.aligned, t) for p, t in zip(parsed, entity_types)],
                                          kinds)["f1"]
    return {**metrics, **parse_counts(parsed)}


def tag_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 (seqeval, strict IOB2) and F1 per entity type of a classifier.

    Returns:
        `{"precision", "recall", "f1", "f1/<type>" ...}`.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    out = {
        "precision": float(report["micro avg"]["precision"]),
        "recall": float(report["micro avg"]["recall"]),
        "f1": float(report["micro avg"]["f1-score"]),
    }
    for name, scores in report.items():
        if name not in ("micro avg", "macro avg", "weighted avg") and scores["support"] > 0:
            out[f"f1/{name}"] = float(scores["f1-score"])
    return out


def word_predictions(logits: list[np.ndarray], labels: list[list[int]], gold_tags: list[list[str]],
                     names: tuple[str, ...]) -> list[list[str]]:
    """Predicted tag per word, read at each word's first subword.

    Args:
        logits: Per sentence `[positions, classes]`.
        labels: Per sentence, gold ids at first subwords and -100 elsewhere (as `NER.encode` makes them).
        gold_tags: Gold tags per sentence (all words, including any cut by truncation).
        names: Tag names by id.

    Returns:
        Predicted tags with the same shape as `gold_tags`; words cut by truncation are predicted "O".
    """
    from bioprobe.units import IGNORE

    predicted = []
    for row_logits, row_labels, gold in zip(logits, labels, gold_tags):
        positions = np.flatnonzero(np.asarray(row_labels) != IGNORE)
        tags = [names[i] for i in row_logits[positions].argmax(-1)]
        predicted.append(tags + ["O"] * (len(gold) - len(tags)))
    return predicted


def check_iob2(tags: list[str], locate, row: int) -> None:
    """Raise BioprobeError at the first tag that breaks IOB2: O, B-TYPE, or I-TYPE continuing TYPE."""
    previous = "O"
    for j, tag in enumerate(tags):
        if tag != "O":
            prefix, dash, kind = tag.partition("-")
            if prefix not in ("B", "I") or not dash or not kind:
                hint = " (BIOES/BILOU tags must be converted)" if dash and prefix in ("E", "S", "L", "U") else ""
                raise BioprobeError(f"{locate(row, j)}: tag {tag!r} is not allowed because {_IOB2_RULE}{hint}.")
            if prefix == "I" and previous[2:] != kind:
                raise BioprobeError(
                    f"{locate(row, j)}: tag {tag!r} follows {previous!r}, but {_IOB2_RULE}, where an I- tag "
                    "continues a B- or I- tag of the same type (IOB1 tags must be converted)."
                )
        previous = tag


def label_set(tags) -> tuple[str, ...]:
    """The tag set sorted as `O` first, then by entity type, `B-` before `I-`."""
    return tuple(sorted(set(tags) | {"O"}, key=lambda tag: ("",) if tag == "O" else (tag[2:], tag[:1])))


class NER(Task):
    name = "ner"
    title = "NER"
    help = "Biomedical NER (token classification; instruct: word : B|I|O lines)"
    head = "token"
    metrics = ("f1", "precision", "recall")
    columns = {"tokens": ("tokens", "words"), "tags": ("tags", "ner_tags", "labels")}
    formats = {".conll": "conll", ".txt": "conll", ".iob": "conll", ".bio": "conll", ".tsv": "conll",
               ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
    default_data = "tner/bionlp2004"
    poolings = ("first", "mean", "last")
    prompt_poolings = ("first", "mean", "last")
    item, items = "word", "words"
    generative_metrics = ("f1_lenient", "f1_aligned")
    answer_rule = ("NER answers are read by position (line i is word i) and scored with seqeval over whole sentences "
                   "(aligned F1: each line matched to a word by its text).")
    control_keys_text = True
    per_label = ("finetune_entity_types", "entity type", "entity F1 (test)", "f1")

    # --- data ---

    def features(self):
        import datasets

        # Sequence (not List) keeps datasets 3.x working; it becomes List in 4.x+
        return datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.Value("string"))})

    def demo(self):
        from bioprobe.demo_corpus import demo_ner

        return demo_ner()

    def label_names_from(self) -> tuple[str, ...]:
        return self.columns["tags"]

    def hub_names(self, dataset_id: str) -> tuple[str, ...] | None:
        return KNOWN_TAG_NAMES.get(dataset_id)

    def standardize(self, split, names, where=None) -> dict[str, list]:
        """Map rows to `tokens` / `tags` string lists, checking lengths and the IOB2 scheme."""
        from bioprobe.schema import id_name, integer_id, list_value

        all_tokens, all_tags = [], []
        for i, row in enumerate(split.rows):
            where = split.locate(i)
            tokens = list_value(row, "tokens", self.columns["tokens"], where)
            raw_tags = list_value(row, "tags", self.columns["tags"], where)
            if len(tokens) != len(raw_tags):
                raise BioprobeError(f"{where}: {len(tokens)} tokens but {len(raw_tags)} tags; every token needs one "
                                    "tag.")
            if not tokens:
                raise BioprobeError(f"{where}: the sentence has no tokens.")
            for j, token in enumerate(tokens):
                if not isinstance(token, str):
                    raise BioprobeError(f"{split.locate(i, j)}: token {token!r} is not a string.")
            tags = []
            for j, tag in enumerate(raw_tags):
                index = integer_id(tag)
                if index is not None:
                    tag = id_name(tag, index, names, "tag", "O,B-Disease,I-Disease", split.locate(i, j))
                elif not isinstance(tag, str):
                    raise BioprobeError(f"{split.locate(i, j)}: tag {tag!r} is neither a string nor an integer id.")
                tags.append(tag)
            check_iob2(tags, split.locate, i)
            all_tokens.append(list(tokens))
            all_tags.append(tags)
        return {"tokens": all_tokens, "tags": all_tags}

    def label_set(self, columns, names) -> tuple[str, ...]:
        return label_set(tag for split in columns.values() for tags in split["tags"] for tag in tags)

    def describe_item(self, row: dict) -> str:
        return " ".join(row["tokens"])

    # --- classifier ---

    def encode(self, dataset, tokenizer, names, max_length, kind=None):
        """Tokenize sentences; each word's first subword carries its tag id, every other position -100.

        Returns:
            A `datasets.Dataset` with `input_ids`, `attention_mask`, `labels`, `length` and `n_truncated_words`.
        """
        from bioprobe.align import encode_words, first_subword_labels
        from bioprobe.units import IGNORE

        label_id = {label: i for i, label in enumerate(names)}

        def batch(examples):  # a batch of rows as column lists: one Arrow read per batch, not one per sentence
            out = {"input_ids": [], "attention_mask": [], "labels": [], "length": [], "n_truncated_words": []}
            for words, tags in zip(examples["tokens"], examples["tags"]):
                encoding = encode_words(tokenizer, words, max_length=max_length)
                n = len(encoding.input_ids)
                out["input_ids"].append(encoding.input_ids)
                out["attention_mask"].append([1] * n)
                out["labels"].append(first_subword_labels(encoding, [label_id[tag] for tag in tags],
                                                          ignore_index=IGNORE))
                out["length"].append(n)
                out["n_truncated_words"].append(encoding.n_truncated_words)
            return out

        return tokenized(dataset, batch, "Tokenizing NER")

    def collator(self, tokenizer):
        import transformers

        from bioprobe.units import IGNORE

        return transformers.DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE)

    def truncation(self, encoded: dict) -> dict[str, int]:
        return {f"{role}_words": int(sum(data["n_truncated_words"])) if len(data) else 0
                for role, data in encoded.items()}

    def classifier_scores(self, logits, splits, names):
        scores, encoded = logits("test")
        gold = splits["test"]["tags"][:]
        return tag_metrics(gold, word_predictions(scores, encoded["labels"][:], gold, names)), {}

    def outcomes(self, scores, encoded, gold, names, evaluation=None):
        """Per sentence `[correct entities, predicted entities, gold entities]` (strict IOB2, as seqeval counts them):
        entity-level micro F1 is `2 * correct / (predicted + gold)` of their sums."""
        tags = gold["tags"][:]
        predicted = word_predictions(scores, encoded["labels"][:], tags, names)
        out = np.zeros((len(tags), 3))
        for i, (truth, guess) in enumerate(zip(tags, predicted)):
            wanted, said = _entities(truth), _entities(guess)
            out[i] = (len(wanted & said), len(said), len(wanted))
        return out

    def outcome_score(self, sums, names):
        right, found, wanted = sums[..., 0], sums[..., 1], sums[..., 2]
        return np.divide(2 * right, found + wanted, out=np.zeros_like(right, dtype=float), where=found + wanted > 0)

    # --- instructions ---

    def build_instructions(self, split, labels, seed, split_name):
        """One instruction per sentence and entity type (the Llama2-MedTuned format has one type per instruction),
        in sentence order; each instruction text is a seeded paraphrase."""
        from bioprobe.instructions import COLUMNS

        types = entity_types(labels)
        columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
        for index, (words, tags) in enumerate(zip(split["tokens"][:], split["tags"][:])):
            for entity in types:
                text = INSTRUCTIONS[draw(seed, split_name, index, entity, n=len(INSTRUCTIONS))]
                columns["instruction"].append(text.format(entity=entity))
                columns["input"].append(" ".join(words))
                columns["output"].append(answer(words, tags, entity))
                columns["task"].append(self.name)
                columns["entity_type"].append(entity)
                columns["item"].append(index)
        return columns

    def instructions_how(self, labels) -> str:
        return f"one instruction per sentence and entity type ({', '.join(entity_types(labels))})"

    def instruction_types(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        return entity_types(labels)

    def shows_answer(self, input: str, output: str) -> bool:
        """One `word : label` line per input word, in order (label B, I or O, typed or not: `B-PROBLEM`)."""
        lines = output_lines(output.strip())
        return bool(lines) and all(label is not None and NER_LABEL.fullmatch(label) for _, label in lines) \
            and [word for word, _ in lines] == input.split()

    def asks(self, instruction: str) -> bool:
        """It mentions named entities ("named entit", "entity recognition"), or entities ("entit") together with the
        BIO scheme ("BIO", "(Begin", "B-", "IOB"), and no relation (relation extraction talks about entities too)."""
        text = instruction.lower()
        return "relation" not in text and bool(_NER_TEXT.search(text) or ("entit" in text and _BIO_TEXT.search(text)))

    def named_by(self, value: str) -> bool:
        return re.search(r"\bner\b|ner$|named entit|entity recognition", value.lower()) is not None

    def unusable(self, row: dict):
        """Besides an empty answer: an answer line that is not `word : B|I|O`, or answer words that are not the
        input's words in order."""
        problem = super().unusable(row)
        if problem is not None:
            return problem
        lines = output_lines(row["output"])
        for number, (word, label) in enumerate(lines, 1):
            if label is None or not NER_LABEL.fullmatch(label):
                shown = f"{word} : {label}" if label is not None else word
                return "bad_line", f"output line {number} is not 'word : B|I|O' ({shown!r})"
        words = row["input"].split()
        if [word for word, _ in lines] != words:
            return "words_differ", (f"the output has {len(lines)} word lines but the input has {len(words)} words, "
                                    "or they differ; line i must be input word i")
        return None

    def analysis_instruction(self, index, seed, labels=()):
        types = entity_types(labels)
        entity = types[draw(seed, "analysis-type", index, n=len(types))] if types else "biomedical"
        text = INSTRUCTIONS[draw(seed, "analysis", index, entity, n=len(INSTRUCTIONS))]
        return text.format(entity=entity), entity

    def example_output(self, row: dict, entity_type: str, labels=()) -> str:
        return answer(row["tokens"], row["tags"], entity_type)

    def prompt_input(self, row: dict) -> str:
        return " ".join(row["tokens"])

    answer_slack = SLACK

    def cap_answers(self, gold) -> list[str]:
        """A full answer, every word labelled O."""
        return ["\n".join(f"{w}{SEPARATOR}O" for w in gold[0])]

    def gold(self, output: str, labels=()):
        """`(words, labels)` from the gold answer's lines."""
        lines = output_lines(output)
        bad = [i for i, (_, label) in enumerate(lines, 1) if label is None or not NER_LABEL.fullmatch(label)]
        if bad or not lines:
            raise BioprobeError(f"Gold answer line {bad[0] if bad else 1} is not 'word : B|I|O': {output[:80]!r}.")
        return [w for w, _ in lines], [label for _, label in lines]

    def parse_answer(self, item: dict, gold, labels=()) -> Parsed:
        return parse(item.get("raw_output", item["output"]), gold[0], item["stopped"], item.get("flat", False))

    def score_answers(self, items, golds, parsed, labels=()):
        return answer_scores([labels for _, labels in golds], parsed, [item["entity_type"] for item in items])

    def shot_group(self, row: dict) -> str:
        return row["entity_type"]

    # --- probing ---

    def probe_plan(self, columns, tokenizer, pooling, kind, max_length):
        """Word vectors: each word's `pooling` subword (first, mean or last); words past `max_length` are cut and
        counted. Items are `(sentence, word)`."""
        from bioprobe.align import encode_words
        from bioprobe.units import Plan, Unit, longest_first

        units, cut = [], 0
        for index, words in enumerate(columns["tokens"]):
            encoding = encode_words(tokenizer, words, max_length=max_length)
            cut += encoding.n_truncated_words
            kept = [(w, span) for w, span in enumerate(encoding.spans) if span is not None]
            targets = [(start, end, k) for k, (_, (start, end)) in enumerate(kept)]
            units.append(Unit([encoding.input_ids], None, [targets], [(index, w) for w, _ in kept]))
        return Plan(longest_first(units), pooling, n_truncated=cut)

    def prompted(self, columns, k, tokenizer, pooling, room, start, suffix):
        from bioprobe.align import encode_words

        encoding = encode_words(tokenizer, columns["tokens"][k], max_length=room, add_special_tokens=False)
        kept = [(w, span) for w, span in enumerate(encoding.spans) if span is not None]
        return Prompted(encoding.input_ids, [(start + a, start + b, j) for j, (_, (a, b)) in enumerate(kept)],
                        [(k, w) for w, _ in kept], encoding.n_truncated_words)

    def item_labels(self, columns, keys):
        tokens, tags = columns["tokens"], columns["tags"]
        return [tokens[s][w] for s, w in keys], [tags[s][w] for s, w in keys]

    def probe_labels(self, gold, bio):
        """The entity type with B and I merged (as the study did), or the BIO tag with `bio`."""
        if bio:
            return gold
        return np.array([tag.split("-", 1)[1] if tag[:2] in ("B-", "I-") else tag for tag in gold], dtype=str)

    def probe_groups(self, unit):
        return unit  # the words of one sentence are resampled together

    # --- attention, importance and attribution ---

    def attention_inputs(self, columns, tokenizer, kind, max_length):
        from bioprobe.align import encode_words

        encodings = [encode_words(tokenizer, words, max_length=max_length) for words in columns["tokens"]]
        return [e.input_ids for e in encodings], None, sum(e.n_truncated_words > 0 for e in encodings), {}

    def attribution_target(self, row, tokenizer, max_length, kind):
        """The tag of the first subword of the first gold entity word (the first word when there is none)."""
        from bioprobe.align import encode_words

        encoding = encode_words(tokenizer, row["tokens"], max_length=max_length)
        entity = next((w for w, tag in enumerate(row["tags"]) if tag != "O" and encoding.spans[w] is not None), 0)
        return encoding.input_ids, None, encoding.spans[entity][0], None


    def prompted_answer(self, row, tokenizer, room, entity, labels=()):
        """The label token after `word :` of the first word of an entity of the instruction's type (the first word
        when there is none), the gold answer's earlier lines being the answer so far."""
        from bioprobe.align import encode_words

        words, tags = row["tokens"], row["tags"]
        encoding = encode_words(tokenizer, words, max_length=room, add_special_tokens=False)
        kept = [w for w, span in enumerate(encoding.spans) if span is not None]
        target = next((w for w in kept if tags[w] != "O" and tags[w][2:] == entity), kept[0] if kept else 0)
        lines = answer(words, tags, entity).split("\n")
        so_far = "\n".join(lines[:target] + [f"{words[target]}{SEPARATOR.rstrip()}"])
        return encoding.input_ids, None, so_far, {label: f" {label}" for label in ("B", "I", "O")}


TASK = NER()
__all__ = ["NER", "TASK", "answer", "answer_scores", "entity_scores", "entity_types", "output_lines",
           "parse"]
