"""Embedded, deterministic biomedical demo corpus: NER (IOB2 Disease/Chemical/Gene/Protein), clinical NLI, relation
extraction (drug-disease pairs of the NER sentences) and multi-label document classification (their topics).

Generated from the lexicons, templates and tables in ``data/`` (plain text files shipped with the package) with
``random.Random(seed)``; nothing is downloaded or cached. ``ner.py``, ``nli.py`` and ``relations.py`` hold the
generators.
"""

from bioprobe.demo_corpus.ner import demo_ner
from bioprobe.demo_corpus.nli import demo_nli
from bioprobe.demo_corpus.relations import demo_cls, demo_re

__all__ = ["demo_cls", "demo_ner", "demo_nli", "demo_re"]
