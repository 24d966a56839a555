"""The three clinical prompts of conversation-tuned assistants (entity extraction, document search, summarisation):
their templates (kept here, shown by `bioprobe generate --help`, overridable with `--template FILE`), the items
each is asked on, parsers and scorers, and `run_generate`, what `bioprobe generate` runs."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe.errors import BioprobeError

TEMPLATES = {
    "extract": "List the {entity_type} entities in this text, one per line, exactly as they are written.\n\n"
               "Text: {text}",
    "search": "Here is a clinical document, one numbered sentence per line:\n{document}\n\nWhich sentences say "
              "what this query says? Answer with their numbers, separated by commas.\n\nQuery: {query}",
    "summarise": "Summarise this clinical document in one or two sentences.\n\nDocument: {document}",
}
"""The prompt texts; each is one user turn (or instruction) for the model's own prompt format."""
PLACEHOLDERS = {"extract": ("entity_type", "text"), "search": ("document", "query"), "summarise": ("document",)}
CAPS = {"extract": 64, "search": 16, "summarise": 96}
"""New tokens per answer."""
EVALUATION = 2
"""The version of generation and scoring stored answers were made with (a stored result of another one is made
again). 2: the stop rule of the prompt format (a chat answer is no longer cut at a Markdown `###`), the released model
in 4-bit where its tuned runs' base is, entity strings compared by `mention_key` (commas, "NO", re-spacing), numbers
inside copied sentences no search answer, an empty summary a failure of the faithfulness proxy."""
PROMPT_TASK = {"extract": "ner", "search": "nli", "summarise": "nli"}
"""Which instruction-tuned checkpoint (tuned on which task) a prompt evaluates, and which data it is built from
(summarise builds its demo documents from the NLI premises)."""
DISTRACTORS = 4
"""Sentences besides the answer in a search document."""
_STOP = frozenset("""a an the and or of in on at to for with by from as is are was were be been this that these those it
its his her their there which who whom has have had not no into than then also after before during over under
""".split())


@dataclass(frozen=True)
class Item:
    """One question of a prompt.

    Attributes:
        fields: The template's placeholders filled in.
        gold: Extract: the gold entity strings; search: the right sentence numbers (1-based); summarise: the
            reference summary, or None.
        context: Extract: the text; search: the numbered sentences; summarise: the document.
        key: What the item was built from (sentence / pair / document index, entity type).
    """

    fields: dict
    gold: object
    context: object
    key: str


# --- the items ---------------------------------------------------------------------------------------------------


def extract_items(split, types: tuple[str, ...]) -> list[Item]:
    """One item per sentence and entity type: the text and the gold mention strings of that type."""
    from bioprobe.conversations import _mentions

    items = []
    for index, (words, tags) in enumerate(zip(split["tokens"][:], split["tags"][:])):
        text = " ".join(words)
        for kind in types:
            items.append(Item({"entity_type": kind, "text": text}, _mentions(words, tags, kind), text,
                              f"{index}/{kind}"))
    return items


def search_items(split, seed: int, distractors: int = DISTRACTORS) -> list[Item]:
    """One item per entailment pair: the query is its hypothesis, the document its premise among `distractors`
    premises of other pairs (seeded draw, seeded order), numbered from 1. A premise the data labels as entailing the
    same hypothesis never serves as a distractor; those it labels as not entailing it are drawn first. The answer is
    the premise's number (and any other sentence the data labels as entailing the query). A distractor whose pair
    with the query the data does not label may still support it: it then counts as a wrong answer.
    """
    rng = np.random.default_rng(seed)
    premises, hypotheses, labels = split["premise"][:], split["hypothesis"][:], split["label"][:]
    known = {(p, h): label for p, h, label in zip(premises, hypotheses, labels)}
    unique = sorted(set(premises))
    items = []
    for index, (premise, hypothesis, label) in enumerate(zip(premises, hypotheses, labels)):
        if label != "entailment":
            continue
        refuted = [p for p in unique if p != premise and known.get((p, hypothesis)) in ("neutral", "contradiction")]
        unknown = [p for p in unique if p != premise and (p, hypothesis) not in known]
        chosen = [refuted[i] for i in rng.permutation(len(refuted))[:distractors]]
        more = distractors - len(chosen)
        chosen += [unknown[i] for i in rng.permutation(len(unknown))[:more]]
        sentences = chosen + [premise]
        numbered = [sentences[i] for i in rng.permutation(len(sentences))]
        answers = [n for n, s in enumerate(numbered, 1) if known.get((s, hypothesis)) == "entailment"]
        document = "\n".join(f"{n}. {s}" for n, s in enumerate(numbered, 1))
        items.append(Item({"document": document, "query": hypothesis}, answers, numbered, str(index)))
    return items


def summarise_items(rows: list[dict]) -> list[Item]:
    """One item per document (`document`, and `summary` when the data has reference summaries)."""
    return [Item({"document": row["document"]}, row.get("summary"), row["document"], str(i))
            for i, row in enumerate(rows)]


def demo_documents(seed: int, n: int = 100, sentences: int = 4) -> list[dict]:
    """Clinical documents for the summarise prompt, made of `sentences` seeded premises of the demo NLI test split
    each (no reference summaries: outputs are scored by the faithfulness proxy)."""
    from bioprobe.data import load_task_data

    premises = sorted(set(load_task_data("nli", "demo").splits["test"]["premise"][:]))
    rng = np.random.default_rng(seed)
    return [{"document": " ".join(premises[i] for i in rng.choice(len(premises), size=sentences, replace=False))}
            for _ in range(n)]


def load_documents(data: str | None, seed: int) -> list[dict]:
    """Documents to summarise: "demo" (`demo_documents`), or a file / folder / hub id with a `document` column
    (and `summary` for ROUGE); the test split when it has splits.

    Raises:
        BioprobeError: for data without a `document` column.
    """
    if data in (None, "demo"):
        return demo_documents(seed)
    from bioprobe import data as data_module
    from bioprobe.instructions import read_split_files, raw_rows, read_table_file

    path = Path(data).expanduser()
    if path.is_file():
        raw = {"test": read_table_file(path, "documents")}
    elif path.is_dir():
        raw = read_split_files(path)[0]
    else:
        raw = data_module.load_hub(data)
    split = raw.get("test") or next(iter(raw.values()))
    rows, names = raw_rows(split)
    if "document" not in names:
        raise BioprobeError(f"{split.name} has no document column (found {', '.join(names) or 'none'}); summarise "
                            "needs document (and summary, for ROUGE).")
    return [{"document": str(r["document"]), **({"summary": str(r["summary"])} if r.get("summary") else {})}
            for r in rows]


# --- parsers and scorers -----------------------------------------------------------------------------------------


def mention_key(text: str) -> str:
    """How entity strings are compared: lower case, cut into words and single punctuation marks (so "IL-6" and the
    tokenised "IL - 6", "2R,4R" and "2R , 4R" are one key), with enclosing quotes and closing punctuation (.,;:)
    dropped; the pieces joined by single spaces."""
    pieces = re.findall(r"\w+|[^\w\s]", text.lower())
    while pieces and (pieces[-1] in _CLOSING or pieces[-1] in _QUOTES):
        pieces.pop()
    while pieces and pieces[0] in _QUOTES:
        pieces.pop(0)
    return " ".join(pieces)


_CLOSING = frozenset(".,;:")
_QUOTES = frozenset("\"'“”‘’`")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NONE = {"none", "no entities", "n/a", "nothing", "no", "no entity", "not applicable"}
"""Answers that mean "no entity" (unless the text itself has them, same case: "NO" is nitric oxide)."""


def verbatim(key: str, text: str) -> bool:
    """Whether an entity key (`mention_key`) is a span of the text: its pieces in a row among the text's pieces."""
    return bool(key) and f" {key} " in f" {mention_key(text)} "


def _said_in(part: str, text: str) -> bool:
    """Whether `part` occurs in `text` as it is written (same case, on word boundaries, spacing aside)."""
    letters = [re.escape(ch) for ch in part.strip().strip("".join(_CLOSING | _QUOTES)) if not ch.isspace()]
    return bool(letters) and re.search(r"(?<!\w)" + r"\s*".join(letters) + r"(?!\w)", text) is not None


def parse_extract(output: str, text: str) -> list[str]:
    """The entity keys (`mention_key`) of an extraction answer, in order, without repeats.

    One entity per line (bullets and numbering dropped); a line that is not a span of the text is split on its
    commas ("aspirin, insulin"), while one that is a span stays whole (the chemical "2R , 4R - APDC"). A line or part
    that says "none" ("none", "no", "n/a", ...) means no entity, unless the text writes it the same way (so "NO",
    nitric oxide, is an entity where the text has "NO").

    Args:
        output: The answer.
        text: The text the entities were asked of.
    """
    found = []
    for line in output.split("\n"):
        line = _BULLET.sub("", line)
        parts = [line] if "," not in line or verbatim(mention_key(line), text) else line.split(",")
        for part in parts:
            key = mention_key(part)
            if key and not (key in _NONE and not _said_in(part, text)):
                found.append(key)
    return list(dict.fromkeys(found))


def extract_scores(items: list[Item], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-string precision, recall and F1 over all items (micro: counts summed over items; strings compared by
    `mention_key`), and the share of predicted strings that are not spans of their text (the phrase problem)."""
    tp = n_pred = n_gold = not_span = 0
    for item, keys in zip(items, predicted):
        gold = {mention_key(g) for g in item.gold}
        tp += len(set(keys) & gold)
        n_pred += len(keys)
        n_gold += len(gold)
        not_span += sum(not verbatim(key, item.context) for key in keys)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "not_verbatim_share": not_span / n_pred if n_pred else 0.0, "predicted_per_item": n_pred / len(items)}


def _spaced(text: str) -> str:
    """A regex for `text` with any spacing between its characters (case-insensitive use)."""
    return r"\s*".join(re.escape(ch) for ch in text if not ch.isspace())


_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")


def parse_search(output: str, sentences: list[str]) -> list[int]:
    """The sentence numbers of an answer, in order (numbers outside the document dropped). Numbers inside text the
    answer copies from the document (a sentence written out, any quoted passage) are not answers: "3. The patient
    received 2 doses" is [3]. An answer without numbers is matched by text: the sentences it quotes, in document
    order."""
    rest, quoted = output, []
    for number, sentence in enumerate(sentences, 1):
        pattern = _spaced(sentence.rstrip(" ."))
        if pattern and re.search(pattern, rest, flags=re.IGNORECASE):
            quoted.append(number)
            rest = re.sub(pattern, " ", rest, flags=re.IGNORECASE)
    rest = _QUOTED.sub(" ", rest)
    numbers = [int(n) for n in re.findall(r"\b\d+\b", rest) if 1 <= int(n) <= len(sentences)]
    return list(dict.fromkeys(numbers)) if numbers else quoted


def search_scores(items: list[Item], predicted: list[list[int]], ks=(1, 3)) -> dict[str, float]:
    """Precision (right numbers among the numbers given, 0 for an empty answer) and recall@k (the right sentence
    among the first k numbers), means over items."""
    precision = np.mean([len(set(p) & set(i.gold)) / len(p) if p else 0.0 for i, p in zip(items, predicted)])
    out = {"precision": float(precision)}
    for k in ks:
        out[f"recall_at_{k}"] = float(np.mean([len(set(p[:k]) & set(i.gold)) / len(i.gold)
                                               for i, p in zip(items, predicted)]))
    out["answered"] = float(np.mean([bool(p) for p in predicted]))
    return out


def content_words(text: str) -> set[str]:
    """Words of 3 letters or more that are not function words (lower case)."""
    return {w for w in re.findall(r"[a-z][a-z\-]{2,}", text.lower()) if w not in _STOP}


def faithful_share(summary: str, document: str) -> float:
    """The share of a summary's sentences whose content words all occur in the document: a crude faithfulness
    proxy (a sentence that adds any word of its own counts as unfaithful; an empty summary, or one without content
    words, is a failure and scores 0)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", summary.strip()) if content_words(s)]
    if not sentences:
        return 0.0
    known = content_words(document)
    return float(np.mean([content_words(s) <= known for s in sentences]))


def summarise_scores(items: list[Item], outputs: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure (rouge-score, stemmed) where items have reference summaries; always the summary
    length in words and the faithfulness proxy (`faithful_share`)."""
    out = {"summary_words": float(np.mean([len(o.split()) for o in outputs])),
           "faithful_share_proxy": float(np.mean([faithful_share(o, i.context) for i, o in zip(items, outputs)])),
           "empty_share": float(np.mean([not content_words(o) for o in outputs]))}
    referenced = [(i, o) for i, o in zip(items, outputs) if i.gold]
    if referenced:
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise BioprobeError("ROUGE needs the rouge-score package: pip install rouge-score.") from None
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
        scores = [scorer.score(i.gold, o) for i, o in referenced]
        for name in ("rouge1", "rouge2", "rougeL"):
            out[name] = float(np.mean([s[name].fmeasure for s in scores]))
    return out


def check_template(prompt: str, text: str, where: str) -> str:
    """A template text with every placeholder its prompt fills (and no other).

    Raises:
        BioprobeError: naming the missing or unknown placeholders.
    """
    found = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    missing = [p for p in PLACEHOLDERS[prompt] if p not in found]
    extra = sorted(found - set(PLACEHOLDERS[prompt]))
    if missing or extra:
        what = (f"lacks {', '.join('{' + m + '}' for m in missing)}" if missing else "") + \
               (" and " if missing and extra else "") + \
               (f"has unknown {', '.join('{' + e + '}' for e in extra)}" if extra else "")
        raise BioprobeError(f"The {prompt} template {where} {what}; it needs "
                            f"{', '.join('{' + p + '}' for p in PLACEHOLDERS[prompt])}.")
    return text


def template_text(prompt: str, path: str | None) -> str:
    """The prompt's template: the built-in one, or the text of `--template FILE` (checked)."""
    if path is None:
        return TEMPLATES[prompt]
    try:
        text = Path(path).expanduser().read_text()
    except OSError as err:
        raise BioprobeError(f"Cannot read the template file {path}: {err.strerror}.") from None
    return check_template(prompt, text, path)


# --- running a prompt ------------------------------------------------------------------------------------------


@dataclass
class GenerateResult:
    """What `run_generate` wrote: the tidy table, the answers (JSONL), the scores, and whether it was reused."""

    table: Path
    generations: Path
    metrics: dict
    reused: bool = False


def items_for(settings, limit_seed: int) -> list[Item]:
    """The items of a prompt from its data: a seeded sample of `limit` items of the test split."""
    if settings.prompt == "summarise":
        items = summarise_items(load_documents(settings.data, settings.seed))
    else:
        from bioprobe.data import load_task_data
        from bioprobe.tasks.ner import entity_types

        data = load_task_data(PROMPT_TASK[settings.prompt], settings.data or "demo")
        test = data.splits["test"]
        items = extract_items(test, entity_types(data.labels)) if settings.prompt == "extract" else \
            search_items(test, settings.seed)
    if not items:
        raise BioprobeError(f"The {settings.prompt} data has no items to ask (search needs entailment pairs).")
    if settings.limit is not None and settings.limit < len(items):
        keep = sorted(np.random.default_rng(limit_seed).choice(len(items), size=settings.limit, replace=False))
        items = [items[i] for i in keep]
    return items


def _checkpoint(settings):
    """The folder and record of the tuned checkpoint asked (None, None for the model as released)."""
    from bioprobe import runstore
    from bioprobe.finetune.checkpoints import stored_name

    if settings.training_size == 0:
        return None, None
    task = "conversation" if settings.objective == "conversation" else PROMPT_TASK[settings.prompt]
    name = stored_name(settings.runs_dir, task, settings.model_name)
    folder = runstore.require_checkpoint(settings.runs_dir, task, name, settings.training_size, settings.seed,
                                         settings.objective)
    return folder, runstore.read_run(folder)


def _format(settings, record, tokenizer) -> str:
    """The prompt format: the instruction run's own, chat (or the plain turn format) for a conversation run, and for
    the released model its chat template when it has one, else the Llama2-MedTuned format."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    if record is not None and record.objective == "instruct":
        return record.template
    if record is not None:
        return "chat" if chat else "plain"
    return "chat" if chat else "medtuned"


def prompt_ids_for(tokenizer, style: str, text: str) -> list[int]:
    """Token ids of one prompt (`text`: the filled template) in a format: medtuned (the text as the instruction),
    chat (one user turn) or plain (`bioprobe.finetune.conversation.PLAIN_TURN`)."""
    from bioprobe.align import special_tokens
    from bioprobe.finetune.conversation import PLAIN_TURN
    from bioprobe.finetune.prompts import prompt_ids, prompt_text

    if style == "plain":
        return special_tokens(tokenizer)[0] + list(tokenizer(PLAIN_TURN["user"].format(content=text),
                                                             add_special_tokens=False)["input_ids"])
    return prompt_ids(tokenizer, style, prompt_text(tokenizer, style, text, "") if style == "medtuned" else
                      tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                    add_generation_prompt=True))


def run_generate(settings=None, **fields) -> GenerateResult:
    """Ask a model (as released, or a tuned checkpoint) one clinical prompt on every item, store each answer with
    its parse, and score them (`bioprobe generate`).

    Args:
        settings: `bioprobe.settings.GenerateSettings` (or its fields as keyword arguments).

    Returns:
        The table, the answers and the scores.
    """
    import json
    import time

    from bioprobe import runstore
    from bioprobe.models import load_model, wants_four_bit
    from bioprobe.registry import resolve_model
    from bioprobe.settings import GenerateSettings, build, digest, values
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.finetune.decode import stop_rule
    from bioprobe.finetune.generate import generate

    s = build(GenerateSettings, fields, "run_generate") if settings is None else settings.replace(**fields)
    folder, record = _checkpoint(s)
    if record is not None and s.four_bit is not None and s.four_bit != record.four_bit:
        raise BioprobeError(f"The checkpoint in {folder} was trained on a {'4-bit' if record.four_bit else 'full'}"
                            f" base and loads as it was trained; drop --{'no-' if not s.four_bit else ''}4bit.")
    four_bit = record.four_bit if record is not None else wants_four_bit(resolve_model(s.model_name), s.four_bit)
    name = folder.parent.name if folder is not None else resolve_model(s.model_name).name
    objective = s.objective if s.training_size else "released"
    table = runstore.results_path(s.runs_dir, "generate", s.prompt, name, s.training_size, s.seed,
                                  objective=objective)
    generations = runstore.generations_path(s.runs_dir, s.prompt, name, s.training_size, s.seed, "test", objective)
    template = template_text(s.prompt, s.template)
    wanted = {**values(s, ("eval",)), "four_bit": four_bit, "template": template,
              "run": digest(runstore.read_json(folder / "run.json"), 16) if record else None, "evaluation": EVALUATION}
    if s.rescore:
        if not generations.is_file():
            raise BioprobeError(f"No stored answers at {generations}; generate first (without --rescore).")
        stored = [json.loads(line) for line in generations.read_text().splitlines() if line]
        items = [Item(i["fields"], i["gold"], i["context"], i["key"]) for i in stored]
        metrics = _score(s.prompt, items, [i["output"] for i in stored])
        return _store(s, table, generations, wanted, items, stored, metrics, name, objective, {})
    stored = runstore.reusable(table, wanted, s.overwrite)
    if stored is not None:
        return GenerateResult(table, generations, stored["metrics"], reused=True)
    items = items_for(s, s.seed)
    if folder is not None:
        loaded = load_finetuned(s.runs_dir, "conversation" if s.objective == "conversation" else
                                PROMPT_TASK[s.prompt], name, s.training_size, s.seed, device=s.device, merge=True,
                                objective=s.objective)
    else:
        loaded = load_model(resolve_model(s.model_name), head="causal-lm", device=s.device, four_bit=four_bit)
    tokenizer = loaded.tokenizer
    style = _format(s, record, tokenizer)
    texts = [template.format(**item.fields) for item in items]
    ids = [prompt_ids_for(tokenizer, style, text) for text in texts]
    cap = s.max_new_tokens or CAPS[s.prompt]
    started = time.perf_counter()
    answers = generate(loaded.model, tokenizer, ids, [cap] * len(ids), stop_rule(tokenizer, style),
                       desc=f"Generating {s.prompt}")
    seconds = time.perf_counter() - started
    outputs = [a.text for a in answers]
    stored = [{"key": item.key, "fields": item.fields, "gold": item.gold, "context": item.context, "prompt": text,
               "format": style, "output": a.text, "stopped": a.stopped, "tokens": a.tokens}
              for item, text, a in zip(items, texts, answers)]
    metrics = _score(s.prompt, items, outputs)
    return _store(s, table, generations, wanted, items, stored, metrics, name, objective,
                  {"seconds": round(seconds, 2), "tokens": int(sum(a.tokens for a in answers))})


def _score(prompt: str, items: list[Item], outputs: list[str]) -> dict[str, float]:
    if prompt == "extract":
        return extract_scores(items, [parse_extract(o, i.context) for i, o in zip(items, outputs)])
    if prompt == "search":
        return search_scores(items, [parse_search(o, i.context) for i, o in zip(items, outputs)])
    return summarise_scores(items, outputs)


def _parse(prompt: str, item: Item, output: str):
    if prompt == "extract":
        return parse_extract(output, item.context)
    if prompt == "search":
        return parse_search(output, item.context)
    return {"words": len(output.split()), "faithful_share_proxy": faithful_share(output, item.context)}


def _store(s, table, generations, wanted, items, stored, metrics, name, objective, timing) -> GenerateResult:
    """Write the answers with their parses, the tidy table and its record."""
    import json

    from bioprobe import runstore
    from bioprobe.finetune.train import _tidy_rows

    for entry, item in zip(stored, items):
        entry["parse"] = _parse(s.prompt, item, entry["output"])
    runstore.write_text(generations, "".join(json.dumps(entry, ensure_ascii=False, default=float) + "\n"
                                             for entry in stored))
    rows = _tidy_rows(s.prompt, name, s.training_size, s.seed, metrics, 0, len(items), objective=objective,
                      four_bit=wanted["four_bit"])
    for row in rows:
        row["analysis"] = "generate"
    runstore.write_table(table, rows)
    runstore.write_sidecar(table, wanted, metrics=metrics, n_items=len(items), **timing,
                           environment=runstore.environment())
    return GenerateResult(table, generations, metrics)
