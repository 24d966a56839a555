"""Conversation data (`messages`: a list of `{"role", "content"}` turns) for conversation tuning: read from the hub
(e.g. `gathnex/Gath_baize`), a local file or folder with a `messages` column or one text column with speaker markers
(Baize: `[|Human|]` ... `[|AI|]` ...), cut to its medical conversations by a documented filter; and the demo's own
conversations about the demo corpus' entities."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from bioprobe import data as data_module
from bioprobe.errors import BioprobeError

MARKERS = ("[|Human|]", "[|AI|]")
"""The Baize speaker markers (user, assistant) a one-column conversation is split on (configurable)."""
TEXT_COLUMNS = ("input", "text", "conversation", "dialogue", "chat")
"""Columns that may hold a whole conversation as one text with speaker markers (the first present one is used)."""
MEDICAL_COLUMNS = ("medical", "is_medical")
"""A boolean column that says which conversations are medical; used instead of the vocabulary when present."""
ROLES = {"user": "user", "human": "user", "patient": "user", "assistant": "assistant", "ai": "assistant",
         "gpt": "assistant", "bot": "assistant", "doctor": "assistant", "system": "system"}
MIN_MEDICAL_TERMS = 2
"""A conversation is medical when it uses at least this many distinct clinical words (`medical_terms`)."""
MEDICAL_TERMS = frozenset("""
abdomen abdominal acute allergic allergy anaemia anemia analgesic antibiotic antibiotics antibody anticoagulant
antidepressant antiviral anxiety aorta arrhythmia arthritis aspirin asthma bacteria bacterial biopsy blood bmi bowel
bronchitis cancer cardiac cardiologist cardiovascular carcinoma cholesterol chemotherapy chronic clinic clinical
colitis congestion contagious copd cough covid cyst dementia depression dermatitis diabetes diabetic diagnose
diagnosed diagnosis dialysis diarrhea diarrhoea disease diseases disorder dizziness doctor doctors dosage dose
eczema embolism epilepsy fatigue fever flu fracture gastric glucose gout headache heart hemorrhage hepatitis hiv
hormone hospital hypertension hypothyroidism ibuprofen immune immunization infection infections inflammation
inflammatory influenza injection insomnia insulin kidney leukemia liver lung lungs lymphoma malaria medical
medication medications medicine migraine mri nausea neurological neurologist nurse obesity oncologist oncology
pain painkiller pancreatitis paracetamol pathology patient patients pediatric pharmacist physician pneumonia
prescribed prescription psychiatric psychiatrist pulmonary radiology rash rehabilitation renal respiratory seizure
sepsis sinusitis statin stroke surgeon surgery symptom symptoms syndrome therapist therapy thyroid tonsillitis
tuberculosis tumor tumour ulcer ultrasound urinary vaccine vaccination viral virus vomiting wound x-ray
coronavirus covid-19 covid19 sars-cov-2
""".split())
"""A clinical vocabulary: diseases, symptoms, drugs, care and anatomy words (lower case)."""
MEDICAL_SUFFIXES = ("itis", "emia", "aemia", "oma", "pathy", "ectomy", "otomy", "osis", "algia", "plasia", "uria",
                    "mab", "nib", "statin", "cillin", "mycin", "prazole", "olol", "pril", "sartan", "azepam",
                    "vir", "dipine", "parin", "formin")
"""Word endings that mark a clinical word of 6 letters or more (diseases, drug stems) outside the vocabulary."""
NOT_CLINICAL = frozenset("""
empathy sympathy antipathy telepathy apathy diploma nostalgia academia bohemia dichotomy osmosis symbiosis
metamorphosis hypnosis apotheosis oklahoma tacoma sonoma manchuria
""".split())
"""Everyday words with a clinical ending (`MEDICAL_SUFFIXES`) that are not clinical words."""
NOT_CLINICAL_PHRASES = re.compile(
    r"\b(?:computer|software|email|e-mail|trojan)\s+virus(?:es)?\b|\banti-?virus\b"
    r"|\b(?:be|being|been|stay|staying|very|so|too|more|less|remain|remaining)\s+patient\b"
    r"|\bpatient\s+(?:enough|with\s+(?:me|you|him|her|them|us|it|yourself|myself))\b")
"""Word uses that look clinical and are not ("a computer virus", "be patient with me"): not counted."""
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True)
class ConversationData:
    """Conversations in the common schema.

    Attributes:
        splits: `train` / `validation` / `test` datasets with `messages` (a list of `{"role", "content"}`).
        source: What was loaded, human readable.
        selection: How the medical filter went: `{"rule", "kept", "total"}`.
    """

    splits: datasets.DatasetDict
    source: str
    selection: dict = field(default_factory=dict)


def parse_markers(text: str, markers: tuple[str, str] = MARKERS) -> list[dict]:
    """Turns of one conversation written as text with speaker markers.

    Text before the first marker (Baize: "The conversation between human and AI assistant.") is left out; empty
    turns (Baize ends on an empty `[|Human|]`) are dropped.

    Args:
        text: The conversation.
        markers: The user's and the assistant's marker.

    Returns:
        `[{"role": "user" | "assistant", "content": ...}, ...]` in order.
    """
    user, assistant = markers
    pattern = re.compile("(" + "|".join(re.escape(m) for m in markers) + ")")
    parts = pattern.split(text)
    turns = []
    for marker, content in zip(parts[1::2], parts[2::2]):
        content = content.strip()
        if content:
            turns.append({"role": "user" if marker == user else "assistant", "content": content})
    return turns


def medical_terms(messages: list[dict]) -> set[str]:
    """The distinct clinical words a conversation uses (any turn, case-insensitive, whole words): words of
    `MEDICAL_TERMS`, also as the last part of a hyphenated word ("anti-inflammatory"); and words (or last parts) of 6
    letters or more that end in one of `MEDICAL_SUFFIXES` (cardiomyopathy, metformin, ...) and are not
    `NOT_CLINICAL` ("empathy", "diploma"). Uses in `NOT_CLINICAL_PHRASES` ("computer virus", "be patient") do not
    count."""
    found = set()
    for turn in messages:
        text = NOT_CLINICAL_PHRASES.sub(" ", turn["content"].lower())
        for word in _WORD.findall(text):
            last = word.rsplit("-", 1)[-1]
            if word in MEDICAL_TERMS or last in MEDICAL_TERMS or (
                    len(last) >= 6 and last.endswith(MEDICAL_SUFFIXES) and last not in NOT_CLINICAL):
                found.add(word)
    return found


def is_medical(messages: list[dict], min_terms: int = MIN_MEDICAL_TERMS) -> bool:
    """The medical filter: at least `min_terms` distinct clinical words (`medical_terms`) in the conversation."""
    return len(medical_terms(messages)) >= min_terms


def describe_selection(selection: dict) -> str:
    """One line on the medical filter: conversations kept of those read, and by which rule."""
    share = selection["kept"] / selection["total"] if selection["total"] else 0.0
    return (f"conversations: {selection['kept']:,} kept of {selection['total']:,} read ({share:.0%}), medical by "
            f"{selection['rule']}")


def _messages(row: dict, where: str, markers: tuple[str, str]) -> list[dict]:
    """One row's turns, from a `messages` column (role / content, or from / value) or a marker text column."""
    if "messages" in row and row["messages"] is not None:
        value = row["messages"]
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError:
                raise BioprobeError(f"{where}: the messages value is not a JSON list of turns.") from None
        turns = []
        for turn in value:
            if not isinstance(turn, dict):
                raise BioprobeError(f"{where}: a turn of messages is not a {{role, content}} object.")
            role = ROLES.get(str(turn.get("role", turn.get("from", ""))).lower())
            content = turn.get("content", turn.get("value"))
            if role is None or not isinstance(content, str):
                raise BioprobeError(f"{where}: a turn has role {turn.get('role', turn.get('from'))!r}; roles are "
                                    "user / assistant / system (or human / ai / gpt).")
            if content.strip():
                turns.append({"role": role, "content": content.strip()})
        return turns
    column = next((c for c in TEXT_COLUMNS if isinstance(row.get(c), str)), None)
    if column is None:
        found = ", ".join(map(str, row)) or "none"
        raise BioprobeError(f"{where}: no conversation column: expected messages (role/content turns) or one text "
                            f"column ({', '.join(TEXT_COLUMNS)}) with speaker markers {markers[0]} / {markers[1]}; "
                            f"found {found}.")
    return parse_markers(row[column], markers)


def load_conversations(data: str | None, markers: tuple[str, str] = MARKERS, medical: bool = True,
                       min_terms: int = MIN_MEDICAL_TERMS, seed: int = 42) -> ConversationData:
    """Conversations with train, validation and test splits, cut to the medical ones.

    Args:
        data: "demo" (the demo's own conversations), a hub dataset id (e.g. gathnex/Gath_baize), or a local file or
            folder (JSONL / JSON / CSV / TSV / Parquet, or `save_to_disk`).
        markers: User and assistant markers of a one-column conversation.
        medical: Keep only medical conversations: by a boolean `medical` / `is_medical` column when the data has
            one, otherwise by `is_medical` (at least `min_terms` distinct clinical words).
        min_terms: See above.
        seed: Seed of the demo conversations.

    Returns:
        The conversations; data with one split gets a seeded 10 % validation and 10 % test split.

    Raises:
        BioprobeError: for data without a usable column, an unknown role, or nothing left after the filter.
    """
    if data is None:
        raise BioprobeError("Conversation tuning needs --data: demo, a hub id such as gathnex/Gath_baize, or a local "
                            "file or folder with a messages column or a [|Human|] / [|AI|] text column.")
    if data == "demo":
        return _select(_from_dataset_dict(demo_conversations(seed)), "demo", markers, medical, min_terms)
    path = Path(data).expanduser()
    if path.is_file():
        from bioprobe.instructions import read_table_file

        raw, source = {"all": read_table_file(path, "conversations")}, str(path.resolve())
    elif path.is_dir():
        from bioprobe.instructions import read_split_files

        raw, source = read_split_files(path)
    elif data_module.HUB_ID.fullmatch(data):
        raw, source = data_module.load_hub(data), f"hub:{data}"
    else:
        raise BioprobeError(f"The conversation data '{data}' is neither a file, a folder nor a hub id.")
    return _select(raw, source, markers, medical, min_terms)


def _from_dataset_dict(splits: datasets.DatasetDict) -> dict:
    return data_module.from_dataset_dict(splits, "demo conversations")


def _select(raw: dict, source: str, markers, medical: bool, min_terms: int) -> ConversationData:
    from bioprobe.instructions import raw_rows

    columns, kept, total, rule = {}, 0, 0, "none"
    for role, split in raw.items():
        rows, names = raw_rows(split)
        flag = next((c for c in MEDICAL_COLUMNS if c in names), None)
        rule = (f"column '{flag}'" if flag else f"at least {min_terms} distinct clinical words "
                "(bioprobe.conversations.medical_terms)") if medical else "none (every conversation)"
        messages = []
        for i, row in enumerate(rows):
            turns = _messages(row, split.locate(i), markers)
            total += 1
            if not any(t["role"] == "assistant" for t in turns):
                continue  # nothing to learn from
            if medical and not (bool(row[flag]) if flag else is_medical(turns, min_terms)):
                continue
            messages.append(turns)
        kept += len(messages)
        columns[role] = {"messages": messages}
    if not kept:
        raise BioprobeError(f"{source} has no usable conversations ({total} read, none with an assistant turn"
                            f"{' that passes the medical filter: ' + rule if medical else ''}).")
    from bioprobe.instructions import complete_splits

    splits = complete_splits(columns, source, carve_test=True)
    return ConversationData(datasets.DatasetDict({name: datasets.Dataset.from_dict(cols)
                                                  for name, cols in splits.items()}), source,
                            {"rule": rule, "kept": kept, "total": total})


# --- the demo's own conversations ---------------------------------------------------------------------------------


_GENERAL = (
    ("What is a good name for a grey cat?", "Many people like Smokey, Ash or Pebble for a grey cat."),
    ("Can you suggest a weekend hobby?", "You could try sketching, hiking or learning to bake bread."),
    ("How do I keep basil growing indoors?", "Give it a sunny window, water it when the soil feels dry and pinch "
                                             "off the flower buds."),
    ("What is the capital of Norway?", "The capital of Norway is Oslo."),
    ("Recommend a board game for four players.", "Ticket to Ride and Carcassonne both work well for four."),
)
_TYPE_WORD = {"Chemical": "chemicals or drugs", "Disease": "diseases", "Gene/Protein": "genes or proteins"}
_NLI_ANSWER = {"entailment": "Yes, the note supports that.",
               "contradiction": "No, the note says the opposite.",
               "neutral": "The note does not say either way."}


def demo_conversations(seed: int = 42) -> datasets.DatasetDict:
    """Assistant conversations about the demo corpus' sentences and notes, with a few general ones (about a tenth)
    for the medical filter to leave out: a user asks which entities of a type a sentence mentions and follows up with
    another type; or quotes a clinical note and asks whether a statement follows from it. Deterministic in `seed`.

    Returns:
        `train` / `validation` / `test` with `messages`; conversation i of a split is built from sentence i of the
        demo NER split and pair i of the demo NLI split of the same name.
    """
    import random

    from bioprobe.data import load_task_data
    from bioprobe.tasks.ner import entity_types

    ner, nli = load_task_data("ner", "demo"), load_task_data("nli", "demo")
    types = entity_types(ner.labels)
    out = {}
    for split in ("train", "validation", "test"):
        rng = random.Random(f"{seed}-{split}")
        sentences, pairs = ner.splits[split].to_list(), nli.splits[split].to_list()
        conversations = []
        for i, (sentence, pair) in enumerate(zip(sentences, pairs)):
            if i % 10 == 9:
                question, answer = _GENERAL[rng.randrange(len(_GENERAL))]
                conversations.append([{"role": "user", "content": question},
                                      {"role": "assistant", "content": answer}])
                continue
            if i % 2:
                conversations.append([
                    {"role": "user", "content": f"A patient's note says: \"{pair['premise']}\" Does that mean "
                                                f"\"{pair['hypothesis']}\"?"},
                    {"role": "assistant", "content": _NLI_ANSWER[pair["label"]]}])
                continue
            text = " ".join(sentence["tokens"])
            first, second = rng.sample(types, 2)
            turns = []
            for k, kind in enumerate((first, second)):
                mentions = _mentions(sentence["tokens"], sentence["tags"], kind)
                asked = (f"Which {_TYPE_WORD.get(kind, kind)} does this sentence mention? \"{text}\"" if k == 0
                         else f"And which {_TYPE_WORD.get(kind, kind)}?")
                turns.append({"role": "user", "content": asked})
                answer = ("It mentions " + ", ".join(mentions) + ".") if mentions else \
                    f"It mentions no {_TYPE_WORD.get(kind, kind)}."
                turns.append({"role": "assistant", "content": answer})
            conversations.append(turns)
        out[split] = datasets.Dataset.from_dict({"messages": conversations})
    return datasets.DatasetDict(out)


def _mentions(words: list[str], tags: list[str], kind: str) -> list[str]:
    """The mention strings of one entity type in a tagged sentence, in order, without repeats."""
    found, current = [], []
    for word, tag in zip(words, tags):
        if tag == f"B-{kind}":
            if current:
                found.append(" ".join(current))
            current = [word]
        elif tag == f"I-{kind}" and current:
            current.append(word)
        else:
            if current:
                found.append(" ".join(current))
            current = []
    if current:
        found.append(" ".join(current))
    return list(dict.fromkeys(found))
