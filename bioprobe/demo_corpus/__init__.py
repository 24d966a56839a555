"""Embedded, deterministic biomedical demo corpus: NER (IOB2 Disease/Chemical/Gene/Protein) and clinical NLI.

Generated from the lexicons, templates and tables in ``data/`` (plain text files shipped with the package) with
``random.Random(seed)``; nothing is downloaded or cached. ``ner.py`` and ``nli.py`` hold the generators.
"""

from bioprobe.demo_corpus.ner import demo_ner
from bioprobe.demo_corpus.nli import demo_nli

__all__ = ["demo_ner", "demo_nli"]
