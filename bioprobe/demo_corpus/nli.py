"""Generates the demo clinical NLI corpus: MedNLI-style premise/hypothesis pairs labelled by evaluating facts.

The conditions, drugs, labs, symptoms, plans and other wordings come from the tables in ``data/nli/`` (see each
file's header for its format); premises and hypotheses are built from them with ``random.Random(seed)``.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Callable

import datasets

from bioprobe.demo_corpus import tables

__all__ = ["demo_nli"]

_SPLITS = tables.SPLITS


# ----------------------------------------------------------------------------- data files
def _lab(row: list[str]) -> tuple:
    """One row of labs.txt as (premise names, hypothesis name, unit, low, high, {range: (lo, hi)}, decimals).

    Ranges are written ``high=1.8..6.5;normal=0.7..1.1`` and keep their order; numbers keep their written type.
    """
    _key, names, hyp, unit, low, high, ranges, decimals = row
    spans = {}
    for item in tables.items(ranges):
        rname, span = item.split("=")
        lo, hi = span.split("..")
        spans[rname.strip()] = (tables.number(lo), tables.number(hi))
    return tables.items(names), hyp, unit, tables.number(low), tables.number(high), spans, int(decimals)


def _lab_meanings(name: str) -> dict[str, list[tuple]]:
    """lab_meanings.txt: lab -> [(hypothesis, true-if, false-if)], the conditions as functions of the value."""
    out: dict[str, list[tuple]] = {}
    for lab, text, true_if, false_if in tables.rows(name):
        out.setdefault(lab, []).append((text, tables.condition(true_if), tables.condition(false_if)))
    return out


def _causes(name: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """Read causes.txt ("@target|subjects" headers, then "key|premise phrase|hypothesis phrase|implied" lines).

    Returns:
        target -> (subject noun phrases, [(cause key, premise phrase or None, hypothesis phrase, implied condition
        or None)]).
    """
    out: dict[str, tuple[list[str], list[tuple]]] = {}
    causes = None
    for row in tables.rows(name):
        if row[0].startswith("@"):
            causes = []
            out[row[0][1:]] = (tables.items(row[1]), causes)
        elif causes is None:
            raise ValueError(f"{name}: {row!r} comes before the first @target header")
        else:
            key, premise, hyp, implied = row
            causes.append((key, premise or None, hyp, implied or None))
    return out


# A hypothesis is a (text, value) pair: value True -> entailment, False -> contradiction, None -> neutral (not
# determined by the premise) and "?" -> ambiguous, never used. The same hypothesis wordings are produced for
# every premise whose facts bear on them, so one wording occurs under all three labels.
_ENTAIL, _CONTRA, _NEUTRAL = "entailment", "contradiction", "neutral"
_AMBIG = "?"
_LABELS = (_ENTAIL, _NEUTRAL, _CONTRA)

# Conditions: key -> (premise names, chronic/past?). Chronic ones belong to the past medical history.
_COND_ROWS = tables.rows("nli/conditions.txt")
_CONDS = {key: (tables.items(names), history == "chronic") for key, history, names, _implies in _COND_ROWS}
# Implications: having the key condition means also having these.
_COND_IMPLIES = {key: tuple(tables.items(implies)) for key, _history, _names, implies in _COND_ROWS if implies}
# Hypothesis phrases about conditions: (phrase, condition keys it describes, verb form). Forms: "has" (has /
# does not have), "had" (has had / has never had, for events), "hx" (also "has a history of"), "hxonly" (only
# "has a history of", for conditions that may be past).
_COND_PHRASES = [(phrase, tuple(tables.items(keys)), form)
                 for phrase, keys, form in tables.rows("nli/condition_phrases.txt")]

_CHRONIC = {key: chronic for key, (_names, chronic) in _CONDS.items()}
_PHRASES_BY_COND: dict[str, list[int]] = {}
for _i, _phrase in enumerate(_COND_PHRASES):
    for _key in _phrase[1]:
        _PHRASES_BY_COND.setdefault(_key, []).append(_i)

# Drugs: key -> classes. Names are the keys with "_" read as a space.
_DRUG_ROWS = tables.rows("nli/drugs.txt")
_NLI_DRUGS = {key: tuple(tables.items(classes)) for key, classes, _suggests in _DRUG_ROWS}
# Drugs that strongly suggest a condition: hypotheses about those conditions are then ambiguous, never used.
_DRUG_SUGGESTS = {key: tuple(tables.items(suggests)) for key, _classes, suggests in _DRUG_ROWS if suggests}
# Medication hypothesis phrases: (positive phrase, negated phrase, classes).
_MED_PHRASES = [(pos, neg, tuple(tables.items(classes)))
                for pos, neg, classes in tables.rows("nli/medication_phrases.txt")]
# Diagnosis -> treatments "drug [and drug]" (an "intravenous " prefix is allowed).
_DX_TREATMENT = {dx: tables.items(treatments) for dx, treatments in tables.rows("nli/diagnosis_treatments.txt")}
# Labs: key -> (premise names, hypothesis name, unit, low, high, {range name: (lo, hi)}, decimals).
_LABS = {row[0]: _lab(row) for row in tables.rows("nli/labs.txt")}
# Lab interpretations: lab -> [(hypothesis, true-if, false-if)] over the value; neither -> ambiguous.
_LAB_MEANING = _lab_meanings("nli/lab_meanings.txt")
# Labs that belong together (neutral hypotheses about an unmeasured related lab).
_LAB_LINKS = tables.rows("nli/lab_links.txt")
_LAB_RELATED = {lab: tables.items(related) for lab, related, _conds, _plans in _LAB_LINKS}
_PLAN_PREMISES = tables.sections("nli/plan_premises.txt")
_DX_PLAN_PREMISES = [tuple(row) for row in tables.fields(_PLAN_PREMISES["diagnosis"])]
_LAB_PLAN_PREMISES = [tuple(row) for row in tables.fields(_PLAN_PREMISES["lab"])]
_LAB_CONDS = {lab: tables.items(conds) for lab, _related, conds, _plans in _LAB_LINKS}

# Causes: target -> (subject noun phrases, [(cause key, premise phrase or None, hypothesis phrase, implied cond)]).
_CAUSES = _causes("nli/causes.txt")
_LAB_CAUSE_TARGET = {(lab, rname): target for lab, rname, target in tables.rows("nli/lab_cause_targets.txt")}
# Plans: key -> (premise phrase, noun for "declined", positive hypotheses, negated hypotheses).
_PLANS = {key: (premise, noun or None, tables.items(pos), tables.items(neg))
          for key, premise, noun, pos, neg in tables.rows("nli/plans.txt")}
_DX_PLANS = {dx: tables.items(plans) for dx, plans in tables.rows("nli/diagnosis_plans.txt")}
_LAB_PLANS = {lab: tables.items(plans) for lab, _related, _conds, plans in _LAB_LINKS}

# Symptoms: key -> (premise phrases, positive hypotheses, negated hypotheses, is pain).
_SYMPTOMS = {key: (tables.items(premise), tables.items(pos), tables.items(neg), pain == "yes")
             for key, pain, premise, pos, neg in tables.rows("nli/symptoms.txt")}
_SYMPTOM_LINKS = tables.rows("nli/symptom_links.txt")
_SYMPTOM_RELATED = {key: tables.items(related) for key, related, _conds in _SYMPTOM_LINKS}
_SYMPTOM_CONDS = {key: tables.items(conds) for key, _related, conds in _SYMPTOM_LINKS if conds}

# Family history: condition key -> premise phrase; hypothesis categories (phrase, "had" phrase, condition keys).
_FAMILY = tables.sections("nli/family_history.txt")
_FAMILY_CONDS = dict(tables.fields(_FAMILY["conditions"]))
_FAMILY_CATS = [(phrase, had, tuple(tables.items(keys))) for phrase, had, keys in tables.fields(_FAMILY["categories"])]
_RELATIVES = _FAMILY["relatives"]

# Allergens: key -> (premise names, hypothesis names); reactions.
_ALLERGIES = tables.sections("nli/allergies.txt")
_ALLERGENS = {key: (tables.items(premise), tables.items(hyp))
              for key, premise, hyp in tables.fields(_ALLERGIES["allergens"])}
_REACTIONS = _ALLERGIES["reactions"]
# Test findings: key -> premise text ("{side}": left or right).
_FINDINGS = tables.sections("nli/findings.txt")
_CXR = dict(tables.fields(_FINDINGS["chest_xray"]))
_CTHEAD = dict(tables.fields(_FINDINGS["head_ct"]))
_ECG = dict(tables.fields(_FINDINGS["ecg"]))
# Past procedures: key -> (name, implied condition or None, surgical?).
_PROCS = {key: (name, cond or None, surgical == "yes")
          for key, name, cond, surgical in tables.rows("nli/procedures.txt")}
# Blood culture organisms: (name, gram stain).
_ORGANISMS = [tuple(row) for row in tables.rows("nli/organisms.txt")]
# Social history: jobs and living situations (key -> premise text), smoking and alcohol (status -> wordings).
_SOCIAL = tables.sections("nli/social_history.txt")
_JOBS = dict(tables.fields(_SOCIAL["jobs"]))
_LIVING = dict(tables.fields(_SOCIAL["living"]))
# Surnames for "Mr./Ms. <surname>".
_SURNAMES_NLI = tables.lines("nli/surnames.txt")


class _Facts:
    """What a premise establishes about the patient (None: not stated)."""

    def __init__(self):
        self.sex: str | None = None
        self.age: int | None = None
        self.smoking: tuple | None = None  # possible values among current/former/never
        self.alcohol: tuple | None = None  # possible values among heavy/moderate/none
        self.conds: dict[str, bool] = {}
        self.suggested: list[str] = []  # conditions suggested (not stated) by the premise
        self.cond_complete = False  # "no past medical history": every chronic condition is absent
        self.dx: str | None = None  # the acute problem the premise is about
        self.dx_reason = False  # the premise says it is the reason for admission
        self.meds: list[str] = []  # active medications
        self.home: list[str] = []  # regular home medications
        self.home_complete = False
        self.stopped: list[str] = []
        self.allergies: list[str] = []
        self.nkda = False
        self.reaction: str | None = None
        self.labs: dict[str, float] = {}
        self.trend: dict[str, str] = {}
        self.vitals: dict[str, float] = {}
        self.symptoms: dict[str, bool] = {}
        self.asymptomatic = False
        self.sym_days: int | None = None
        self.family: list[tuple[str, str]] = []
        self.family_neg: list[str] = []
        self.deceased: dict[str, bool] = {}
        self.cxr: tuple | None = None
        self.cthead: tuple | None = None
        self.ecg: str | None = None
        self.ef: int | None = None
        self.unit: str | None = None  # where the patient was admitted (icu / ward)
        self.dispo: str | None = None  # where the patient was discharged to (home / rehab)
        self.cause: dict[str, str] = {}
        self.plan: dict[str, bool] = {}
        self.status: dict[str, bool] = {}
        self.procs: list[str] = []
        self.living: str | None = None
        self.job: str | None = None
        self.culture: tuple | None = None
        self.course: tuple | None = None

    def add_cond(self, key: str, present: bool = True) -> None:
        self.conds[key] = present
        if present:
            for implied in _COND_IMPLIES.get(key, ()):
                self.conds[implied] = True

    def add_meds(self, keys: list[str], home: bool) -> None:
        for key in keys:
            self.meds.append(key)
            if home:
                self.home.append(key)
            self.suggested.extend(_DRUG_SUGGESTS.get(key, ()))


@functools.lru_cache(maxsize=None)
def _tok(text: str) -> str:
    """Penn-style tokenisation of the few contractions used in hypotheses and premises."""
    return re.sub(r"(\w)'s\b", r"\1 's", text)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _set_value(possible: tuple | None, true_set: tuple):
    """Truth of "value in true_set" given the possible values (None: unknown)."""
    if possible is None:
        return None
    if all(p in true_set for p in possible):
        return True
    if not any(p in true_set for p in possible):
        return False
    return None


# ----------------------------------------------------------------------------- hypothesis families
def _h_sex(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient is male .", "m"), ("The patient is a man .", "m"), ("The patient is female .", "f"),
            ("The patient is a woman .", "f"), ("The patient is not a woman .", "m"),
            ("The patient is not male .", "f")]
    return [(t, None if f.sex is None else f.sex == v) for t, v in opts]


def _h_age(f: _Facts, rng: random.Random) -> list:
    a = f.age
    if a is None:
        thresholds = [rng.choice([30, 40, 50, 60, 65, 70, 75, 80])]
    else:
        thresholds = [max(20, 5 * round((a - rng.randint(4, 15)) / 5)), 5 * round((a + rng.randint(4, 15)) / 5)]
    out = []
    for t in thresholds:
        if a is not None and t == a:
            continue
        out.append((f"The patient is over {t} years old .", None if a is None else a > t))
        out.append((f"The patient is younger than {t} .", None if a is None else a < t))

    def band(true_if, false_if):
        if a is None:
            return None
        return True if true_if(a) else (False if false_if(a) else _AMBIG)

    out += [("The patient is elderly .", band(lambda x: x >= 70, lambda x: x <= 55)),
            ("The patient is not elderly .", band(lambda x: x <= 55, lambda x: x >= 70)),
            ("The patient is a young adult .", band(lambda x: x <= 30, lambda x: x >= 40)),
            ("The patient is middle-aged .", band(lambda x: 45 <= x <= 60, lambda x: x <= 35 or x >= 70))]
    return out


def _h_smoking(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient smokes .", ("current",)), ("The patient is a current smoker .", ("current",)),
            ("The patient has never smoked .", ("never",)), ("The patient does not smoke .", ("former", "never")),
            ("The patient has a history of tobacco use .", ("current", "former")),
            ("The patient quit smoking .", ("former",)), ("The patient uses tobacco .", ("current",))]
    return [(t, _set_value(f.smoking, s)) for t, s in opts]


def _h_alcohol(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient drinks alcohol .", ("heavy", "moderate")),
            ("The patient does not drink alcohol .", ("none",)),
            ("The patient drinks heavily .", ("heavy",)), ("The patient abstains from alcohol .", ("none",)),
            ("The patient drinks only occasionally .", ("moderate",))]
    return [(t, _set_value(f.alcohol, s)) for t, s in opts]


def _cond_status(f: _Facts, key: str) -> str:
    """T (present), F (absent), A (ambiguous) or U (unknown) for one condition."""
    known = f.conds.get(key)
    if known is not None:
        return "T" if known else "F"
    if key in f.suggested:
        return "A"
    if _CHRONIC[key]:
        return "F" if f.cond_complete else "U"
    return "A" if f.dx is not None else "U"  # "A": another acute problem than the one described


def _cond_value(f: _Facts, keys: tuple):
    states = {_cond_status(f, k) for k in keys}
    if "T" in states:
        return True
    if states == {"F"}:
        return False
    return None if "U" in states else _AMBIG


def _neg(value):
    return (not value) if isinstance(value, bool) else value


def _h_cond(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    related = [_COND_PHRASES[i] for i in sorted({i for k in keys for i in _PHRASES_BY_COND.get(k, ())})]
    others = rng.sample(_COND_PHRASES, 3)
    out = []
    for phrase, members, form in related + others:
        value = _cond_value(f, members)
        if form == "had":
            out += [(f"The patient has had {phrase} .", value), (f"The patient has never had {phrase} .", _neg(value))]
        elif form != "hxonly":
            out += [(f"The patient has {phrase} .", value), (f"The patient does not have {phrase} .", _neg(value))]
        chronic = tuple(k for k in members if _CONDS[k][1])
        if form in ("hx", "had", "hxonly") and chronic:
            acute_now = any(f.conds.get(k) and not _CONDS[k][1] for k in members)
            hx = _AMBIG if acute_now else _cond_value(f, chronic)
            out += [(f"The patient has a history of {phrase} .", hx),
                    (f"The patient has no history of {phrase} .", _neg(hx))]
    return out


def _h_admit(f: _Facts, rng: random.Random) -> list:
    if f.dx is None or not f.dx_reason:
        return []
    out = []
    for phrase, members, _form in _COND_PHRASES:
        acute = [k for k in members if not _CONDS[k][1] or k == f.dx]
        if not acute:
            continue
        if f.dx in members:
            value = True
        elif any(f.conds.get(k) or k in f.suggested for k in members):
            value = _AMBIG
        else:
            value = False
        verb = rng.choice(["was admitted with", "was admitted for", "presented with"])
        out.append((f"The patient {verb} {phrase} .", value))
    return out


def _active_classes(f: _Facts, keys: list[str]) -> list[str]:
    return [c for k in keys for c in _NLI_DRUGS[k]]


def _h_meds(f: _Facts, rng: random.Random, classes: list[str]) -> list:
    active = [k for k in f.meds if k not in f.stopped]
    act_classes = _active_classes(f, active)
    stopped_classes = _active_classes(f, f.stopped)
    related = [p for p in _MED_PHRASES if any(c in classes for c in p[2])]
    out = []
    for pos, neg, cls in related + rng.sample(_MED_PHRASES, 3):
        if any(c in act_classes for c in cls):
            value = True
        elif f.home_complete and not [k for k in f.meds if k not in f.home]:
            value = False
        elif any(c in stopped_classes for c in cls):
            value = False
        else:
            value = None
        verb = rng.choice(["is on", "is taking", "is receiving"])
        out += [(f"The patient {verb} {pos} .", value), (f"The patient is not taking {neg} .", _neg(value))]
    for key in active[:2] + f.stopped[:1]:
        name = key.replace("_", " ")
        value = key in active
        out += [(f"The patient is on {name} .", value), (f"The patient is not taking {name} .", _neg(value))]
    return out


def _h_home(f: _Facts, rng: random.Random) -> list:
    if f.home:
        value = False
    elif f.home_complete:
        value = True
    else:
        value = None
    many = True if len(f.home) >= 3 else (False if f.home_complete else None)
    return [("The patient takes no regular medications .", value),
            ("The patient does not take any medications at home .", value),
            ("The patient takes several medications at home .", many)]


def _h_allergy(f: _Facts, rng: random.Random) -> list:
    has_any = True if f.allergies else (False if f.nkda else None)
    out = [("The patient has a drug allergy .", has_any), ("The patient has no known drug allergies .", _neg(has_any))]
    for key in list(dict.fromkeys(f.allergies + rng.sample(sorted(_ALLERGENS), 2))):
        value = True if key in f.allergies else (False if f.nkda else None)
        out.append((f"The patient is allergic to {rng.choice(_ALLERGENS[key][1])} .", value))
    ana = True if f.reaction == "anaphylaxis" else (False if f.nkda else None)
    out.append(("The patient has had anaphylaxis to a medication .", ana))
    if "penicillin" in f.allergies:
        out += [("The patient should not receive amoxicillin .", True),
                ("The patient can safely receive amoxicillin .", False)]
    return out


def _nice_threshold(rng: random.Random, v: float, above: bool, decimals: int) -> float:
    """A round threshold below (above=True) or above the value."""
    factor = rng.uniform(0.55, 0.85) if above else rng.uniform(1.2, 1.7)
    t = v * factor
    if t >= 100:
        t = float(f"{t:.2g}")
    elif t >= 10:
        t = round(t)
    elif decimals >= 2:
        t = round(t, 2)
    else:
        t = round(t, 1)
    return t


def _h_lab(f: _Facts, rng: random.Random, lab: str) -> list:
    names, hyp, unit, lo, hi, ranges, dec = _LABS[lab]
    v = f.labs.get(lab)
    the = rng.choice([f"The {hyp}", f"The patient 's {hyp}"])
    known = v is not None

    def val(true_if, false_if=None):
        if not known:
            return None
        if true_if(v):
            return True
        return False if false_if is None or false_if(v) else _AMBIG

    out = [(f"{the} is elevated .", val(lambda x: x > hi)), (f"{the} is high .", val(lambda x: x > hi)),
           (f"{the} is not elevated .", val(lambda x: x <= hi)), (f"{the} is within normal limits .",
                                                                    val(lambda x: lo <= x <= hi))]
    if "low" in ranges:
        out.append((f"{the} is low .", val(lambda x: x < lo)))
    ref = v if known else rng.uniform(*rng.choice(list(ranges.values())))
    t_above = _nice_threshold(rng, ref, True, dec)
    t_below = _nice_threshold(rng, ref, False, dec)
    unit_s = f" {unit}" if unit else ""
    for t in (t_above, t_below):
        if known and t == v:
            continue
        out.append((f"{the} was above {_fmt(t, dec)}{unit_s} .", val(lambda x, t=t: x > t)))
        out.append((f"{the} was below {_fmt(t, dec)}{unit_s} .", val(lambda x, t=t: x < t)))
    if known:
        other = rng.uniform(*rng.choice([r for k, r in ranges.items()]))
        exact = rng.choice([v, other])
        if _fmt(exact, dec) != _fmt(v, dec) or exact == v:
            out.append((f"{the} was {_fmt(exact, dec)}{unit_s} .", _fmt(exact, dec) == _fmt(v, dec)))
    for text, true_if, false_if in _LAB_MEANING.get(lab, []):
        out.append((text, val(true_if, false_if)))
    return out


def _h_trend(f: _Facts, rng: random.Random, lab: str) -> list:
    trend = f.trend.get(lab)
    hyp = _LABS[lab][1]
    up = None if trend is None else trend == "up"
    out = [(f"The {hyp} is rising .", up), (f"The {hyp} is falling .", _neg(up)),
           (f"The {hyp} has not changed .", None if trend is None else False)]
    if lab == "creatinine":
        out += [("The patient 's kidney function is getting worse .", up),
                ("The patient 's kidney function is improving .", _neg(up))]
    return out


# Vital-sign hypotheses: (vital, hypothesis, true-if, false-if) over the value; neither -> ambiguous.
_VITAL_HYPS = [(key, text, tables.condition(true_if), tables.condition(false_if))
               for key, text, true_if, false_if in tables.rows("nli/vital_signs.txt")]


def _h_vitals(f: _Facts, rng: random.Random, which: list[str]) -> list:
    out = []
    for key, text, true_if, false_if in _VITAL_HYPS:
        if key not in which:
            continue
        v = f.vitals.get(key)
        if v is None:
            out.append((text, None))
        else:
            out.append((text, True if true_if(v) else (False if false_if(v) else _AMBIG)))
    hr = f.vitals.get("hr")
    if "hr" in which:
        t = rng.choice([90, 100, 110, 120])
        value = None if hr is None else (hr > t if hr != t else _AMBIG)
        out.append((f"The patient 's heart rate was over {t} .", value))
    return out


def _h_symptom(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    for key in keys:
        _p, pos, neg, _pain = _SYMPTOMS[key]
        value = f.symptoms.get(key)
        if value is None and f.asymptomatic:
            value = False
        out += [(rng.choice(pos), value), (rng.choice(neg), _neg(value))]
    pain = [k for k, v in f.symptoms.items() if v and _SYMPTOMS[k][3]]
    in_pain = True if pain else (False if f.asymptomatic else None)
    out += [("The patient is in pain .", in_pain), ("The patient is pain-free .", _neg(in_pain))]
    asym = True if f.asymptomatic else (False if any(f.symptoms.values()) else None)
    out.append(("The patient is asymptomatic .", asym))
    d = f.sym_days
    if d is None:
        t = rng.choice([1, 2, 3, 5, 7, 10])
    else:
        t = rng.choice([max(1, d - rng.randint(1, 3)), d + rng.randint(1, 4)])
    out += [(f"The symptoms started more than {t} days ago .", None if d is None else (d > t if d != t else _AMBIG)),
            (f"The symptoms began less than {t} days ago .", None if d is None else (d < t if d != t else _AMBIG)),
            ("The symptoms have lasted more than a week .", None if d is None else (d > 7 if d != 7 else _AMBIG))]
    return out


def _h_family(f: _Facts, rng: random.Random, cond_keys: list[str]) -> list:
    cats = [c for c in _FAMILY_CATS if any(k in cond_keys for k in c[2])] + rng.sample(_FAMILY_CATS, 2)
    out = []
    for phrase, had_phrase, members in cats:
        negated = all(m in f.family_neg for m in members)
        value = True if any(c in members for _r, c in f.family) else (False if negated else None)
        out += [(f"The patient has a family history of {phrase} .", value),
                (f"There is no family history of {phrase} .", _neg(value))]
        rel = rng.choice([r for r, _c in f.family] or _RELATIVES)
        if phrase == "breast cancer" and rel in ("father", "brother"):
            rel = {"father": "mother", "brother": "sister"}[rel]
        rel_value = True if any(r == rel and c in members for r, c in f.family) else (False if negated else None)
        out.append((f"The patient 's {rel} had {had_phrase} .", rel_value))
    for rel in list(dict.fromkeys([r for r in f.deceased] + [rng.choice(_RELATIVES)])):
        dead = f.deceased.get(rel)
        out += [(f"The patient 's {rel} is still alive .", _neg(dead)), (f"The patient 's {rel} has died .", dead)]
    return out


def _h_cxr(f: _Facts, rng: random.Random) -> list:
    finding, side = f.cxr if f.cxr else (None, None)
    known = finding is not None

    def v(true_keys, false_keys=("clear",)):
        if not known:
            return None
        return True if finding in true_keys else (False if finding in false_keys else None)

    out = [("The chest X-ray was normal .", None if not known else finding == "clear"),
           ("The chest X-ray showed an abnormality .", None if not known else finding != "clear"),
           ("There is fluid around the lung .", v(("effusion",))),
           ("The patient has a collapsed lung .", v(("pneumothorax",))),
           ("There is a mass in the lung .", v(("mass",))),
           ("There is fluid in the lungs .", _AMBIG if finding == "consolidation" else v(("oedema",)))]
    for s in ("left", "right"):
        if finding in ("clear", "oedema") or not known:
            val = None if not known else _AMBIG
        else:
            val = side == s
        out.append((f"The abnormality is in the {s} lung .", val))
    if finding == "mass":
        out += [("The lung mass is cancerous .", None), ("The lung mass is benign .", None)]
    if finding == "effusion":
        out.append(("The effusion is caused by heart failure .", None))
    return out


def _h_cthead(f: _Facts, rng: random.Random) -> list:
    finding, side = f.cthead if f.cthead else (None, None)
    if finding is None:
        return [("There is bleeding in the brain .", None), ("The head CT was normal .", None)]
    out = [("There is bleeding in the brain .", finding == "ich"), ("The head CT was normal .", finding == "normal"),
           ("The CT shows a stroke .", finding != "normal"),
           ("The patient had an ischaemic stroke .", {"infarct": True, "ich": False}.get(finding, _AMBIG))]
    if finding != "normal":
        other = "left" if side == "right" else "right"
        out += [(f"The abnormality is on the {side} side of the brain .", True),
                (f"The abnormality is on the {other} side of the brain .", False)]
    if finding == "ich":
        out.append(("The bleeding was caused by a fall .", None))
    return out


def _h_ecg(f: _Facts, rng: random.Random) -> list:
    e = f.ecg
    if e is None:
        return [("The ECG was normal .", None), ("The patient is in atrial fibrillation .", None)]

    def v(true_keys, false_keys):
        return True if e in true_keys else (False if e in false_keys else None)

    return [("The ECG was normal .", e == "nsr"),
            ("The patient 's heart rhythm is irregular .", v(("afib",), ("nsr", "stach"))),
            ("The patient is in atrial fibrillation .", v(("afib",), ("nsr", "stach"))),
            ("The patient is in sinus rhythm .", v(("nsr", "stach"), ("afib",))),
            ("The ECG shows signs of an acute heart attack .", v(("stemi",), ("nsr",))),
            ("The ECG shows ischaemic changes .", v(("stemi", "twi"), ("nsr",))),
            ("The heart rate on the ECG was over 100 .", v(("afib", "stach"), ("nsr",))),
            ("The QT interval is prolonged .", v(("longqt",), ("nsr",)))]


def _h_ef(f: _Facts, rng: random.Random) -> list:
    ef = f.ef
    t = rng.choice([35, 40, 45, 50, 55])

    def band(x_true, x_false):
        if ef is None:
            return None
        return True if x_true(ef) else (False if x_false(ef) else _AMBIG)

    return [("The patient 's heart is pumping normally .", band(lambda x: x >= 55, lambda x: x <= 40)),
            ("The patient has a reduced ejection fraction .", band(lambda x: x <= 40, lambda x: x >= 55)),
            (f"The ejection fraction is above {t} % .", None if ef is None else (ef > t if ef != t else _AMBIG))]


def _h_dispo(f: _Facts, rng: random.Random) -> list:
    unit, dispo = f.unit, f.dispo

    def v(known, value, true_set, false_set):
        if known is None:
            return None
        return True if value in true_set else (False if value in false_set else _AMBIG)

    admitted = unit is not None
    return [("The patient was admitted to the intensive care unit .", v(unit, unit, ("icu",), ("ward",))),
            ("The patient did not need intensive care .", v(unit, unit, ("ward",), ("icu",))),
            ("The patient was admitted to hospital .", True if admitted or dispo == "rehab" else None),
            ("The patient was discharged home .", _AMBIG if admitted else v(dispo, dispo, ("home",), ("rehab",))),
            ("The patient went to a rehabilitation facility .",
             _AMBIG if admitted else v(dispo, dispo, ("rehab",), ("home",))),
            ("The patient needs ongoing care after leaving hospital .",
             _AMBIG if admitted else v(dispo, dispo, ("rehab",), ()))]


def _h_cause(f: _Facts, rng: random.Random, target: str) -> list:
    nouns, causes = _CAUSES[target]
    noun = rng.choice(nouns)
    known = f.cause.get(target)
    out = []
    for key, _premise, hyp, _implied in rng.sample(causes, min(3, len(causes))):
        value = None if known is None else known == key
        form = rng.choice(["{n} was caused by {h} .", "{n} is due to {h} .", "{n} was not caused by {h} ."])
        out.append((form.format(n=noun, h=hyp), _neg(value) if " not " in form else value))
    return out


def _h_plan(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    for key in keys:
        _premise, _noun, pos, neg = _PLANS[key]
        value = f.plan.get(key)
        out += [(rng.choice(pos), value), (rng.choice(neg), _neg(value))]
    return out


def _h_status(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    if "vent" in keys:
        v = f.status.get("vent")
        out += [("The patient is on a ventilator .", v), ("The patient is breathing without assistance .", _neg(v)),
                ("The patient required intubation .", v)]
    if "o2" in keys:
        v = f.status.get("o2")
        if v is None and f.status.get("vent"):
            v = _AMBIG  # a ventilated patient receives oxygen, but the premise does not say so
        out += [("The patient required supplemental oxygen .", v), ("The patient is on room air .", _neg(v))]
    if "dialysis" in keys:
        v = f.status.get("dialysis")
        out += [("The patient receives dialysis .", v), ("The patient is not on dialysis .", _neg(v))]
    if "pregnant" in keys:
        v = f.status.get("pregnant")
        if v is None and (f.sex == "m" or (f.sex == "f" and f.age is not None and f.age >= 55)):
            v = False
        out += [("The patient is pregnant .", v), ("The patient is not pregnant .", _neg(v))]
    return out


def _h_procs(f: _Facts, rng: random.Random) -> list:
    surgical = [p for p in f.procs if _PROCS[p][2]]
    had = True if surgical else (_AMBIG if f.procs else None)
    heart = True if "cabg" in f.procs else (_AMBIG if "pci" in f.procs else None)
    return [("The patient has had surgery in the past .", had), ("The patient has never had surgery .", _neg(had)),
            ("The patient has had heart surgery .", heart),
            ("The patient has had a coronary stent placed .", True if "pci" in f.procs else None),
            ("The patient 's gallbladder has been removed .", True if "chole" in f.procs else None),
            ("The patient has a transplanted kidney .", True if "kidney_tx" in f.procs else None)]


def _h_social(f: _Facts, rng: random.Random) -> list:
    liv, job = f.living, f.job

    def v(value, true_set, false_set):
        if value is None:
            return None
        return True if value in true_set else (False if value in false_set else _AMBIG)

    return [("The patient lives alone .", v(liv, ("alone",), ("spouse", "nursing"))),
            ("The patient lives with family .", v(liv, ("spouse",), ("alone", "nursing"))),
            ("The patient lives in a nursing home .", v(liv, ("nursing",), ("alone", "spouse"))),
            ("The patient lives independently .", v(liv, ("alone", "spouse"), ("nursing",))),
            ("The patient is retired .", v(job, ("retired",), ("teacher", "nurse", "construction"))),
            ("The patient is currently working .", v(job, ("teacher", "nurse", "construction"),
                                                    ("retired", "unemployed"))),
            ("The patient works in healthcare .", v(job, ("nurse",), ("teacher", "construction")))]


def _h_course(f: _Facts, rng: random.Random) -> list:
    if f.course is None:
        return []
    drug, days = f.course
    cls = {"abx": "antibiotics", "anticoag": "anticoagulation", "steroid": "steroids"}.get(_NLI_DRUGS[drug][0],
                                                                                           "the medication")
    other = rng.choice([d for d in (3, 5, 7, 10, 14, 21) if d != days])
    n = rng.choice([days, other])
    return [(f"The patient will take {cls} for {n} days .", n == days),
            (f"The course of {cls} lasts more than a week .", days > 7 if days != 7 else _AMBIG),
            (f"The patient will take {cls} for less than two weeks .", days < 14)]


def _h_culture(f: _Facts, rng: random.Random) -> list:
    if f.culture is None:
        return [("The blood cultures were positive .", None), ("The blood cultures showed no growth .", None)]
    _org, gram = f.culture
    return [("The blood cultures were positive .", True), ("The blood cultures showed no growth .", False),
            ("The bacteria are gram-negative .", gram == "negative"),
            ("The bacteria are gram-positive .", gram == "positive"),
            ("The infection came from the urinary tract .", None)]


def _h_a1c(f: _Facts, rng: random.Random) -> list:
    v = f.labs.get("a1c")
    t = rng.choice([6.5, 7.0, 8.0, 9.0]) if v is None else rng.choice([round(v - rng.uniform(0.8, 2.5), 1),
                                                                       round(v + rng.uniform(0.8, 2.5), 1)])

    def band(x_true, x_false):
        if v is None:
            return None
        return True if x_true(v) else (False if x_false(v) else _AMBIG)

    return [("The patient 's diabetes is well controlled .", band(lambda x: x < 7.0, lambda x: x >= 8.0)),
            ("The patient 's diabetes is poorly controlled .", band(lambda x: x >= 8.0, lambda x: x < 7.0)),
            (f"The HbA1c was above {t} % .", None if v is None else (v > t if v != t else _AMBIG))]


# ----------------------------------------------------------------------------- premises
class _Who(dict):
    """How a premise refers to the patient; what a wording reveals (sex, age) is recorded when it is used."""

    def __init__(self, f: _Facts, words: dict[str, tuple[str, str | None, int | None]], sex: str):
        super().__init__({k: v[0] for k, v in words.items()})
        self.facts, self.reveals = f, {k: v[1:] for k, v in words.items()}
        self.sex = sex  # the patient's sex, whether or not the wording reveals it

    def __getitem__(self, key: str) -> str:
        sex, age = self.reveals[key]
        if sex is not None:
            self.facts.sex = sex
        if age is not None:
            self.facts.age = age
        return super().__getitem__(key)


def _who(rng: random.Random, f: _Facts, forms: str = "pattn") -> _Who:
    """Choose how the premise refers to the patient (p pronoun, a age and sex, t "the patient", n name, g age)."""
    form = rng.choice(forms)
    sex = rng.choice("mf")
    age = rng.randint(19, 92)
    noun, pron, poss = ("man", "He", "His") if sex == "m" else ("woman", "She", "Her")
    the = {"poss": ("The patient 's", None, None), "poss_l": ("the patient 's", None, None)}
    if form == "t":
        return _Who(f, {"s": ("The patient", None, None), **the}, sex)
    if form == "g":
        return _Who(f, {"s": (f"The {age}-year-old patient", None, age), **the}, sex)
    own = {"poss": (poss, sex, None), "poss_l": (poss.lower(), sex, None)}
    if form == "a":
        art = "An" if str(age).startswith(("8", "11", "18")) else "A"
        return _Who(f, {"s": (f"{art} {age}-year-old {noun}", sex, age), **own}, sex)
    if form == "n":
        name = f"{'Mr.' if sex == 'm' else 'Ms.'} {rng.choice(_SURNAMES_NLI)}"
        return _Who(f, {"s": (name, sex, None), "poss": (f"{name} 's", sex, None),
                        "poss_l": (poss.lower(), sex, None)}, sex)
    return _Who(f, {"s": (pron, sex, None), **own}, sex)


def _bare(name: str) -> str:
    """A noun phrase without its indefinite article ("a pulmonary embolism" -> "pulmonary embolism")."""
    return name.split(" ", 1)[1] if name.startswith(("a ", "an ")) else name


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _lab_value(rng: random.Random, lab: str, rname: str | None = None) -> tuple[float, str]:
    ranges = _LABS[lab][5]
    if rname is None:
        abnormal = [r for r in ranges if r != "normal"]
        rname = rng.choice(abnormal) if rng.random() < 0.6 else "normal"
    lo, hi = ranges[rname]
    dec = _LABS[lab][6]
    v = round(rng.uniform(lo, hi), dec)
    return (int(v) if dec == 0 else v), rname


def _lab_text(lab: str, v: float) -> str:
    unit = _LABS[lab][2]
    return f"{_fmt(v, _LABS[lab][6])}{' ' + unit if unit else ''}"


def _lab_fams(lab: str, rname: str) -> list:
    fams = [(_h_lab, (lab,), 4), (_h_lab, (_LAB_RELATED[lab][0],), 1), (_h_cond, (_LAB_CONDS[lab],), 2),
            (_h_plan, (_LAB_PLANS[lab],), 1)]
    target = _LAB_CAUSE_TARGET.get((lab, rname))
    if target:
        fams.append((_h_cause, (target,), 2))
    return fams


def _generic_fams() -> list:
    return [(_h_sex, (), 0.45), (_h_age, (), 0.6), (_h_smoking, (), 0.3), (_h_cond, ([],), 0.5), (_h_allergy, (), 0.2),
            (_h_family, ([],), 0.2), (_h_home, (), 0.2)]


def _drug_keys(treatment: str) -> list[str]:
    return [d.replace("intravenous ", "").replace(" ", "_") for d in treatment.split(" and ")]


def _p_started(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    treatment = rng.choice(_DX_TREATMENT[dx])
    name = rng.choice(_CONDS[dx][0])
    if rng.random() < 0.5:
        text = f"{w['s']} was started on {treatment} for {name} ."
    else:
        text = f"{w['s']} was admitted with {name} and started on {treatment} ."
        f.dx_reason = True
    f.dx = dx
    f.add_cond(dx)
    drugs = _drug_keys(treatment)
    f.add_meds(drugs, home=False)
    classes = [c for d in drugs for c in _NLI_DRUGS[d]]
    fams = [(_h_cond, ([dx],), 3), (_h_admit, (), 2), (_h_meds, (classes,), 3), (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    if dx in _CAUSES:
        fams.append((_h_cause, (dx,), 2))
    return text, f, fams


def _p_present(rng):
    f = _Facts()
    w = _who(rng, f, "aag")
    pool = ["htn", "t2dm", "cad", "chf", "afib", "copd", "asthma", "ckd", "cirrhosis", "ra", "mdd", "epilepsy",
            "parkinsons", "stroke_hx", "dementia", "hypothyroid", "dvt_hx", "gout", "oa", "prior_mi", "lung_ca", "sle",
            "breast_ca" if w.sex == "f" else "prostate_ca"]
    hx = rng.sample(pool, rng.choice([1, 2]))
    syms = rng.sample(sorted(_SYMPTOMS), rng.choice([1, 1, 2]))
    days = rng.randint(1, 14)
    for k in hx:
        f.add_cond(k)
    for k in syms:
        f.symptoms[k] = True
    f.sym_days = days
    hx_text = " and ".join(rng.choice(_CONDS[k][0]) for k in hx)
    sym_text = " and ".join(rng.choice(_SYMPTOMS[k][0]) for k in syms)
    dur = f"{days} day{'s' if days > 1 else ''}"
    verb = rng.choice(["presents with", "presented with", "was admitted with"])
    text = f"{w['s']} with a history of {hx_text} {verb} {dur} of {sym_text} ."
    related = [r for k in syms for r in _SYMPTOM_RELATED[k][:2]]
    fams = [(_h_cond, (hx + [c for k in syms for c in _SYMPTOM_CONDS.get(k, [])],), 3),
            (_h_symptom, (syms + related,), 4), (_h_meds, ([],), 1)]
    return text, f, fams


def _p_lab(rng):
    f = _Facts()
    w = _who(rng, f)
    lab = rng.choice(sorted(_LABS))
    v, rname = _lab_value(rng, lab)
    f.labs[lab] = v
    name = rng.choice(_LABS[lab][0])
    form = rng.randrange(4)
    if form == 0:
        text = f"Labs were notable for {_article(name)} {name} of {_lab_text(lab, v)} ."
    elif form == 1:
        text = f"Admission labs were significant for {_article(name)} {name} of {_lab_text(lab, v)} ."
    elif form == 2:
        text = f"{w['poss']} {name} was {_lab_text(lab, v)} on admission ."
    else:
        text = f"On the day of admission , {w['poss_l']} {name} was {_lab_text(lab, v)} ."
    return text, f, _lab_fams(lab, rname)


def _p_two_labs(rng):
    f = _Facts()
    _who(rng, f, "t")
    lab1, lab2 = rng.sample(sorted(_LABS), 2)
    parts = []
    fams = []
    for lab in (lab1, lab2):
        v, rname = _lab_value(rng, lab)
        f.labs[lab] = v
        name = rng.choice(_LABS[lab][0])
        parts.append(f"{_article(name)} {name} of {_lab_text(lab, v)}")
        fams += _lab_fams(lab, rname)
    text = f"{rng.choice(['Laboratory studies showed', 'Initial labs revealed'])} {parts[0]} and {parts[1]} ."
    return text, f, fams


def _p_lab_cause(rng):
    f = _Facts()
    w = _who(rng, f)
    (lab, rname), target = rng.choice(sorted(_LAB_CAUSE_TARGET.items()))
    causes = [c for c in _CAUSES[target][1] if c[1]]
    key, premise, _hyp, implied = rng.choice(causes)
    v, _ = _lab_value(rng, lab, rname)
    f.labs[lab] = v
    f.cause[target] = key
    if implied:
        f.add_cond(implied)
    name = rng.choice(_LABS[lab][0])
    verb = "rose" if rname == "high" else "fell"
    if rng.random() < 0.5:
        text = f"{w['poss']} {name} {verb} to {_lab_text(lab, v)} after {premise} ."
    else:
        text = f"{w['poss']} {name} was {_lab_text(lab, v)} , which was attributed to {premise} ."
    return text, f, _lab_fams(lab, rname) + [(_h_cause, (target,), 3)]


def _p_dx_cause(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice([k for k in sorted(_CAUSES) if k in _CONDS])
    key, premise, _hyp, implied = rng.choice([c for c in _CAUSES[dx][1] if c[1]])
    f.dx = dx
    f.add_cond(dx)
    f.cause[dx] = key
    if implied:
        f.add_cond(implied)
    name = rng.choice(_CONDS[dx][0])
    form = rng.randrange(3)
    if form == 0:
        text = f"{w['s']} was admitted with {name} , which was attributed to {premise} ."
        f.dx_reason = True
    elif form == 1:
        text = f"{w['s']} developed {name} , thought to be secondary to {premise} ."
    else:
        text = f"The cause of {w['poss_l']} {_bare(name)} was felt to be {premise} ."
    fams = [(_h_cause, (dx,), 4), (_h_cond, ([dx] + ([implied] if implied else []),), 2), (_h_admit, (), 1),
            (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    return text, f, fams


def _p_vitals(rng):
    f = _Facts()
    _who(rng, f, "t")
    temp = round(rng.choice([rng.uniform(38.2, 40.1), rng.uniform(36.4, 37.2)]), 1)
    hr = rng.choice([rng.randint(104, 138), rng.randint(62, 94), rng.randint(38, 54)])
    sbp = rng.choice([rng.randint(72, 88), rng.randint(104, 132), rng.randint(156, 210)])
    dbp = int(sbp * rng.uniform(0.55, 0.68))
    parts = []
    which = []
    if rng.random() < 0.8:
        f.vitals["temp"] = temp
        parts.append(f"temperature was {temp} C")
        which.append("temp")
    f.vitals["hr"] = hr
    f.vitals["sbp"] = sbp
    parts += [f"heart rate was {hr}", f"blood pressure was {sbp}/{dbp}"]
    which += ["hr", "sbp"]
    text = f"On arrival , {' , '.join(parts[:-1])} and {parts[-1]}"
    if rng.random() < 0.5:
        spo2 = rng.choice([rng.randint(82, 89), rng.randint(95, 99)])
        f.vitals["spo2"] = spo2
        f.status["o2"] = False
        text += f" , with an oxygen saturation of {spo2} % on room air"
        which.append("spo2")
    text += " ."
    return text, f, [(_h_vitals, (which + ["spo2", "rr"],), 5), (_h_status, (["o2"],), 1),
                     (_h_cond, (["pneumonia", "uti"],), 1)]


# Drugs premises list as home medications.
_HOME_POOL = tables.lines("nli/home_medications.txt")


def _med_fams(drugs: list[str]) -> list:
    classes = [c for d in drugs for c in _NLI_DRUGS[d]]
    conds = [c for d in drugs for c in _DRUG_SUGGESTS.get(d, ())]
    return [(_h_meds, (classes,), 4), (_h_home, (), 2), (_h_cond, (conds,), 1)]


def _p_home_meds(rng):
    f = _Facts()
    w = _who(rng, f)
    drugs = rng.sample(_HOME_POOL, rng.choice([2, 3, 3, 4]))
    f.add_meds(drugs, home=True)
    names = [d.replace("_", " ") for d in drugs]
    listed = " , ".join(names[:-1]) + f" and {names[-1]}"
    if rng.random() < 0.5:
        text = f"{w['poss']} home medications include {listed} ."
    else:
        text = f"{w['s']} takes {listed} at home ."
    return text, f, _med_fams(drugs)


def _p_no_meds(rng):
    f = _Facts()
    w = _who(rng, f)
    f.home_complete = True
    text = rng.choice([f"{w['s']} takes no medications at home .", f"{w['s']} is not on any regular medications .",
                       f"{w['s']} takes no prescription or over-the-counter medications ."])
    return text, f, _med_fams([]) + [(_h_meds, (["anticoag", "antihtn", "dm_med"],), 2)]


def _p_only_med(rng):
    f = _Facts()
    w = _who(rng, f)
    drug = rng.choice(_HOME_POOL)
    f.add_meds([drug], home=True)
    f.home_complete = True
    text = f"{w['poss']} only medication is {drug.replace('_', ' ')} ."
    return text, f, _med_fams([drug]) + [(_h_meds, (["anticoag", "antihtn", "statin", "antidep"],), 2)]


_SMOKE_TEXT = {status: tables.items(wordings) for status, wordings in tables.fields(_SOCIAL["smoking"])}
_ALCOHOL_TEXT = {status: tables.items(wordings) for status, wordings in tables.fields(_SOCIAL["alcohol"])}


def _p_social_habits(rng):
    f = _Facts()
    w = _who(rng, f)
    smoke = rng.choice(sorted(_SMOKE_TEXT))
    alcohol = rng.choice(sorted(_ALCOHOL_TEXT))
    f.smoking = (smoke,)
    f.alcohol = (alcohol,)
    s_text = rng.choice(_SMOKE_TEXT[smoke]).format(n=rng.randint(2, 30))
    text = f"{w['s']} {s_text} and {rng.choice(_ALCOHOL_TEXT[alcohol])} ."
    return text, f, [(_h_smoking, (), 4), (_h_alcohol, (), 3), (_h_cond, (["copd", "lung_ca", "cirrhosis"],), 1)]


def _p_pack_years(rng):
    f = _Facts()
    w = _who(rng, f)
    f.smoking = ("current", "former")
    text = f"{w['s']} has a {rng.choice([10, 15, 20, 30, 40, 50])} pack-year smoking history ."
    return text, f, [(_h_smoking, (), 5), (_h_cond, (["copd", "lung_ca"],), 1)]


def _relatives_for(cond: str) -> list[str]:
    return {"breast_ca": ["mother", "sister"], "prostate_ca": ["father", "brother"]}.get(cond, _RELATIVES)


def _p_family(rng):
    f = _Facts()
    w = _who(rng, f, "ppn")
    form = rng.randrange(4)
    if form == 0:
        cond = rng.choice(sorted(_FAMILY_CONDS))
        rel = rng.choice(_relatives_for(cond))
        f.family.append((rel, cond))
        f.deceased[rel] = True
        text = f"{w['poss']} {rel} died of {_FAMILY_CONDS[cond]} at age {rng.randint(45, 88)} ."
        keys = [cond]
    elif form == 1:
        cond = rng.choice(sorted(_FAMILY_CONDS))
        options = _relatives_for(cond)
        rels = rng.sample(options, min(len(options), rng.choice([1, 2])))
        f.family += [(r, cond) for r in rels]
        who = " and ".join(rels)
        text = f"Family history is significant for {_FAMILY_CONDS[cond]} in {w['poss_l']} {who} ."
        keys = [cond]
    elif form == 2:
        cats = rng.sample(_FAMILY_CATS[:2] + _FAMILY_CATS[4:], 2)
        for _p, _h, members in cats:
            f.family_neg += list(members)
        text = f"There is no family history of {cats[0][0]} or {cats[1][0]} ."
        keys = [m for c in cats for m in c[2]]
    else:
        rel = rng.choice(_RELATIVES)
        f.deceased[rel] = False
        text = f"{w['poss']} {rel} is alive and well at age {rng.randint(60, 90)} ."
        keys = []
    return text, f, [(_h_family, (keys,), 5), (_h_cond, (keys,), 1)]


def _p_cxr(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding = rng.choice(sorted(_CXR))
    side = rng.choice(["left", "right"])
    f.cxr = (finding, side if finding not in ("clear", "oedema") else None)
    lead = rng.choice(["Chest X-ray showed", "A chest radiograph demonstrated", "Portable chest X-ray revealed"])
    text = f"{lead} {_CXR[finding].format(side=side)} ."
    fams = [(_h_cxr, (), 5)]
    if finding == "mass":
        fams.append((_h_plan, (["biopsy"],), 1))
        f.suggested.append("lung_ca")
        fams.append((_h_cond, (["lung_ca"],), 1))
    if finding == "consolidation":
        f.suggested.append("pneumonia")
    if finding == "oedema":
        f.suggested += ["chf", "chf_exac"]
    return text, f, fams


def _p_cthead(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding = rng.choice(sorted(_CTHEAD))
    side = rng.choice(["left", "right"])
    f.cthead = (finding, side if finding != "normal" else None)
    if finding == "infarct":
        f.add_cond("stroke")
    elif finding == "ich":
        f.suggested += ["stroke", "stroke_hx"]
    text = f"{rng.choice(['CT of the head showed', 'A non-contrast head CT revealed'])}" \
           f" {_CTHEAD[finding].format(side=side)} ."
    return text, f, [(_h_cthead, (), 5), (_h_cond, (["stroke"],), 1), (_h_plan, (["physio", "surgery"],), 1)]


def _p_ecg(rng):
    f = _Facts()
    _who(rng, f, "t")
    e = rng.choice(sorted(_ECG))
    f.ecg = e
    if e == "afib":
        f.add_cond("afib")
    if e == "stemi":
        f.suggested += ["stemi", "cad"]
    text = f"{rng.choice(['ECG showed', 'An electrocardiogram demonstrated', 'The admission ECG showed'])} {_ECG[e]} ."
    return text, f, [(_h_ecg, (), 5), (_h_cond, (["afib", "stemi"],), 1), (_h_plan, (["cath"],), 1)]


def _p_echo(rng):
    f = _Facts()
    _who(rng, f, "t")
    ef = rng.choice([rng.randint(15, 35), rng.randint(55, 70)])
    f.ef = ef
    if ef < 40:
        f.suggested += ["chf", "chf_exac"]
    text = f"{rng.choice(['Echocardiogram showed', 'Transthoracic echocardiography revealed'])} an ejection fraction" \
           f" of {ef} % ."
    return text, f, [(_h_ef, (), 5), (_h_cond, (["chf"],), 1)]


def _p_allergy(rng):
    f = _Facts()
    w = _who(rng, f)
    if rng.random() < 0.3:
        f.nkda = True
        text = rng.choice([f"{w['s']} has no known drug allergies .",
                           f"{w['s']} reports no allergies to medications ."])
    else:
        key = rng.choice(sorted(_ALLERGENS))
        reaction = rng.choice(_REACTIONS)
        f.allergies.append(key)
        f.reaction = reaction
        allergen = rng.choice(_ALLERGENS[key][0])
        if rng.random() < 0.5:
            text = f"{w['s']} is allergic to {allergen} , which causes {reaction} ."
        else:
            text = f"{w['s']} reports an allergy to {allergen} ( {reaction} ) ."
    return text, f, [(_h_allergy, (), 5)]


# Hospital units: (name, icu or ward); cardiac units only for cardiac diagnoses.
_UNIT_SECTIONS = tables.sections("nli/units.txt")
_UNITS = [tuple(row) for row in tables.fields(_UNIT_SECTIONS["general"])]
_CARDIAC_UNITS = [tuple(row) for row in tables.fields(_UNIT_SECTIONS["cardiac"])]


def _p_admit_unit(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    unit, code = rng.choice(_UNITS + (_CARDIAC_UNITS if dx in ("stemi", "nstemi", "chf_exac", "afib") else []))
    f.unit = code
    f.dx, f.dx_reason = dx, True
    f.add_cond(dx)
    text = f"{w['s']} was admitted to the {unit} for {rng.choice(['', 'management of '])}{rng.choice(_CONDS[dx][0])} ."
    fams = [(_h_dispo, (), 4), (_h_admit, (), 3), (_h_cond, ([dx],), 2), (_h_status, (["vent"],), 1),
            (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    return text.replace("  ", " "), f, fams


def _p_discharged(rng):
    f = _Facts()
    w = _who(rng, f)
    drug = rng.choice(["amoxicillin", "ciprofloxacin", "nitrofurantoin", "azithromycin", "prednisone", "apixaban",
                       "rivaroxaban", "cefazolin"])
    days = rng.choice([3, 5, 7, 10, 14, 21])
    f.dispo = "home"
    f.add_meds([drug], home=False)
    f.course = (drug, days)
    text = f"{w['s']} was discharged home on {drug} for {days} days ."
    return text, f, [(_h_dispo, (), 3), (_h_course, (), 4), (_h_meds, (list(_NLI_DRUGS[drug]),), 2)]


def _p_discharged_rehab(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(["stroke", "pneumonia", "stemi", "chf_exac", "dka", "pe", "cellulitis"])
    f.dispo = "rehab"
    f.dx = dx
    f.add_cond(dx)
    after = rng.choice(["treatment of", "recovery from"])
    text = f"{w['s']} was discharged to a rehabilitation facility after {after} {rng.choice(_CONDS[dx][0])} ."
    return text, f, [(_h_dispo, (), 4), (_h_cond, ([dx],), 2), (_h_plan, (["physio"],), 1)]


# Medications held because of a value: (drug, lab or "hr", high or low).
_HELD = [tuple(row) for row in tables.rows("nli/held_medications.txt")]


def _p_held(rng):
    f = _Facts()
    _who(rng, f, "t")
    drug, lab, rname = rng.choice(_HELD)
    f.add_meds([drug], home=drug != "heparin")
    f.stopped.append(drug)
    if lab == "hr":
        hr = rng.randint(38, 52)
        f.vitals["hr"] = hr
        reason = f"a heart rate of {hr}"
        fams = [(_h_vitals, (["hr"],), 2)]
    else:
        v, _ = _lab_value(rng, lab, rname)
        f.labs[lab] = v
        reason = f"{_article(_LABS[lab][0][0])} {_LABS[lab][0][0]} of {_lab_text(lab, v)}"
        fams = _lab_fams(lab, rname)
    verb = rng.choice(["was held", "was discontinued", "was stopped"])
    text = f"{drug.capitalize()} {verb} because of {reason} ."
    return text, f, fams + [(_h_meds, (list(_NLI_DRUGS[drug]),), 3)]


# Premises that rule conditions out: (sentence, condition keys).
_RULED_OUT = [(sentence, tables.items(keys)) for sentence, keys in tables.rows("nli/ruled_out.txt")]


def _p_ruled_out(rng):
    f = _Facts()
    _who(rng, f, "t")
    text, keys = rng.choice(_RULED_OUT)
    for k in keys:
        f.add_cond(k, False)
    fams = [(_h_cond, (keys,), 5)]
    if "bacteraemia" in keys:
        f.culture = None
        fams.append((_h_status, (["o2"],), 0.5))
    return text, f, fams


def _p_denies(rng):
    f = _Facts()
    w = _who(rng, f)
    keys = rng.sample(sorted(_SYMPTOMS), 3)
    for k in keys:
        f.symptoms[k] = False
    names = [_SYMPTOMS[k][0][0] for k in keys]
    text = f"{w['s']} denies {names[0]} , {names[1]} or {names[2]} ."
    related = [r for k in keys for r in _SYMPTOM_RELATED[k][:1] if r not in keys]
    return text, f, [(_h_symptom, (keys + related,), 5)]


# Chronic conditions and the drugs they are treated with.
_TREATED = [(cond, tables.items(drugs)) for cond, drugs in tables.rows("nli/treated_conditions.txt")]


def _p_hx_treated(rng):
    f = _Facts()
    w = _who(rng, f)
    cond, drugs = rng.choice(_TREATED)
    drug = rng.choice(drugs)
    f.add_cond(cond)
    f.add_meds([drug], home=True)
    text = f"{w['s']} was diagnosed with {rng.choice(_CONDS[cond][0])} {rng.randint(2, 25)} years ago and is treated" \
           f" with {drug.replace('_', ' ')} ."
    return text, f, [(_h_cond, ([cond],), 4)] + _med_fams([drug])


def _p_no_pmh(rng):
    f = _Facts()
    f.cond_complete = True
    if rng.random() < 0.5:
        w = _who(rng, f)
        text = rng.choice([f"{w['s']} has no significant past medical history .",
                           f"{w['s']} has no chronic medical conditions ."])
        syms = []
    else:
        sex, age = rng.choice("mf"), rng.randint(19, 60)
        f.sex, f.age = sex, age
        syms = [rng.choice(sorted(_SYMPTOMS))]
        f.symptoms[syms[0]] = True
        text = f"A previously healthy {age}-year-old {'man' if sex == 'm' else 'woman'} presented with" \
               f" {rng.choice(_SYMPTOMS[syms[0]][0])} ."
    keys = rng.sample(["htn", "t2dm", "cad", "copd", "ckd", "breast_ca", "mdd", "epilepsy", "afib", "asthma"], 3)
    return text, f, [(_h_cond, (keys,), 5), (_h_symptom, (syms,), 1)]


def _p_plan(rng):
    f = _Facts()
    w = _who(rng, f)
    if rng.random() < 0.6:
        dx, plan = rng.choice(_DX_PLAN_PREMISES)
        f.dx = dx
        f.add_cond(dx)
        name = rng.choice(_CONDS[dx][0])
        lead = f"For {name} ," if rng.random() < 0.5 else f"For {w['poss_l']} {_bare(name)} ,"
        fams = [(_h_cond, ([dx],), 1)]
    else:
        lab, plan = rng.choice(_LAB_PLAN_PREMISES)
        v, rname = _lab_value(rng, lab, next(r for r in _LABS[lab][5] if r != "normal"))
        f.labs[lab] = v
        name = _LABS[lab][0][0]
        lead = f"Given {_article(name)} {name} of {_lab_text(lab, v)} ," if rng.random() < 0.5 else \
            f"Given {w['poss_l']} {name} of {_lab_text(lab, v)} ,"
        fams = [(_h_lab, (lab,), 1)]
    f.plan[plan] = True
    when = rng.choice(["", " tomorrow", " later today", " this week"])
    text = f"{lead} the plan is to {_PLANS[plan][0]}{when} ."
    others = rng.sample([p for p in sorted(_PLANS) if p != plan], 2)
    return text, f, fams + [(_h_plan, ([plan],), 4), (_h_plan, (others,), 1)]


def _p_declined(rng):
    f = _Facts()
    w = _who(rng, f)
    plan = rng.choice([p for p in sorted(_PLANS) if _PLANS[p][1]])
    f.plan[plan] = False
    verb = rng.choice(["declined", "refused"])
    after = rng.choice(["", " after a discussion of the risks and benefits"])
    text = f"{w['s']} {verb} {_PLANS[plan][1]}{after} ."
    return text, f, [(_h_plan, ([plan],), 5)]


def _p_past_surgery(rng):
    f = _Facts()
    w = _who(rng, f)
    proc = rng.choice([p for p in sorted(_PROCS) if not (p == "mastectomy" and w.sex == "m")])
    name, cond, _surgical = _PROCS[proc]
    f.procs.append(proc)
    text = f"{w['s']} underwent {name} {rng.randint(2, 20)} years ago"
    if cond:
        f.add_cond(cond)
        text += f" for {rng.choice(_CONDS[cond][0])}"
    text += " ."
    return text, f, [(_h_procs, (), 4), (_h_cond, ([cond] if cond else [],), 2)]


def _p_oxygen(rng):
    f = _Facts()
    _who(rng, f, "t")
    s1, s2, litres = rng.randint(80, 89), rng.randint(93, 98), rng.randint(2, 6)
    f.vitals["spo2"] = s1
    f.status["o2"] = True
    text = f"Oxygen saturation was {s1} % on room air and improved to {s2} % on {litres} L nasal cannula ."
    return text, f, [(_h_vitals, (["spo2", "rr"],), 3), (_h_status, (["o2", "vent"],), 3),
                     (_h_cond, (["pneumonia", "copd"],), 1)]


def _p_intubated(rng):
    f = _Facts()
    w = _who(rng, f)
    f.status["vent"] = True
    reason = rng.choice(["hypoxic respiratory failure", "airway protection", "worsening respiratory distress"])
    text = f"{w['s']} was intubated in the emergency department for {reason} ."
    return text, f, [(_h_status, (["vent", "o2"],), 4), (_h_dispo, (), 1), (_h_cond, (["pneumonia", "copd"],), 1)]


def _p_cultures(rng):
    f = _Facts()
    _who(rng, f, "t")
    org, gram = rng.choice(_ORGANISMS)
    f.culture = (org, gram)
    f.add_cond("bacteraemia")
    text = f"{rng.choice(['Blood cultures grew', 'Two sets of blood cultures grew'])} {org} ."
    return text, f, [(_h_culture, (), 4), (_h_cond, (["bacteraemia", "pneumonia", "uti"],), 2),
                     (_h_meds, (["abx"],), 1)]


def _p_pregnant(rng):
    f = _Facts()
    age = rng.randint(19, 41)
    f.sex, f.age = "f", age
    f.status["pregnant"] = True
    sym = rng.choice(["headache", "abd_pain", "vomiting", "leg_swelling", "dyspnoea", "dizziness"])
    f.symptoms[sym] = True
    text = f"A {age}-year-old woman at {rng.randint(8, 38)} weeks of gestation presented with" \
           f" {rng.choice(_SYMPTOMS[sym][0])} ."
    return text, f, [(_h_status, (["pregnant"],), 3), (_h_symptom, ([sym] + _SYMPTOM_RELATED[sym][:1],), 2)]


# Examination findings: (finding, the symptom it establishes).
_EXAM = [tuple(row) for row in tables.rows("nli/exam_findings.txt")]


def _p_exam(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding, sym = rng.choice(_EXAM)
    f.symptoms[sym] = True
    text = f"{rng.choice(['Physical examination was notable for', 'On examination , there was'])} {finding} ."
    return text, f, [(_h_symptom, ([sym] + _SYMPTOM_RELATED[sym],), 4),
                     (_h_cond, (_SYMPTOM_CONDS.get(sym, []),), 1)]


# Lab trends: (lab, up or down).
_TRENDS = [tuple(row) for row in tables.rows("nli/lab_trends.txt")]


def _p_trend(rng):
    f = _Facts()
    w = _who(rng, f)
    lab, direction = rng.choice(_TRENDS)
    ranges = _LABS[lab][5]
    abnormal = next(r for r in ranges if r != "normal")
    v_ab, _ = _lab_value(rng, lab, abnormal)
    v_no, _ = _lab_value(rng, lab, "normal")
    start, end = (v_no, v_ab) if (direction == "up") == (abnormal == "high") else (v_ab, v_no)
    if (direction == "up") != (end > start):
        start, end = end, start
    f.labs[lab] = end
    f.trend[lab] = direction
    verb = "rose" if direction == "up" else "fell"
    start_text = _fmt(start, _LABS[lab][6])
    days = rng.randint(2, 5)
    text = f"{w['poss']} {_LABS[lab][0][0]} {verb} from {start_text} to {_lab_text(lab, end)} over {days} days ."
    rname = abnormal if end == v_ab else "normal"
    return text, f, [(_h_trend, (lab,), 4), (_h_lab, (lab,), 2), (_h_cond, (_LAB_CONDS[lab],), 1)] + \
        ([(_h_cause, (_LAB_CAUSE_TARGET[(lab, rname)],), 1)] if (lab, rname) in _LAB_CAUSE_TARGET else [])


def _p_weight_loss(rng):
    f = _Facts()
    w = _who(rng, f)
    f.symptoms["weight_loss"] = True
    text = f"{w['s']} reports an unintentional weight loss of {rng.randint(4, 15)} kg over {rng.randint(2, 8)} months ."
    return text, f, [(_h_symptom, (["weight_loss", "fatigue", "cough"],), 3), (_h_cond, (["colon_ca", "lung_ca"],), 2),
                     (_h_plan, (["colonoscopy", "biopsy"],), 1)]


# Drugs given in the emergency department: (drug, the symptom it was given for).
_GIVEN = [tuple(row) for row in tables.rows("nli/ed_medications.txt")]


def _p_given_ed(rng):
    f = _Facts()
    w = _who(rng, f)
    drug, sym = rng.choice(_GIVEN)
    f.add_meds([drug], home=False)
    f.symptoms[sym] = True
    text = f"{w['s']} was given {drug} in the emergency department for {rng.choice(_SYMPTOMS[sym][0])} ."
    return text, f, [(_h_meds, (list(_NLI_DRUGS[drug]),), 3), (_h_symptom, ([sym] + _SYMPTOM_RELATED[sym][:2],), 3)]


def _p_a1c(rng):
    f = _Facts()
    w = _who(rng, f)
    v = round(rng.choice([rng.uniform(8.5, 12.8), rng.uniform(5.8, 6.8)]), 1)
    drug = rng.choice(["metformin", "glipizide", "insulin_glargine"])
    f.labs["a1c"] = v
    f.add_cond("dm")
    f.add_meds([drug], home=True)
    on = "despite" if v > 8 and rng.random() < 0.6 else "on"
    text = f"{w['poss']} HbA1c was {v} % {on} {drug.replace('_', ' ')} ."
    return text, f, [(_h_a1c, (), 4), (_h_cond, (["dm"],), 1)] + _med_fams([drug])


def _p_inr(rng):
    f = _Facts()
    w = _who(rng, f)
    v = round(rng.choice([rng.uniform(2.0, 2.9), rng.uniform(4.2, 8.4)]), 1)
    f.labs["inr"] = v
    f.add_meds(["warfarin"], home=True)
    reason = rng.choice([("atrial fibrillation", "afib"), ("a mechanical mitral valve", None),
                         ("a prior deep vein thrombosis", "dvt_hx")])
    if reason[1]:
        f.add_cond(reason[1])
    text = f"{w['poss']} INR was {v} on warfarin for {reason[0]} ."
    return text, f, [(_h_lab, ("inr",), 4), (_h_meds, (["anticoag"],), 2),
                     (_h_cond, (["afib", "dvt_hx"],), 1)]


def _p_dialysis(rng):
    f = _Facts()
    w = _who(rng, f)
    f.add_cond("esrd")
    f.status["dialysis"] = True
    when = rng.choice(["three times a week", "on Mondays , Wednesdays and Fridays"])
    text = f"{w['s']} receives haemodialysis {when} for end-stage renal disease ."
    return text, f, [(_h_status, (["dialysis"],), 3), (_h_cond, (["esrd", "ckd"],), 3), (_h_lab, ("potassium",), 1)]


def _p_living(rng):
    f = _Facts()
    w = _who(rng, f, "ppn")
    living = rng.choice(sorted(_LIVING))
    job = "retired" if living == "nursing" else rng.choice(sorted(_JOBS))
    f.living, f.job = living, job
    spouse = "wife" if f.sex == "m" else "husband"
    text = f"{w['s']} {_LIVING[living].format(poss_l=w['poss_l'], spouse=spouse)} and {_JOBS[job]} ."
    return text, f, [(_h_social, (), 5)]


def _p_transfer(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    f.dx, f.dx_reason = dx, True
    f.add_cond(dx)
    text = f"{w['s']} was transferred from an outside hospital for management of {rng.choice(_CONDS[dx][0])} ."
    fams = [(_h_admit, (), 3), (_h_cond, ([dx],), 3), (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    if dx in _CAUSES:
        fams.append((_h_cause, (dx,), 1))
    return text, f, fams


_PREMISES: list[Callable] = [
    _p_started, _p_present, _p_lab, _p_two_labs, _p_lab_cause, _p_dx_cause, _p_vitals, _p_home_meds, _p_no_meds,
    _p_only_med, _p_social_habits, _p_pack_years, _p_family, _p_cxr, _p_cthead, _p_ecg, _p_echo, _p_allergy,
    _p_admit_unit, _p_discharged, _p_discharged_rehab, _p_held, _p_ruled_out, _p_denies, _p_hx_treated, _p_no_pmh,
    _p_plan, _p_declined, _p_past_surgery, _p_oxygen, _p_intubated, _p_cultures, _p_pregnant, _p_exam, _p_trend,
    _p_weight_loss, _p_given_ed, _p_a1c, _p_inr, _p_dialysis, _p_living, _p_transfer,
]


_NEGATION_WORDS = frozenset(("not", "no", "never", "denies", "without"))
_P_NEGATED = 0.3
_FAMILIES_PER_PAIR = 2


@functools.lru_cache(maxsize=None)
def _is_negated(text: str) -> bool:
    return not _NEGATION_WORDS.isdisjoint(text.split())


@functools.lru_cache(maxsize=None)
def _wording_key(text: str) -> str:
    """A hypothesis wording with its numbers masked."""
    return re.sub(r"[0-9.]+", "#", _tok(text))


def _weighted_index(rng: random.Random, weights: list[float]) -> int:
    """Index drawn with probability proportional to its weight."""
    r = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        r -= w
        if r < 0:
            return i
    return len(weights) - 1


_LABEL_OF = {True: _ENTAIL, False: _CONTRA, None: _NEUTRAL}  # "?" (ambiguous) has no label


def _nli_split(rng: random.Random, size: int, used: set, usage: dict) -> dict[str, list]:
    labels = [_LABELS[i % 3] for i in range(size)]
    rng.shuffle(labels)
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
    for label in labels:
        while True:
            premise, facts, fams = rng.choice(_PREMISES)(rng)
            # Visit families in weighted random order and collect wordings of the wanted label from the first few.
            remaining = fams + _generic_fams()
            pools: list[list[str]] = []
            while remaining and len(pools) < _FAMILIES_PER_PAIR:
                fn, args, _w = remaining.pop(_weighted_index(rng, [x[2] for x in remaining]))
                cands = [t for t, v in fn(facts, rng, *args) if _LABEL_OF.get(v) == label]
                if cands:
                    pools.append(cands)
            if not pools:
                continue
            # Draw negated and affirmative wordings at the same rate for every label where the premise allows it
            # (looking further through the families for a negated wording if needed).
            want_neg = rng.random() < _P_NEGATED
            kept = [[t for t in pool if _is_negated(t) == want_neg] for pool in pools]
            while want_neg and not any(kept) and remaining:
                fn, args, _w = remaining.pop(_weighted_index(rng, [x[2] for x in remaining]))
                kept = [[t for t, v in fn(facts, rng, *args) if _LABEL_OF.get(v) == label and _is_negated(t)]]
            if any(kept):
                pools = [pool for pool in kept if pool]
            # Prefer wordings used less often with this label than with the others, so that no wording (and hence
            # no word) becomes a cue for one label.
            chosen, weights = [], []
            for rank, pool in enumerate(pools):
                for t in pool:
                    seen = usage.get(_wording_key(t))
                    excess = seen[label] - min(seen.values()) if seen else 0
                    chosen.append(t)
                    weights.append((0.5 ** rank) / len(pool) / (1 + excess) ** 2)
            hypothesis = _tok(rng.choices(chosen, weights)[0])
            premise = _tok(premise)
            core = hypothesis[len("The patient "):] if hypothesis.startswith("The patient ") else hypothesis
            if (premise, hypothesis) in used or core[:-2] in premise:  # unique, and not a verbatim copy
                continue
            used.add((premise, hypothesis))
            usage.setdefault(_wording_key(hypothesis), dict.fromkeys(_LABELS, 0))[label] += 1
            rows["premise"].append(premise)
            rows["hypothesis"].append(hypothesis)
            rows["label"].append(label)
            break
    return rows


def demo_nli(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded clinical NLI demo corpus (MedNLI-style premise/hypothesis pairs).

    Each premise is a clinical statement generated together with the facts it establishes; each hypothesis is a
    statement whose truth is evaluated against those facts (true: entailment, false: contradiction, not determined:
    neutral). The same hypothesis wordings, negations included, therefore occur under all three labels.

    Args:
        seed: Seed for ``random.Random``; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), each with
        columns ``premise`` (str), ``hypothesis`` (str) and ``label`` (one of ``entailment``, ``neutral``,
        ``contradiction``), balanced by label; pairs are unique across splits.
    """
    rng = random.Random(seed)
    used: set[tuple[str, str]] = set()
    usage: dict[str, dict[str, int]] = {}
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.Value("string")})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(_nli_split(rng, size, used, usage), features=features)
        for split, size in _SPLITS
    })
