"""Generates the demo NER corpus: abstract-like sentences tagged IOB2 with Disease, Chemical and Gene/Protein.

Sentences come from the templates, lexicons and pair tables in ``data/ner/`` (see each file's header for its
format), filled with ``random.Random(seed)``; nothing is downloaded or cached.
"""

from __future__ import annotations

import functools
import random
import re

import datasets

from bioprobe.demo_corpus import tables

__all__ = ["demo_ner"]

_SPLITS = tables.SPLITS

# Areas: met (metabolic/endocrine), cv (cardiovascular), onc (oncology), neu (neurology),
# psy (psychiatry), inf (infection), imm (immunology), resp (respiratory), ren (renal), hem (haematology).
_AREAS = ("met", "cv", "onc", "neu", "psy", "inf", "imm", "resp", "ren", "hem")

_CHEM, _DIS, _GENE = "Chemical", "Disease", "Gene/Protein"
_TYPE_CODE = {"C": _CHEM, "D": _DIS, "G": _GENE}


# ----------------------------------------------------------------------------- data files
def _area_phrases(name: str) -> dict[str, dict[str, list[str]]]:
    """``[SLOT]`` sections of ``@area`` groups of phrases: slot -> area -> phrases."""
    out: dict[str, dict[str, list[str]]] = {}
    for slot, section in tables.sections(name).items():
        by_area: dict[str, list[str]] = {}
        phrases = None
        for line in section:
            if line.startswith("@"):
                phrases = by_area.setdefault(line[1:], [])
            elif phrases is None:
                raise ValueError(f"{name} [{slot}]: {line!r} comes before the first @area header")
            else:
                phrases.append(line)
        out[slot] = by_area
    return out


# Lexicons ("@areas" headers, then "name|kinds|flags|targets|+areas" lines) and linked-pair tables.
_CHEM_LEX = tables.block("ner/chemicals.txt")
_DIS_LEX = tables.block("ner/diseases.txt")
_GENE_LEX = tables.block("ner/genes_proteins.txt")
_GENETIC_PAIRS = tables.block("ner/genetic_disease_genes.txt")
_LIGAND_PAIRS = tables.block("ner/ligand_receptors.txt")
_BIOMARKER_PAIRS = tables.block("ner/biomarker_diseases.txt")
_TOXIN_PAIRS = tables.block("ner/toxin_models.txt")
_ENV_PAIRS = tables.block("ner/environmental_exposures.txt")
_ADE_PAIRS = tables.block("ner/adverse_events.txt")
_TRIAL_PAIRS = tables.block("ner/trial_drugs.txt")
_IND_PAIRS = tables.block("ner/indications.txt")
_CYP_PAIRS = tables.block("ner/cyp_substrates.txt")
_SCALE_PAIRS = tables.block("ner/scale_diseases.txt")
_SYMBOL_PAIRS = tables.block("ner/gene_symbol_proteins.txt")
_DEFINITIONS = tables.block("ner/disease_definitions.txt")
# Disease groups used to restrict outcome phrases ("#@GROUP").
_OUTCOME_GROUPS = tables.sections("ner/outcome_groups.txt")
# Area-specific non-entity phrases per slot; <text|T> marks inline entities.
_AREA_PHRASES = _area_phrases("ner/area_phrases.txt")
_ASSAY_SETS = tables.sections("ner/assays.txt")
_SURNAMES = tables.lines("ner/surnames.txt")
_MODIFIERS = tables.sections("ner/disease_modifiers.txt")
_AA = "ACDEFGHIKLMNPQRSTVWY"
# Sentence templates: $SLOT, [optional], {alt|ernatives}, <inline entity|C/D/G>, optional "@areas:" prefix.
_NER_TEMPLATES = tables.lines("ner/templates.txt")
# Parts of compositional (novel) names.
_NOVEL_PARTS = tables.sections("ner/novel_name_parts.txt")
_GENE_FAMILIES = _NOVEL_PARTS["gene_families"]
_ONSETS = _NOVEL_PARTS["onsets"]
_VOWELS = _NOVEL_PARTS["vowels"]
_CHEM_SUFFIXES = [tuple(row) for row in tables.fields(_NOVEL_PARTS["chemical_suffixes"])]
_ORGAN_ADJ = [tuple(row) for row in tables.fields(_NOVEL_PARTS["organ_adjectives"])]
_DIS_ADJ_G = _NOVEL_PARTS["genetic_disease_adjectives"]
_DIS_PATH_G = _NOVEL_PARTS["genetic_disease_pathologies"]
_DIS_ADJ_C = _NOVEL_PARTS["acquired_disease_adjectives"]
_DIS_PATH_C = _NOVEL_PARTS["acquired_disease_pathologies"]
_CANCER_SITES = _NOVEL_PARTS["cancer_sites"]
_CANCER_HISTO = _NOVEL_PARTS["cancer_histologies"]


# ----------------------------------------------------------------------------- template slots
# Linked-pair tables, in priority order: the two slots each binds, and the slots that make a template use it.
_PAIR_BIND = {"cyp": ("CYP", "CM"), "tgt": ("C", "TG"), "trial": ("TRIAL", "C"), "ade": ("C", "A"),
              "bio": ("BM", "BD"), "scale": ("SCALE", "SD"), "indp": ("PD", "ID"), "gen": ("GD", "GG"),
              "lig": ("LIG", "REC"), "tox": ("T", "TD"), "envu": ("XU", "XD"), "env": ("X", "XD"),
              "sym": ("SYM", "PROT"), "def": ("DEFD", "DEF"), "ind": ("IC", "ID")}
_PAIR_TRIGGER = {"CYP": "cyp", "TG": "tgt", "TRIAL": "trial", "A": "ade", "BM": "bio", "BD": "bio",
                 "SCALE": "scale", "SD": "scale", "PD": "indp", "GD": "gen", "GG": "gen", "LIG": "lig", "T": "tox",
                 "TD": "tox", "XU": "envu", "X": "env", "SYM": "sym", "DEFD": "def", "IC": "ind", "ICM": "ind",
                 "ID": "ind", "MID": "ind"}
_PAIR_SLOT_NAMES = frozenset(n for pair in _PAIR_BIND.values() for n in pair)
# Ordinary entity slots: slot -> (type, kinds to include, kinds to exclude).
_ENT_SLOTS = {
    "C": (_CHEM, "dc", ""), "C2": (_CHEM, "dc", ""), "CM": (_CHEM, "d", ""), "E": (_CHEM, "e", ""),
    "NUTR": (_CHEM, "n", ""),
    "G": (_GENE, "g", ""), "G2": (_GENE, "g", ""), "G3": (_GENE, "g", ""), "GI": (_GENE, "g", "s"),
    "GI2": (_GENE, "g", "s"), "GS": (_GENE, "s", ""), "TF": (_GENE, "t", ""), "TF2": (_GENE, "t", ""),
    "CYP": (_GENE, "y", ""),
    "D": (_DIS, "ck", "m"), "DX": (_DIS, "", ""), "K": (_DIS, "k", ""), "A": (_DIS, "a", ""), "A2": (_DIS, "a", ""),
    "IC": (_CHEM, "dcp", ""), "ICM": (_CHEM, "d", ""), "IC2": (_CHEM, "dcp", ""), "ID": (_DIS, "", ""),
}
_DRUG_SLOTS = ("IC", "ICM", "C", "CM", "PD")
_DISEASE_SLOTS = ("ID", "SD", "BD")
_TOKEN_RE = re.compile(r"<[^<>]+\|[CDG]>|\[|\]|\{|\}|\||\$[A-Z][A-Z0-9_]*|[^\s\[\]{}|]+")


class _Ent:
    """A lexicon entry: a surface form with its entity type, therapeutic areas and kinds."""

    __slots__ = ("name", "toks", "etype", "areas", "kinds", "flags", "targets", "novel")

    def __init__(self, name, etype, areas, kinds, flags=(), targets=(), novel=False):
        self.name = name
        self.toks = tuple(name.split())
        self.etype = etype
        self.areas = tuple(areas)
        self.kinds = kinds
        self.flags = tuple(flags)
        self.targets = tuple(targets)
        self.novel = novel


def _parse_lexicon(block: str, etype: str) -> list[_Ent]:
    """Parse one lexicon block ("@areas" headers, then "name|kinds|flags|targets|+areas" lines)."""
    out, areas, seen = [], ("met",), set()
    for raw in block.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("@"):
            areas = tuple(line[1:].split(","))
            continue
        parts = line.split("|") + [""] * 5
        name, kinds, flags, targets, extra = (p.strip() for p in parts[:5])
        if etype != _CHEM:  # disease and gene lines have no targets column
            extra = extra or targets
            targets = ""
        if name in seen:
            raise ValueError(f"duplicate lexicon entry {name!r}")
        seen.add(name)
        ent_areas = areas + tuple(a for a in extra.split(",") if a and a not in areas)
        out.append(_Ent(name, etype, ent_areas, kinds or "g",
                        tuple(f for f in flags.split(",") if f), tuple(t for t in targets.split(";") if t)))
    return out


def _parse_pairs(block: str, sep: str = "|") -> list[list[str]]:
    return [[p.strip() for p in line.split(sep)] for line in block.strip().splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def _parse_template(text: str) -> list:
    """Parse the template mini-language into a nested node list."""
    toks = _TOKEN_RE.findall(text)
    pos = 0

    def seq(stop: tuple[str, ...]) -> list:
        nonlocal pos
        nodes = []
        while pos < len(toks) and toks[pos] not in stop:
            t = toks[pos]
            pos += 1
            if t == "[":
                inner = seq(("]",))
                pos += 1
                nodes.append(("opt", inner))
            elif t == "{":
                alts = [seq(("|", "}"))]
                while toks[pos] == "|":
                    pos += 1
                    alts.append(seq(("|", "}")))
                pos += 1
                nodes.append(("alt", alts))
            elif t.startswith("<") and t.endswith(">") and len(t) > 1:
                body, code = t[1:-1].rsplit("|", 1)
                nodes.append(("ent", tuple(body.split()), _TYPE_CODE[code]))
            elif t.startswith("$"):
                nodes.append(("slot", t[1:]))
            else:
                nodes.append(("w", t))
        return nodes

    nodes = seq(())
    if pos != len(toks):
        raise ValueError(f"unbalanced template: {text}")
    return nodes


def _template_slots(nodes: list, acc: list) -> list:
    for node in nodes:
        if node[0] == "slot":
            acc.append(node[1])
        elif node[0] == "opt":
            _template_slots(node[1], acc)
        elif node[0] == "alt":
            for alt in node[1]:
                _template_slots(alt, acc)
    return acc


def _inline_entities(text: str) -> list[tuple[str, str]]:
    return [(m.rsplit("|", 1)[0][1:], _TYPE_CODE[m[-2]]) for m in re.findall(r"<[^<>]+\|[CDG]>", text)]


# ----------------------------------------------------------------------------- novel names
def _novel_gene(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return f"{rng.choice(_GENE_FAMILIES)}{rng.randint(2, 220)}"
    if r < 0.7:
        return f"SLC{rng.randint(1, 45)}A{rng.randint(1, 12)}"
    if r < 0.8:
        return f"FAM{rng.randint(20, 230)}{rng.choice('ABC')}"
    if r < 0.9:
        return f"C{rng.randint(1, 22)}orf{rng.randint(10, 180)}"
    return f"KIAA{rng.randint(100, 2026):04d}"


def _novel_chem(rng: random.Random) -> tuple[str, str]:
    suffix, area = rng.choice(_CHEM_SUFFIXES)
    stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 2, 2))))
    if rng.random() < 0.4:
        stem += rng.choice(["l", "n", "r", "s", "x"])
    if stem[-1] in "aeiou" and suffix[0] in "aeiou":
        stem = stem[:-1]
    return stem + suffix, area


def _novel_disease(rng: random.Random, gene_names: list[str]) -> tuple[str, tuple[str, ...], str]:
    r = rng.random()
    if r < 0.3:
        name = rng.choice(_SURNAMES) + rng.choice([" syndrome", " disease", " 's disease"])
        return name, (rng.choice(_AREAS),), "g"
    if r < 0.55:
        organ, area = rng.choice(_ORGAN_ADJ)
        if rng.random() < 0.5:
            return f"{rng.choice(_DIS_ADJ_G)} {organ} {rng.choice(_DIS_PATH_G)}", (area,), "g"
        return f"{rng.choice(_DIS_ADJ_C)} {organ} {rng.choice(_DIS_PATH_C)}", (area,), "c"
    if r < 0.7 and gene_names:
        return f"{rng.choice(gene_names)} deficiency", (rng.choice(_AREAS),), "g"
    if r < 0.85:
        return f"{rng.choice(_CANCER_SITES)} {rng.choice(_CANCER_HISTO)}", ("onc",), "k"
    if rng.random() < 0.5:
        return f"spinocerebellar ataxia type {rng.randint(1, 48)}", ("neu",), "g"
    return f"Charcot-Marie-Tooth disease type {rng.randint(1, 4)}{rng.choice('ABCDEF')}", ("neu",), "g"


# ----------------------------------------------------------------------------- NER world
def _dx_kinds(area: str) -> str:
    """Kinds of disease patients in ``area`` are typically treated for (cancers in oncology)."""
    return {"onc": "k", "hem": "ck"}.get(area, "c")


class _NerWorld:
    """Lexicons, the seed-dependent train/validation/test partition of names, and novel names per split."""

    HOLDOUT = {"validation": 0.12, "test": 0.18}
    NOVEL = {"train": (90, 60, 50), "validation": (45, 30, 25), "test": (45, 30, 25)}

    def __init__(self, rng: random.Random):
        self.lex = {_CHEM: _parse_lexicon(_CHEM_LEX, _CHEM), _DIS: _parse_lexicon(_DIS_LEX, _DIS),
                    _GENE: _parse_lexicon(_GENE_LEX, _GENE)}
        self.by_name = {t: {e.name: e for e in ents} for t, ents in self.lex.items()}
        self.templates = []
        for text in _NER_TEMPLATES:
            areas = None
            if text.startswith("@"):
                head, text = text[1:].split(":", 1)
                areas = tuple(head.split(","))
            nodes = _parse_template(text.strip())
            slots = _template_slots(nodes, [])
            tables = [t for t in _PAIR_BIND if any(_PAIR_TRIGGER.get(s) == t for s in slots)]
            self.templates.append((nodes, tables[0] if tables else None, areas, "ICM" in slots))
        core: set[tuple[str, str]] = set()
        phrases = [p.split("#")[0] for group in _AREA_PHRASES.values() for ps in group.values() for p in ps]
        for text in _NER_TEMPLATES + [d for _, d in _parse_pairs(_DEFINITIONS, "::")] + phrases:
            core.update(_inline_entities(text))
        # Partition real names: ambiguous/core names always in train; the rest is held out per split by area.
        self.split_of: dict[tuple[str, str], str] = {}
        for etype, ents in self.lex.items():
            by_area: dict[str, list[_Ent]] = {}
            for e in ents:
                if "amb" in e.flags or "core" in e.flags or (e.name, etype) in core or e.kinds == "y":
                    self.split_of[(e.name, etype)] = "train"
                else:
                    by_area.setdefault(e.areas[0], []).append(e)
            for area in _AREAS:
                group = by_area.get(area, [])
                rng.shuffle(group)
                n_test = round(len(group) * self.HOLDOUT["test"])
                n_val = round(len(group) * self.HOLDOUT["validation"])
                for i, e in enumerate(group):
                    self.split_of[(e.name, etype)] = "test" if i < n_test else (
                        "validation" if i < n_test + n_val else "train")
        # Novel, compositional names: disjoint between splits and from every real name.
        taken = {e.name.lower() for ents in self.lex.values() for e in ents}
        adverse = [e for e in self.lex[_DIS] if "a" in e.kinds]
        self.novel: dict[str, dict[str, list[_Ent]]] = {}
        self.novel_ade: dict[str, list[tuple[str, str]]] = {}
        for split, (n_gene, n_chem, n_dis) in self.NOVEL.items():
            genes, chems, dises = [], [], []
            while len(genes) < n_gene:
                name = _novel_gene(rng)
                if name.lower() not in taken:
                    taken.add(name.lower())
                    kinds = "gt" if name.startswith(("ZNF", "ZBTB", "PRDM")) else "g"
                    genes.append(_Ent(name, _GENE, rng.sample(_AREAS, 2), kinds, novel=True))
            while len(chems) < n_chem:
                name, area = _novel_chem(rng)
                if name.lower() not in taken and len(name) > 6:
                    taken.add(name.lower())
                    chems.append(_Ent(name, _CHEM, (area,), "d", novel=True))
            while len(dises) < n_dis:
                name, areas, kind = _novel_disease(rng, [g.name for g in genes])
                if name.lower() not in taken:
                    taken.add(name.lower())
                    dises.append(_Ent(name, _DIS, areas, kind, novel=True))
            ade = []
            for c in chems:  # a plausible target and adverse events for each novel drug
                pool = [g for g in genes if c.areas[0] in g.areas] or genes
                c.targets = (rng.choice(pool).name,)
                fitting = [a for a in adverse if c.areas[0] in a.areas] or adverse
                ade += [(c.name, a.name) for a in rng.sample(fitting, min(2, len(fitting)))]
            self.novel[split] = {_GENE: genes, _CHEM: chems, _DIS: dises}
            self.novel_ade[split] = ade
        P = _parse_pairs
        self.pairs_raw = {
            "cyp": [((y, _GENE), (c, _CHEM)) for y, cs in P(_CYP_PAIRS) for c in cs.split(";")],
            "tgt": [((e.name, _CHEM), (t, _GENE)) for e in self.lex[_CHEM] if e.kinds == "d" for t in e.targets],
            "trial": [((t, ""), (c, _CHEM)) for t, c in P(_TRIAL_PAIRS)],
            "ade": [((c, _CHEM), (d, _DIS)) for c, ds in P(_ADE_PAIRS) for d in ds.split(";")],
            "bio": [((g, _GENE), (d, _DIS)) for g, ds in P(_BIOMARKER_PAIRS) for d in ds.split(";")],
            "scale": [((sc, ""), (d, _DIS)) for sc, ds in P(_SCALE_PAIRS) for d in ds.split(";")],
            "ind": [((c, _CHEM), (d, _DIS)) for c, ds in P(_IND_PAIRS) for d in ds.split(";")],
            "gen": [((d, _DIS), (g, _GENE)) for d, gs in P(_GENETIC_PAIRS) for g in gs.split(";")],
            "lig": [((c, _CHEM), (g, _GENE)) for c, g in P(_LIGAND_PAIRS)],
            "tox": [((c, _CHEM), (d, _DIS)) for c, _a, ds in P(_TOXIN_PAIRS) for d in ds.split(";")],
            "env": [((c, _CHEM), (d, _DIS)) for c, ds, _u in P(_ENV_PAIRS) for d in ds.split(";")],
            "envu": [((c, _CHEM), (d, _DIS)) for c, ds, u in P(_ENV_PAIRS) if u for d in ds.split(";")],
            "sym": [((sy, _GENE), (pr, _GENE)) for sy, pr in P(_SYMBOL_PAIRS)],
        }
        for table in self.pairs_raw.values():
            for pair in table:
                for name, etype in pair:
                    if etype and name not in self.by_name[etype]:
                        raise ValueError(f"pair member {name!r} ({etype}) missing from lexicon")
        self.pairs_raw["indp"] = [p for p in self.pairs_raw["ind"] if "p" in self.by_name[_CHEM][p[0][0]].kinds]
        self.tox_area = {c: a for c, a, _ in P(_TOXIN_PAIRS)}
        self.definitions = P(_DEFINITIONS, "::")
        for d, _ in self.definitions:
            if d not in self.by_name[_DIS]:
                raise ValueError(f"defined disease {d!r} missing from lexicon")


class _SplitPools:
    """Entity pools for one split: names seen in train, names unseen in train, and linked pairs."""

    def __init__(self, world: _NerWorld, split: str, rng: random.Random):
        self.split = split
        self.seen: dict[str, list[_Ent]] = {}
        self.unseen: dict[str, list[_Ent]] = {}
        for etype, ents in world.lex.items():
            self.seen[etype] = [e for e in ents if world.split_of[(e.name, etype)] == "train"]
            held = [e for e in ents if world.split_of[(e.name, etype)] == split] if split != "train" else []
            self.unseen[etype] = held + world.novel[split][etype]
        self.seen_names = {(e.name, e.etype) for ents in self.seen.values() for e in ents}
        self.ent = {(e.name, e.etype): e for group in (self.seen, self.unseen) for ents in group.values()
                    for e in ents}
        allowed = set(self.ent)
        self.pairs: dict[str, list[tuple]] = {}
        for key, table in world.pairs_raw.items():
            rows = []
            for a, b in table:
                if not a[1]:  # first member is a non-entity name (trial, scale)
                    if b in allowed:
                        rows.append((a[0], self.ent[b]))
                elif a in allowed and b in allowed:
                    rows.append((self.ent[a], self.ent[b]))
            self.pairs[key] = rows
        novel = world.novel[split]
        self.pairs["tgt"] += [(c, self.ent[(c.targets[0], _GENE)]) for c in novel[_CHEM]]
        self.pairs["ade"] += [(self.ent[(c, _CHEM)], self.ent[(d, _DIS)]) for c, d in world.novel_ade[split]
                              if (d, _DIS) in allowed]
        # Indications for novel drugs, and drugs for novel diseases, drawn from what this split may use.
        dis_pool = self.seen[_DIS] + self.unseen[_DIS]
        drug_pool = [e for e in self.seen[_CHEM] + self.unseen[_CHEM] if e.kinds == "d"]
        for c in novel[_CHEM]:
            fitting = [d for d in dis_pool if c.areas[0] in d.areas and any(k in _dx_kinds(c.areas[0])
                                                                             for k in d.kinds)]
            for d in rng.sample(fitting, min(len(fitting), rng.randint(1, 3))):
                self.pairs["ind"].append((c, d))
        for d in novel[_DIS]:
            if d.kinds in ("c", "k"):
                fitting = [c for c in drug_pool if d.areas[0] in c.areas]
                for c in rng.sample(fitting, min(len(fitting), 2)):
                    self.pairs["ind"].append((c, d))
        genes = novel[_GENE]
        for d in novel[_DIS]:
            if d.kinds == "g" and genes:
                gene = next((g for g in genes if d.name.startswith(g.name + " ")), None)
                self.pairs["gen"].append((d, gene or genes[_stable_index(d.name, len(genes))]))
        self.pairs["def"] = [(self.ent[(d, _DIS)], defn) for d, defn in world.definitions if (d, _DIS) in allowed]
        self.ade_of: dict[str, list[_Ent]] = {}
        for c, d in self.pairs["ade"]:
            self.ade_of.setdefault(c.name, []).append(d)
        self.ind_of: dict[str, list[_Ent]] = {}
        self.drugs_for: dict[str, list[_Ent]] = {}
        for c, d in self.pairs["ind"]:
            self.ind_of.setdefault(c.name, []).append(d)
            self.drugs_for.setdefault(d.name, []).append(c)
        self.tox_area = world.tox_area
        self._memo: dict[tuple, list[_Ent]] = {}

    def is_unseen(self, ent) -> bool:
        return isinstance(ent, _Ent) and (ent.name, ent.etype) not in self.seen_names

    def candidates(self, which: str, etype: str, kinds: str, exclude: str, area: str | None) -> list[_Ent]:
        """Pool entries of ``etype`` with a matching kind and area (ambiguous names weighted by repetition)."""
        key = (which, etype, kinds, exclude, area)
        got = self._memo.get(key)
        if got is None:
            pool = self.seen[etype] if which == "seen" else self.unseen[etype]
            got = []
            for e in pool:
                if (any(k in kinds for k in e.kinds) and not any(k in exclude for k in e.kinds)
                        and (area is None or area in e.areas)):
                    got.extend([e] * (3 if "amb" in e.flags else 1))
            self._memo[key] = got
        return got


def _stable_index(text: str, n: int) -> int:
    """A process-independent index in ``range(n)`` derived from ``text`` (Python's str hash is salted)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text)) % n


class _Retry(Exception):
    """Raised when a template cannot be filled for the chosen area; the caller picks again."""


class _NerSentence:
    """Renders one template into (token, tag) pairs for one split."""

    P_UNSEEN = 0.38  # validation/test: chance a slot is filled with a name never seen in train
    P_NOVEL_TRAIN = 0.12  # train: chance a slot uses a compositional (novel) name

    def __init__(self, rng: random.Random, pools: _SplitPools):
        self.rng = rng
        self.pools = pools
        self.area = ""
        self.bound: dict[str, object] = {}
        self.out: list[tuple[str, str]] = []
        self.outcomes_used: list[str] = []

    def _prefer_unseen(self) -> bool:
        p = self.P_NOVEL_TRAIN if self.pools.split == "train" else self.P_UNSEEN
        return self.rng.random() < p

    def _used(self) -> set[str]:
        return {e.name for e in self.bound.values() if isinstance(e, _Ent)}

    def choose(self, options: list):
        """Pick from ``options``, favouring names unseen in train at the split's rate."""
        if not options:
            raise _Retry
        if self._prefer_unseen():
            fresh = [o for o in options if self.pools.is_unseen(o)]
            if fresh:
                return self.rng.choice(fresh)
        return self.rng.choice(options)

    def pick(self, etype: str, kinds: str, exclude: str, area: str | None) -> _Ent:
        """Choose an entity of ``etype`` not already used in this sentence."""
        used = self._used()
        for which in (["unseen", "seen"] if self._prefer_unseen() else ["seen"]):
            cands = [e for e in self.pools.candidates(which, etype, kinds, exclude, area) if e.name not in used]
            if cands:
                return self.rng.choice(cands)
        raise _Retry

    def choose_pair(self, table: str, areas: tuple[str, ...] | None, single_drug: bool) -> None:
        fresh = self._prefer_unseen()
        pairs = self._pairs(table, areas, single_drug, fresh)
        if fresh and not pairs:
            pairs = self._pairs(table, areas, single_drug, False)
        if not pairs:
            raise _Retry
        a, b = self.rng.choice(pairs)
        self.area = self._pair_area(table, a, b)
        first, second = _PAIR_BIND[table]
        self.bound[first] = a
        self.bound[second] = b
        if table == "ind":
            self.bound["ICM"] = a

    def _pairs(self, table: str, areas: tuple[str, ...] | None, single_drug: bool, fresh: bool) -> list:
        """The pairs of ``table`` usable here (memoised per split)."""
        key = ("pairs", table, areas, single_drug, fresh)
        got = self.pools._memo.get(key)
        if got is None:
            got = self.pools.pairs[table]
            if table == "ind" and single_drug:
                got = [p for p in got if p[0].kinds == "d"]
            if fresh:
                got = [p for p in got if any(self.pools.is_unseen(x) for x in p)]
            if areas:
                got = [p for p in got if self._pair_area(table, *p) in areas]
            self.pools._memo[key] = got
        return got

    def _pair_area(self, table: str, a, b) -> str:
        if table == "tox":
            return self.pools.tox_area.get(a.name, a.areas[0])
        if table in ("env", "envu", "trial", "scale", "ind", "indp", "bio"):
            return b.areas[0]
        return a.areas[0]

    # -- rendering
    def emit_entity(self, toks: tuple[str, ...], etype: str) -> None:
        for i, tok in enumerate(toks):
            self.out.append((tok, ("B-" if i == 0 else "I-") + etype))

    def emit_words(self, text: str) -> None:
        self.render(_parse_template(text))

    def render(self, nodes: list) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "w":
                self.out.append((node[1], "O"))
            elif kind == "ent":
                self.emit_entity(node[1], node[2])
            elif kind == "opt":
                if self.rng.random() < 0.5:
                    self.render(node[1])
            elif kind == "alt":
                self.render(self.rng.choice(node[1]))
            else:
                self.slot(node[1])

    def outcome(self) -> tuple[str, str]:
        """An outcome phrase for the area, restricted to the bound disease when there is one."""
        options = _AREA_PHRASES["OUT"].get(self.area)
        if not options:
            raise _Retry
        disease = next((self.bound[k] for k in _DISEASE_SLOTS if k in self.bound), None)
        fitting, specific = [], []
        for phrase in options:
            text, _, only = phrase.partition("#")
            names = [n for item in only.split(";") if item
                     for n in (_OUTCOME_GROUPS[item[1:]] if item.startswith("@") else [item])]
            if disease is not None and disease.name in names:
                specific.append(text)
            if not names or (disease is not None and disease.name in names):
                fitting.append(text)
        if disease is not None:
            if specific and self.rng.random() < 0.7:  # prefer disease-specific outcomes when there are any
                fitting = specific
            # never "patients with proteinuria ... reduced proteinuria"
            fitting = [p for p in fitting if disease.name not in p] or fitting
        if not fitting:
            raise _Retry
        fitting = [p for p in fitting if p not in self.outcomes_used] or fitting
        phrase = self.rng.choice(fitting)
        self.outcomes_used.append(phrase)
        return phrase[0], phrase[1:]

    def slot(self, name: str) -> None:
        rng, area = self.rng, self.area
        if name in ("MD", "MID"):  # optional clinical modifier + disease
            ent = self.entity_for("DX" if name == "MD" else "ID")
            mods = _MODIFIERS.get(ent.kinds[0])
            if mods and rng.random() < 0.3:
                self.emit_words(rng.choice(mods))
            self.emit_entity(ent.toks, _DIS)
        elif name in _ENT_SLOTS or name in _PAIR_SLOT_NAMES:
            ent = self.entity_for(name)
            if isinstance(ent, str):  # a trial/scale name or a definition (text with inline entities)
                self.emit_words(ent)
                return
            etype = ent.etype
            if name == "LIG" and "p" in ent.kinds:  # protein hormones acting as ligands are proteins, not drugs
                etype = _GENE
            self.emit_entity(ent.toks, etype)
        elif name in ("EOUT", "NOUT"):
            sign, phrase = self.outcome()
            if name == "EOUT":
                verb = rng.choice({"-": ["reduced", "lowered", "decreased"], "+": ["improved", "increased"],
                                   "~": ["improved"]}[sign])
            else:
                verb = rng.choice({"-": ["did not reduce", "failed to reduce"], "+": ["did not improve",
                                   "failed to improve"], "~": ["did not improve"]}[sign])
            self.emit_words(f"{verb} {phrase}")
        elif name == "OUT":
            self.emit_words(self.outcome()[1])
        elif name == "CHANGE":  # "improvement in X" or, where lower is better, "reduction in X"
            sign, phrase = self.outcome()
            self.emit_words(f"{'reduction' if sign == '-' else 'improvement'} in {phrase}")
        elif name in _AREA_PHRASES:
            options = _AREA_PHRASES[name].get(area)
            if not options:
                raise _Retry
            self.emit_words(rng.choice(options))
        elif name in _ASSAY_SETS:
            self.emit_words(rng.choice(_ASSAY_SETS[name]))
        elif name == "N":
            n = rng.choice([rng.randint(12, 480), rng.randint(500, 9800)])
            self.out.append((f"{n:,}", "O"))
        elif name == "NT":  # trial size
            self.out.append((f"{rng.randint(120, 4800):,}", "O"))
        elif name == "NC":
            self.out.append((f"{rng.randint(5, 520) * 1000 + rng.randint(0, 999):,}", "O"))
        elif name == "NUM":
            self.out.append((str(rng.randint(2, 24)), "O"))
        elif name == "NM":
            self.out.append((str(rng.choice([0.4, 1.2, 2.5, 3.8, 7, 12, 35, 80])), "O"))
        elif name == "PCT":
            val = rng.choice([f"{rng.randint(2, 68)}", f"{rng.randint(1, 45)}.{rng.randint(1, 9)}"])
            self.emit_words(f"{val} %")
        elif name == "PCTPAIR":
            hi = rng.randint(6, 40)
            self.emit_words(f"( {hi}.{rng.randint(0, 9)} % versus {rng.randint(1, hi - 2)}.{rng.randint(0, 9)} % )")
        elif name == "P":
            self.emit_words(rng.choice(["( P < 0.001 )", "( P < 0.01 )", f"( P = 0.0{rng.randint(1, 4)} )",
                                        "( P < 0.05 )"]))
        elif name == "HR":
            est = rng.uniform(0.42, 0.88)
            self.emit_words(f"( hazard ratio {est:.2f} ; 95 % CI {est * rng.uniform(0.7, 0.9):.2f}-"
                            f"{min(0.99, est * rng.uniform(1.1, 1.3)):.2f} )")
        elif name in ("CI", "CIUP", "CIDOWN"):  # a ratio with its confidence interval (>1 for CIUP, <1 for CIDOWN)
            up = {"CIUP": True, "CIDOWN": False}.get(name, rng.random() < 0.5)
            est = rng.uniform(1.2, 2.9) if up else rng.uniform(0.45, 0.9)
            lo, hi = est * rng.uniform(0.7, 0.9), est * rng.uniform(1.1, 1.35)
            measure = rng.choice(["hazard ratio", "odds ratio", "relative risk"])
            self.emit_words(f"( {measure} {est:.2f} ; 95 % CI {lo:.2f}-{hi:.2f} )")
        elif name == "DOSE":
            self.emit_words(f"{rng.choice([1, 5, 10, 20, 25, 50, 100, 200])} mg/kg")
        elif name == "DD":
            self.emit_words(f"{rng.choice([2.5, 5, 10, 20, 40, 50, 100, 200, 500])} mg "
                            f"{rng.choice(['daily', 'twice daily', 'once daily'])}")
        elif name == "TIME":
            unit, lo, hi = rng.choice([("weeks", 2, 52), ("months", 2, 24), ("days", 3, 28), ("years", 2, 5)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "ATIME":  # duration of an animal experiment
            unit, lo, hi = rng.choice([("days", 3, 28), ("weeks", 2, 16)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "RTIME":
            unit, lo, hi = rng.choice([("days", 3, 14), ("weeks", 2, 6)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "PERIOD":
            start = rng.randint(2003, 2018)
            self.emit_words(f"between {start} and {start + rng.randint(2, 6)}")
        elif name == "AGESEX":
            self.emit_words(f"{rng.randint(19, 86)}-year-old {rng.choice(['woman', 'man'])}")
        elif name == "SNP":
            self.out.append((f"rs{rng.randint(100000, 99999999)}", "O"))
        elif name == "VAR":
            ref, alt = rng.sample(_AA, 2)
            var = rng.choice([f"{ref}{rng.randint(12, 1400)}{alt}",
                              "c.{}{}>{}".format(rng.randint(40, 4000), *rng.sample("ACGT", 2))])
            self.out.append((var, "O"))
        else:
            raise ValueError(f"unknown slot ${name}")

    def entity_for(self, name: str):
        if name in self.bound:
            return self.bound[name]
        if name not in _ENT_SLOTS:
            raise _Retry  # a pair slot whose pair was not chosen
        etype, kinds, exclude = _ENT_SLOTS[name]
        area, pools, used = self.area, self.pools, self._used()
        drug = next((self.bound[k] for k in _DRUG_SLOTS if k in self.bound), None)
        disease = next((self.bound[k] for k in _DISEASE_SLOTS if k in self.bound), None)
        if name in ("A", "A2"):  # adverse events of the bound drug, else ones fitting the area
            options = [d for d in pools.ade_of.get(getattr(drug, "name", ""), []) if d.name not in used]
            ent = self.choose(options) if options else self.pick(etype, kinds, exclude, area)
        elif name == "ID":  # a disease the bound drug treats
            if drug is None:
                ent = self.pick(_DIS, _dx_kinds(area), "am", area)
            else:
                ent = self.choose([d for d in pools.ind_of.get(drug.name, []) if d.name not in used])
        elif name in ("IC", "ICM", "IC2"):  # a drug used for the bound disease
            if disease is None:
                ent = self.pick(etype, kinds, exclude, area)
            else:
                ent = self.choose([c for c in pools.drugs_for.get(disease.name, [])
                                   if c.name not in used and any(k in kinds for k in c.kinds)])
        elif name == "DX":
            ent = self.pick(etype, _dx_kinds(area), "am", area)
        else:
            ent = self.pick(etype, kinds, exclude, None if name in ("CYP", "NUTR", "TF", "TF2") else area)
        self.bound[name] = ent
        return ent


def _capitalise(tok: str) -> str:
    return tok[0].upper() + tok[1:] if re.fullmatch(r"[a-z][a-z\-']*", tok) else tok


def _ner_split(rng: random.Random, world: _NerWorld, split: str, size: int, used: set) -> dict[str, list]:
    pools = _SplitPools(world, split, rng)
    tokens_out, tags_out = [], []
    # Cycle through templates in shuffled rounds so every template is used evenly in every split.
    order: list[int] = []
    while len(tokens_out) < size:
        if not order:
            order = list(range(len(world.templates)))
            rng.shuffle(order)
        nodes, table, areas, single_drug = world.templates[order.pop()]
        for _attempt in range(40):
            sent = _NerSentence(rng, pools)
            try:
                if table:
                    sent.choose_pair(table, areas, single_drug)
                else:
                    sent.area = rng.choice(areas or _AREAS)
                sent.render(nodes)
            except _Retry:
                continue
            toks = [t for t, _ in sent.out]
            if not 6 <= len(toks) <= 40:
                continue
            toks[0] = _capitalise(toks[0])
            key = " ".join(toks)
            if key in used:
                continue
            used.add(key)
            tokens_out.append(toks)
            tags_out.append([tag for _, tag in sent.out])
            break
    return {"tokens": tokens_out, "tags": tags_out}


def demo_ner(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded biomedical NER demo corpus.

    Sentences are abstract-like biomedical prose, tokenised Penn/CoNLL style, tagged in IOB2 with the
    entity types ``Disease``, ``Chemical`` and ``Gene/Protein``. Entity types often depend on context
    (e.g. "insulin" administered vs. "insulin" gene expression; "ACE" vs. "ACE inhibitors"), part of each
    lexicon is held out of train, and validation/test also contain compositional names never seen in train.

    Args:
        seed: Seed for ``random.Random``; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), each with
        columns ``tokens`` (list of str) and ``tags`` (list of str).
    """
    rng = random.Random(seed)
    world = _NerWorld(rng)
    used: set[str] = set()
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.Value("string"))})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(_ner_split(rng, world, split, size, used), features=features)
        for split, size in _SPLITS
    })
