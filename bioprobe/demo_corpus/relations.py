"""Generates the demo relation-extraction and document-classification corpora from the demo NER corpus and the
linked-pair tables its generator draws on (``data/ner/``): the relations a sentence states are the ones the generator
knows between the entities it put there.

- RE: every (Chemical, Disease) pair of a sentence, marked inline (``<e1>drug</e1> ... <e2>disease</e2>``), labelled
  ``treats`` (an indication), ``causes`` (an adverse event, a toxin's model disease, an exposure's disease) or
  ``none`` (no relation the tables know).
- CLS (multi-label, HoC-like): a sentence's topics, from the pairs of the tables it contains: ``treatment``,
  ``adverse effect``, ``drug target``, ``biomarker``, ``genetic cause``; most sentences have none, as most HoC
  sentences have no hallmark.
"""

from __future__ import annotations

import functools

import datasets

from bioprobe.demo_corpus import tables
from bioprobe.demo_corpus.ner import demo_ner

__all__ = ["TOPICS", "demo_cls", "demo_re", "entities"]

TOPICS = ("treatment", "adverse effect", "drug target", "biomarker", "genetic cause")
"""The demo multi-label set's labels, in label-set order."""


def entities(tokens: list[str], tags: list[str]) -> list[tuple[str, int, int]]:
    """The IOB2 entities of a sentence: `(type, start, end)` word spans."""
    out: list[list] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-") or (tag.startswith("I-") and (not out or out[-1][2] != i or out[-1][0] != tag[2:])):
            out.append([tag[2:], i, i + 1])
        elif tag.startswith("I-"):
            out[-1][2] = i + 1
    return [tuple(e) for e in out]


def _linked(name: str, first: int = 0, second: int = -1) -> dict[str, set[str]]:
    """A linked-pair table as lower-case name -> lower-case linked names."""
    out: dict[str, set[str]] = {}
    for row in tables.rows(name):
        out.setdefault(row[first].lower(), set()).update(x.lower() for x in tables.items(row[second]))
    return out


@functools.lru_cache(maxsize=None)
def _knowledge() -> dict[str, dict[str, set[str]]]:
    targets: dict[str, set[str]] = {}
    for line in tables.lines("ner/chemicals.txt"):
        if not line.startswith("@"):
            fields = (line.split("|") + [""] * 4)[:4]
            targets[fields[0].strip().lower()] = {x.lower() for x in tables.items(fields[3])}
    causes = _linked("ner/adverse_events.txt")
    for table in (_linked("ner/toxin_models.txt", 0, 2), _linked("ner/environmental_exposures.txt", 0, 1)):
        for agent, diseases in table.items():
            causes.setdefault(agent, set()).update(diseases)
    return {"treats": _linked("ner/indications.txt"), "causes": causes, "targets": targets,
            "genes": _linked("ner/genetic_disease_genes.txt"), "biomarker": _linked("ner/biomarker_diseases.txt")}


def relation(chemical: str, disease: str) -> str:
    """What the tables say of a drug and a disease: "treats", "causes" or "none"."""
    known = _knowledge()
    chemical, disease = chemical.lower(), disease.lower()
    if disease in known["treats"].get(chemical, ()):
        return "treats"
    if disease in known["causes"].get(chemical, ()):
        return "causes"
    return "none"


def topics(tokens: list[str], tags: list[str]) -> list[str]:
    """The topics (`TOPICS`) a tagged sentence is about, in label-set order."""
    known = _knowledge()
    named = {kind: [" ".join(tokens[a:b]).lower() for t, a, b in entities(tokens, tags) if t == kind]
             for kind in ("Chemical", "Disease", "Gene/Protein")}
    chemicals, diseases, genes = named["Chemical"], named["Disease"], named["Gene/Protein"]
    relations = {relation(c, d) for c in chemicals for d in diseases}
    found = {"treatment": "treats" in relations, "adverse effect": "causes" in relations,
             "drug target": any(g in known["targets"].get(c, ()) for c in chemicals for g in genes),
             "biomarker": any(d in known["biomarker"].get(g, ()) for g in genes for d in diseases),
             "genetic cause": any(g in known["genes"].get(d, ()) for d in diseases for g in genes)}
    return [topic for topic in TOPICS if found[topic]]


def _marked(tokens: list[str], chemical: tuple[int, int], disease: tuple[int, int]) -> str:
    words = list(tokens)
    for (start, end), name in sorted(((chemical, "e1"), (disease, "e2")), reverse=True):
        words[start:end] = [f"<{name}>", *words[start:end], f"</{name}>"]
    return " ".join(words)


@functools.lru_cache(maxsize=4)
def demo_re(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded relation-extraction demo corpus.

    Args:
        seed: The demo NER corpus's seed; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (~1370 pairs), ``validation`` (~180) and ``test`` (~170), columns
        ``text`` (the sentence, entity 1 the Chemical and entity 2 the Disease marked by ``<e1>``/``<e2>``) and
        ``label`` (``treats``, ``causes`` or ``none``).
    """
    ner = demo_ner(seed)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string")})
    out = {}
    for split in ner:
        columns: dict[str, list[str]] = {"text": [], "label": []}
        for tokens, tags in zip(ner[split]["tokens"][:], ner[split]["tags"][:]):
            found = entities(tokens, tags)
            for kind, a, b in found:
                if kind != "Chemical":
                    continue
                for other, c, d in found:
                    if other == "Disease":
                        columns["text"].append(_marked(tokens, (a, b), (c, d)))
                        columns["label"].append(relation(" ".join(tokens[a:b]), " ".join(tokens[c:d])))
        out[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(out)


@functools.lru_cache(maxsize=4)
def demo_cls(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded multi-label document-classification demo corpus.

    Args:
        seed: The demo NER corpus's seed; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), columns ``text``
        (the sentence) and ``labels`` (its topics, a list, empty for about three sentences in four).
    """
    ner = demo_ner(seed)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.Value("string"))})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(
            {"text": [" ".join(tokens) for tokens in ner[split]["tokens"][:]],
             "labels": [topics(tokens, tags) for tokens, tags in zip(ner[split]["tokens"][:], ner[split]["tags"][:])]},
            features=features)
        for split in ner})
