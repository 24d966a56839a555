"""Tiny task data sets with a known answer: labels that a small model must learn from one cue word."""

from __future__ import annotations

import json
import random
from pathlib import Path

# Words the tiny tokenizers keep whole (tests/tiny_models.py trains them on biomedical text).
FILLER = ["the", "gene", "protein", "cell", "drug", "kinase", "receptor", "was", "treated", "with", "in", "of",
          "and", "expression"]
NLI_CUE = {"entailment": "increased", "neutral": "cancer", "contradiction": "reduced"}
CHEMICALS = ["insulin", "aspirin"]
DISEASES = ["diabetes"]


def write_cued_nli(folder: Path, sizes=(("train", 240), ("validation", 30), ("test", 60)), seed: int = 0) -> Path:
    """JSONL NLI splits whose label is given by one cue word in the hypothesis (a learnable known answer)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = list(NLI_CUE)
    for split, n in sizes:
        with open(folder / f"{split}.jsonl", "w") as handle:
            for i in range(n):
                label = labels[i % 3]
                premise = " ".join(rng.choice(FILLER) for _ in range(rng.randint(5, 9)))
                words = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
                words.insert(rng.randint(0, len(words)), NLI_CUE[label])
                handle.write(json.dumps({"premise": premise, "hypothesis": " ".join(words), "label": label}) + "\n")
    return folder


def write_cued_ner(folder: Path, sizes=(("train", 160), ("dev", 30), ("test", 60)), seed: int = 0) -> Path:
    """CoNLL NER splits in which Chemical and Disease mentions are fixed words (a learnable known answer)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes:
        lines = ["-DOCSTART- O", ""]
        for _ in range(n):
            words = [(w, "O") for w in (rng.choice(FILLER) for _ in range(rng.randint(4, 9)))]
            for entity, kind in ((rng.choice(CHEMICALS), "Chemical"), (rng.choice(DISEASES), "Disease")):
                if rng.random() < 0.8:
                    words.insert(rng.randint(0, len(words)), (entity, f"B-{kind}"))
            lines += [f"{w}\t{t}" for w, t in words] + [""]
        (folder / f"{split}.conll").write_text("\n".join(lines) + "\n")
    return folder


RE_CUE = {"1": "induces", "0": "unlike"}
"""GAD-like binary relations: the word between the two placeholders says whether they are related."""
CLS_CUE = {"kinase": "signaling", "receptor": "immune", "cell": "death"}
"""HoC-like multi-label texts: each cue word present gives its label (most texts have none)."""


def write_blurb_gad(folder: Path, sizes=(("train", 160), ("dev", 30), ("test", 60)), seed: int = 0) -> Path:
    """GAD splits in the BLURB layout: `train.tsv` / `dev.tsv` as `sentence<TAB>label` without a header, `test.tsv`
    as `index<TAB>sentence<TAB>label` with one; the gene and the disease replaced by @GENE$ and @DISEASE$, the label
    (1 / 0) given by the cue word between them."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes:
        lines = ["index\tsentence\tlabel"] if split == "test" else []
        for i in range(n):
            label = "1" if i % 3 == 0 else "0"  # one in three related, as in GAD's imbalance
            words = [rng.choice(FILLER) for _ in range(rng.randint(2, 5))] + ["@GENE$", RE_CUE[label], "@DISEASE$"] + \
                [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
            sentence = " ".join(words) + " ."
            lines.append(f"{i}\t{sentence}\t{label}" if split == "test" else f"{sentence}\t{label}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_blurb_hoc(folder: Path, sizes=(("train", 200), ("dev", 40), ("test", 60)), seed: int = 0) -> Path:
    """HoC-like splits in the BLURB layout (`labels<TAB>sentence` with a header, labels as `i_v` flags over the ten
    hallmarks): hallmark 0 when the text has "kinase", 2 with "cell", 9 with "receptor"; about half have none."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hallmark = {"kinase": 0, "cell": 2, "receptor": 9}
    plain = [w for w in FILLER if w not in hallmark]
    for split, n in sizes:
        lines = ["labels\tsentence"]
        for _ in range(n):
            words = [rng.choice(plain) for _ in range(rng.randint(4, 8))]
            for cue in hallmark:
                if rng.random() < 0.25:
                    words.insert(rng.randint(0, len(words)), cue)
            present = {hallmark[cue] for cue in hallmark if cue in words}
            flags = ",".join(f"{i}_{int(i in present)}" for i in range(10))
            lines.append(f"{flags}\t{' '.join(words)}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_cued_instructions(folder: Path, task: str, sizes=(("train", 96), ("test", 24)), seed: int = 0) -> Path:
    """JSONL instruction splits (instruction, input, output), short so that tiny models train on them fast: NLI
    answered by the label word its hypothesis cue names, NER tagging the Chemical words (`word : B|O` lines)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    words_of = {"entailment": "Entailment", "neutral": "Neutral", "contradiction": "Contradiction"}
    for split, n in sizes:
        with open(folder / f"{split}.jsonl", "w") as handle:
            for i in range(n):
                if task == "nli":
                    label = list(NLI_CUE)[i % 3]
                    text = f"Premise: the {rng.choice(FILLER)}\nHypothesis: {NLI_CUE[label]}"
                    row = {"instruction": "Entailment, Neutral or Contradiction?", "input": text,
                           "output": words_of[label]}
                else:
                    words = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
                    words.insert(rng.randint(0, len(words)), rng.choice(CHEMICALS))
                    lines = [f"{w} : {'B' if w in CHEMICALS else 'O'}" for w in words]
                    row = {"instruction": "Tag Chemical named entities (BIO).", "input": " ".join(words),
                           "output": "\n".join(lines)}
                handle.write(json.dumps(row) + "\n")
    return folder


# --- instruction data shaped like the published Llama2-MedTuned set ------------------------------------------------
# The published set (nlpie/Llama2-MedTuned-Instructions) mixes NER (NCBI-disease, BC5CDR, BC2GM, JNLPBA, i2b2-2012),
# RE (GAD, i2b2-2010), NLI (MedNLI), document classification (HoC) and QA rows without a task column. Each corpus
# words its instruction five ways; NER answers are `token : label` lines (B / I / O, typed for i2b2-2012), the input
# the tokens joined by spaces; NLI inputs are "Sentence 1: ...\nSentence 2: ..." answered by a capitalised label word;
# GAD marks its entities @GENE$ / @DISEASE$. The instruction texts below are our own, written in the same style:
# two of the five NER wordings never say "named entity" or "entity recognition", as in the published set.
DISEASE_WORDINGS = (
    "Your goal is to detect disease-related Named Entities within the text and apply the BIO labeling scheme: B for the "
    "first word of a disease phrase, I for the words after it in the phrase, O for every other word.",
    "Within the given text, recognise and label the Named Entities that refer to diseases using BIO tags: the opening "
    "word of a disease phrase is B (Begin), the rest of it I (Inner), all other words O.",
    "Your task is to spot mentions of diseases in the text and apply the BIO labeling scheme. Give the first word of "
    "each disease phrase B (Begin), the remaining words of the phrase I (Inner), and any other word O.",
    "In the text below, your mission is to identify Named Entities referring to diseases and to tag them with the BIO "
    "scheme (B = Begin, I = Inner, O = not part of a disease phrase).",
    "Your objective is to find instances of diseases within the input text and apply the BIO labeling scheme. Label "
    "the first word of each disease phrase B (Begin), the following words I (Inner), and words unrelated to diseases "
    "O.",
)
CLINICAL_WORDINGS = tuple(
    f"{lead} clinical Named Entities in the text and apply the BIO labeling scheme with these labels:\n"
    "PROBLEM: a medical problem.\nTEST: a medical test.\nTREATMENT: a medical treatment.\nO: none of these."
    for lead in ("Your task is to identify", "Detect the", "As an annotator, recognise the", "Find the",
                 "Your role is to label the"))
NLI_WORDINGS = tuple(
    f"{lead} the two clinical sentences and choose one label:\nContradiction: the sentences conflict.\n"
    "Neutral: neither follows from the other.\nEntailment: one sentence implies the other."
    for lead in ("Decide the relationship between", "Assess the connection of", "Classify the logical relation of",
                 "Determine how one relates to the other in", "Evaluate"))
GAD_WORDINGS = tuple(
    f"{lead} Genes are marked @GENE$ and diseases @DISEASE$. Answer Positive if the text relates the marked gene to "
    "the marked disease, Negative if it does not."
    for lead in ("As a medical expert, judge the gene-disease association in the text.",
                 "Decide whether the clinical text links a gene and a disease.",
                 "Your role is to assess the connection between the marked entities.",
                 "Determine the relationship between a gene and a disease in the sentence.",
                 "Classify the association stated between the two marked entities."))
HOC_LABELS = ("sustaining proliferative signaling", "resisting cell death", "inducing angiogenesis",
              "activating invasion and metastasis", "genomic instability and mutation")

_DISEASE_SENTENCE = ("Germline mutations in the BRCA1 gene ( IL-6 , TNF-alpha ) predispose women to {d} , and the "
                     "patient 's risk of {d2} rose after 2R,4R-APDC exposure in a cohort of 40 families .")
_DISEASES = (("breast cancer", "ovarian cancer"), ("type 2 diabetes", "diabetic nephropathy"),
             ("Alzheimer 's disease", "dementia"), ("familial adenomatous polyposis", "colorectal cancer"))


def _ner_answer(words: list[str], tags: list[str]) -> str:
    return "\n".join(f"{w} : {t}" for w, t in zip(words, tags))


def _disease_row(rng: random.Random) -> dict:
    first, second = rng.choice(_DISEASES)
    words, tags = [], []
    for token in _DISEASE_SENTENCE.split():
        mention = {"{d}": first, "{d2}": second}.get(token)
        if mention is None:
            words.append(token)
            tags.append("O")
        else:
            parts = mention.split()
            words += parts
            tags += ["B"] + ["I"] * (len(parts) - 1)
    return {"instruction": rng.choice(DISEASE_WORDINGS), "input": " ".join(words), "output": _ner_answer(words, tags)}


def _clinical_row(rng: random.Random) -> dict:
    words = "The patient 's chest x-ray showed pneumonia and was treated with IV antibiotics ; no fever .".split()
    tags = ["O", "O", "O", "B-TEST", "I-TEST", "O", "B-PROBLEM", "O", "O", "O", "O", "B-TREATMENT", "I-TREATMENT",
            "O", "O", "B-PROBLEM", "O"]
    start = rng.randint(0, 3)
    return {"instruction": rng.choice(CLINICAL_WORDINGS), "input": " ".join(words[start:]),
            "output": _ner_answer(words[start:], tags[start:])}


def _nli_row(rng: random.Random) -> dict:
    label = rng.choice(("Entailment", "Neutral", "Contradiction"))
    return {"instruction": rng.choice(NLI_WORDINGS),
            "input": f"Sentence 1: Labs were notable for a creatinine of {rng.randint(1, 4)}.{rng.randint(0, 9)} and "
                     f"a white count of {rng.randint(4, 20)}.\nSentence 2: The patient has {rng.choice(['renal failure', 'an infection', 'no complaints'])}.",
            "output": label}


def _gad_row(rng: random.Random) -> dict:
    return {"instruction": rng.choice(GAD_WORDINGS),
            "input": "Polymorphisms of @GENE$ were associated with an increased risk of @DISEASE$ in this cohort .",
            "output": rng.choice(("Positive", "Negative"))}


def _hoc_row(rng: random.Random) -> dict:
    chosen = sorted(rng.sample(HOC_LABELS, rng.randint(1, 2)))
    return {"instruction": "Assign the hallmarks of cancer that this abstract describes; list them separated by commas.",
            "input": "The inhibitor reduced VEGF expression and blocked tumour vessel growth in mice .",
            "output": ", ".join(chosen)}


def _qa_row(rng: random.Random) -> dict:
    return {"instruction": "Answer the patient's question as a doctor would.",
            "input": f"I have had a cough for {rng.randint(2, 9)} days. Should I worry?",
            "output": "A cough of a few days is usually viral; see a doctor if you have fever or trouble breathing."}


MEDTUNED_LIKE = {"disease": (_disease_row, "ner"), "clinical": (_clinical_row, "ner"), "nli": (_nli_row, "nli"),
                 "gad": (_gad_row, None), "hoc": (_hoc_row, None), "qa": (_qa_row, None)}
"""Row makers of the MedTuned-shaped set and the task bioprobe must assign them (None: neither NER nor NLI)."""


def write_medtuned_like(folder: Path, per_corpus: dict[str, int] | None = None, seed: int = 0,
                        split_fractions=(("train", 0.8), ("test", 0.2)), extra: list[dict] = ()) -> dict:
    """A mixed instruction set shaped like Llama2-MedTuned-Instructions (no task column), as JSONL split files.

    Args:
        folder: Where train.jsonl / test.jsonl go.
        per_corpus: Rows per corpus (`MEDTUNED_LIKE` keys; default 20 of each).
        seed: Seed of the rows and their order.
        split_fractions: Share of each corpus' rows per split.
        extra: Rows appended to the train split as they are (e.g. malformed ones).

    Returns:
        Rows per expected task and split: `{"train": {"ner": n, "nli": n, "other": n}, "test": {...}}`.
    """
    rng = random.Random(seed)
    per_corpus = per_corpus or dict.fromkeys(MEDTUNED_LIKE, 20)
    folder.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[dict]] = {name: [] for name, _ in split_fractions}
    counts = {name: {"ner": 0, "nli": 0, "other": 0} for name, _ in split_fractions}
    for corpus, n in per_corpus.items():
        make, task = MEDTUNED_LIKE[corpus]
        start = 0
        for k, (name, share) in enumerate(split_fractions):
            stop = n if k == len(split_fractions) - 1 else start + round(n * share)
            for _ in range(start, stop):
                splits[name].append(make(rng))
                counts[name][task or "other"] += 1
            start = stop
    splits[split_fractions[0][0]] += list(extra)
    for name, rows in splits.items():
        rng.shuffle(rows)
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return counts
