"""Tiny random models with real tokenizers of each family, built locally (no hub access).

`build_tiny(family, folder)` writes an ordinary Hugging Face model folder (config.json, random
weights, tokenizer files) that loads with `AutoTokenizer.from_pretrained(folder)`,
`AutoModelForTokenClassification.from_pretrained(folder)` and
`AutoModelForSequenceClassification.from_pretrained(folder)` exactly like a hub id.

Every tokenizer is learned from `CORPUS`, a small built-in set of biomedical sentences, by
`learn_bpe` below: a plain, deterministic byte-pair-encoding learner (ties broken by the pair's
text), so the vocabularies -- and the exact subword splits the tests write out by hand -- do not
depend on the version of `tokenizers` or `sentencepiece`. Frequent words end up whole, rarer
ones split into several pieces. Each family gets its real tokenizer class and pipeline:

- ``bert``: WordPiece (`BertTokenizer`, uncased, ``##`` continuation pieces), [CLS] x [SEP].
- ``gpt2``: byte-level BPE (`GPT2Tokenizer`, ``Ġ`` marks a leading space), no special tokens
  added, no pad token.
- ``biogpt``: Moses + BPE with ``</w>`` word ends (the slow `BioGptTokenizer`, needs
  `sacremoses`), </s> x.
- ``llama`` / ``mistral``: SentencePiece-style BPE (`LlamaTokenizer`: ``▁`` word starts, byte
  fallback, digits never merged), <s> x, no pad token. Mistral gets fewer merges than Llama so
  the two vocabularies differ. Both save ``tokenizer_class: LlamaTokenizer`` as the real ones do;
  in transformers 5 `AutoTokenizer` still loads the Mistral one as a generic `TokenizersBackend`
  (that is what its mapping for model_type "mistral" says without `mistral-common`).

Models: 2 layers, hidden size 64, 2 heads, feed-forward 128 (4-bit NF4 blocks of 64 need a width of 64 or more),
512 positions (room for instruction prompts), saved as the family's pretraining head model (`...ForMaskedLM` /
`...ForCausalLM`), as hub checkpoints are.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

FAMILIES = ("bert", "gpt2", "biogpt", "llama", "mistral")

HIDDEN = 64
LAYERS = 2
HEADS = 2
FFN = 128
POSITIONS = 512

# Merges learned per family (vocabularies end up a few hundred to ~900 entries).
N_MERGES = {"bert": 380, "gpt2": 380, "biogpt": 380, "llama": 380, "mistral": 300}

# ---------------------------------------------------------------------------------------------
# The built-in corpus: hand-written sentences plus a deterministic set of templated ones.
# "activates" and "STAT5" are kept out on purpose: the tests use them as words that split.

_HANDWRITTEN = """\
The patient was treated with aspirin for chronic pain.
Mutations in the BRCA1 gene increase the risk of breast cancer.
TP53 is the most frequently mutated gene in human cancer.
EGFR inhibitors are used in the treatment of lung cancer.
Metformin lowers blood glucose in patients with type 2 diabetes.
Insulin resistance is a hallmark of type 2 diabetes.
IL-6 and TNF-α are proinflammatory cytokines.
T cells recognize antigens presented by MHC molecules.
CD4 T cells help B cells to produce antibodies.
CD8 T cells kill infected cells.
Regulatory T cells suppress the immune response.
IL-2 is required for the proliferation of T cells.
IL-2 signaling promotes the expansion of regulatory T cells.
The JAK2 V617F mutation is common in myeloproliferative neoplasms.
STAT3 is phosphorylated in response to IL-6.
STAT3 activation was observed in tumor cells.
Activated STAT3 translocates to the nucleus.
The drug was well tolerated in the phase 2 trial.
Adverse events included nausea, fatigue and headache.
The most common adverse event was nausea.
Patients received 500 mg of metformin twice daily.
Warfarin is an anticoagulant used to prevent thrombosis.
Aspirin inhibits the synthesis of prostaglandins.
Cisplatin causes DNA damage in cancer cells.
Cisplatin nephrotoxicity limits the dose.
Doxorubicin is associated with cardiotoxicity.
Hepatotoxicity was reported in two patients.
Liver enzymes were elevated after treatment.
The tumor was resected and the patient recovered.
Imatinib inhibits the BCR-ABL kinase in chronic myeloid leukemia.
Gefitinib is effective in patients with EGFR mutations.
Trastuzumab targets HER2 in breast cancer.
Rituximab depletes B cells in lymphoma.
Tamoxifen blocks the estrogen receptor.
Paclitaxel stabilizes microtubules.
The protein binds to DNA and regulates transcription.
This gene encodes a protein kinase.
The kinase phosphorylates its substrate on serine residues.
Phosphorylation of the receptor activated downstream signaling.
The receptor was activated by its ligand.
Ligand binding leads to receptor activation.
Activation of the pathway increased cell proliferation.
Inhibition of the pathway reduced cell proliferation.
The expression of the gene was increased in tumor tissue.
The expression of the protein was decreased in patients.
Gene expression was measured by quantitative PCR.
Protein levels were measured by western blot.
Cells were cultured in medium with 10 % serum.
Cells were treated with the drug for 24 hours.
Apoptosis was measured by flow cytometry.
The mice were treated with the compound for two weeks.
Knockout mice showed reduced tumor growth.
The cells were transfected with a plasmid encoding the protein.
Silencing of the gene reduced cell migration.
The patients were randomized to receive placebo or the drug.
The primary outcome was overall survival.
Overall survival was improved in the treatment group.
There was no difference in survival between the groups.
The study included 120 patients with asthma.
Asthma is a chronic inflammatory disease of the airways.
Hypertension is a major risk factor for stroke.
Alzheimer's disease is a neurodegenerative disorder.
Amyloid plaques are found in the brain of patients with Alzheimer's disease.
Rheumatoid arthritis is an autoimmune disease.
Melanoma is a cancer of the skin.
Colorectal cancer is a common cause of cancer death.
Leukemia is a cancer of the blood.
Lymphoma is a cancer of the lymphatic system.
Obesity increases the risk of diabetes and hypertension.
The virus infects epithelial cells of the lung.
Infection with the virus induced the expression of interferon.
Interferon signaling activated the JAK-STAT pathway.
The JAK-STAT pathway regulates the immune response.
NF-kB is activated in inflammation.
Inflammation was reduced by treatment with the inhibitor.
The inhibitor blocked the activity of the enzyme.
The enzyme catalyzes the first step of the pathway.
The mutation reduced the activity of the enzyme.
Loss of PTEN activates the PI3K pathway.
Activating mutations in KRAS are found in colorectal cancer.
MYC is overexpressed in many tumors.
BCL2 inhibits apoptosis.
VEGF promotes angiogenesis in tumors.
Angiogenesis is required for tumor growth.
The antibody binds to the receptor on the cell surface.
Monoclonal antibodies are used in cancer therapy.
Immunotherapy improved survival in patients with melanoma.
The vaccine induced antibodies in all subjects.
Blood samples were collected at baseline.
Samples were analyzed by mass spectrometry.
The results suggest that the protein regulates cell growth.
These results indicate a role for the gene in cancer.
Further studies are needed to confirm these findings.
In conclusion, the drug was safe and effective.
The dose of the drug was reduced in patients with renal failure.
Renal function was monitored during treatment.
Serum creatinine was increased in the patients.
The patient developed a rash after treatment with the drug.
A rash was the most common side effect.
The gene is located on chromosome 17.
The protein contains a kinase domain.
The domain is required for binding to DNA.
The structure of the protein was determined by crystallography.
The cells were stained with an antibody against the protein.
"""

_GENES = ("BRCA1", "TP53", "EGFR", "KRAS", "STAT3", "IL-6", "TNF-α", "MYC", "PTEN", "HER2", "JAK2", "BCL2",
          "VEGF", "CD4", "IL-2", "NF-kB")
_DRUGS = ("aspirin", "metformin", "imatinib", "tamoxifen", "cisplatin", "rituximab", "warfarin", "insulin",
          "doxorubicin", "paclitaxel", "gefitinib", "trastuzumab")
_DISEASES = ("breast cancer", "diabetes", "lung cancer", "leukemia", "asthma", "hypertension",
             "Alzheimer's disease", "rheumatoid arthritis", "melanoma", "colorectal cancer", "lymphoma")
_TEMPLATES = (
    "{drug} is used to treat {disease}.",
    "Mutations in {gene} are associated with {disease}.",
    "{Drug} inhibits {gene} signaling in tumor cells.",
    "Expression of {gene} was increased in patients with {disease}.",
    "Treatment with {drug} reduced the expression of {gene}.",
    "{gene} is activated in T cells of patients with {disease}.",
    "The effect of {drug} on {gene} was studied in mice.",
    "Patients with {disease} were treated with {drug} ( 10 mg ).",
)


def _templated() -> list[str]:
    out = []
    for i in range(120):
        drug = _DRUGS[(i * 5) % len(_DRUGS)]
        out.append(_TEMPLATES[i % len(_TEMPLATES)].format(
            gene=_GENES[(i * 7) % len(_GENES)], drug=drug, Drug=drug.capitalize(),
            disease=_DISEASES[(i * 3) % len(_DISEASES)]))
    return out


CORPUS: tuple[str, ...] = tuple(_HANDWRITTEN.splitlines()) + tuple(_templated())


# ---------------------------------------------------------------------------------------------
# A deterministic BPE learner.

def learn_bpe(
    words: Counter,
    n_merges: int,
    join: Callable[[str, str], str] = str.__add__,
    allowed: Callable[[str, str], bool] | None = None,
) -> list[tuple[str, str]]:
    """Learn up to `n_merges` merges over `words` (a Counter of symbol tuples -> frequency).

    Each step merges the most frequent adjacent pair (at least 2 occurrences), ties broken by the
    smaller pair, so the result is fully deterministic. `join` builds the merged symbol (WordPiece
    drops the ``##`` of the right part); `allowed` vetoes pairs (e.g. digits for SentencePiece).
    """
    seqs = [list(w) for w in words]
    freqs = list(words.values())
    counts: Counter = Counter()
    where: defaultdict = defaultdict(set)
    for i, s in enumerate(seqs):
        for pair in zip(s, s[1:]):
            counts[pair] += freqs[i]
            where[pair].add(i)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        best = None
        for pair, c in counts.items():
            if c < 2 or (allowed is not None and not allowed(*pair)):
                continue
            if best is None or c > counts[best] or (c == counts[best] and pair < best):
                best = pair
        if best is None:
            break
        merges.append(best)
        a, b = best
        new = join(a, b)
        for i in sorted(where.pop(best)):
            s, f = seqs[i], freqs[i]
            if not any(s[k] == a and s[k + 1] == b for k in range(len(s) - 1)):
                continue
            for pair in zip(s, s[1:]):
                counts[pair] -= f
            merged, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and s[k] == a and s[k + 1] == b:
                    merged.append(new)
                    k += 2
                else:
                    merged.append(s[k])
                    k += 1
            seqs[i] = merged
            for pair in zip(merged, merged[1:]):
                counts[pair] += f
                where[pair].add(i)
        counts = Counter({p: c for p, c in counts.items() if c > 0})
    return merges


# Every printable ASCII character is in the WordPiece and BioGPT vocabularies, as in the real ones.
_ASCII = string.digits + string.ascii_letters + string.punctuation


def _vocab(specials: Iterable[str], base: Iterable[str], merges: list[tuple[str, str]],
           join: Callable[[str, str], str] = str.__add__) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for tok in [*specials, *base, *(join(a, b) for a, b in merges)]:
        vocab.setdefault(tok, len(vocab))
    return vocab


# ---------------------------------------------------------------------------------------------
# Tokenizers, one per family.

def _bert_tokenizer(n_merges: int):
    from tokenizers import normalizers, pre_tokenizers
    from transformers import BertTokenizer

    norm = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter = Counter()
    for line in CORPUS:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(line)):
            words[(w[0], *("##" + c for c in w[1:]))] += 1
    join = lambda a, b: a + b[2:]  # noqa: E731 -- continuation parts always start with ##
    merges = learn_bpe(words, n_merges, join)
    chars = set(_ASCII.lower()) | {s for w in words for s in w if not s.startswith("##")}
    base = sorted(chars) + sorted("##" + c for c in chars)
    vocab = _vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], base, merges, join)
    return BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=POSITIONS)


def _gpt2_tokenizer(n_merges: int):
    from tokenizers import pre_tokenizers
    from transformers import GPT2Tokenizer

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    words: Counter = Counter()
    for line in CORPUS:
        for w, _ in pre.pre_tokenize_str(line):
            words[tuple(w)] += 1
    merges = learn_bpe(words, n_merges)
    base = sorted(pre_tokenizers.ByteLevel.alphabet())  # GPT-2's byte order: "!" is id 0
    vocab = _vocab([], base, merges)
    vocab["<|endoftext|>"] = len(vocab)  # last, as in GPT-2
    return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=POSITIONS)


def _biogpt_tokenizer(n_merges: int, workdir: Path):
    import sacremoses
    from transformers import BioGptTokenizer

    moses = sacremoses.MosesTokenizer(lang="en")
    words: Counter = Counter()
    for line in CORPUS:
        for w in moses.tokenize(line, aggressive_dash_splits=True, return_str=False, escape=True):
            words[(*w[:-1], w[-1] + "</w>")] += 1
    merges = learn_bpe(words, n_merges)
    chars = set(_ASCII) | {s.removesuffix("</w>") for w in words for s in w}
    base = sorted(chars) + sorted(c + "</w>" for c in chars)
    vocab = _vocab(["<s>", "<pad>", "</s>", "<unk>"], base, merges)
    (workdir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
    (workdir / "merges.txt").write_text("".join(f"{a} {b} {len(merges) - i}\n" for i, (a, b) in enumerate(merges)),
                                        encoding="utf-8")
    return BioGptTokenizer(vocab_file=str(workdir / "vocab.json"), merges_file=str(workdir / "merges.txt"),
                            model_max_length=POSITIONS)


def _sentencepiece_allowed(a: str, b: str) -> bool:
    """SentencePiece's split_digits / split_by_unicode_script: no digit merges, letters and punctuation apart."""
    def kind(s: str) -> str:
        s = s.lstrip("▁")
        if not s:
            return "space"
        if any(c.isdigit() for c in s):
            return "digit"
        return "alpha" if all(c.isalpha() for c in s) else "punct"
    ka, kb = kind(a), kind(b)
    if "digit" in (ka, kb) or kb == "space":
        return False
    return ka == "space" or ka == kb


def _llama_tokenizer(n_merges: int):
    from transformers import LlamaTokenizer

    words: Counter = Counter()
    for line in CORPUS:
        for w in line.split():
            words[tuple("▁" + w)] += 1
    merges = learn_bpe(words, n_merges, allowed=_sentencepiece_allowed)
    chars = sorted({s for w in words for s in w})
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    vocab = _vocab(["<unk>", "<s>", "</s>", *byte_tokens], [], merges)
    for c in chars:  # SentencePiece puts the single characters after the merged pieces
        vocab.setdefault(c, len(vocab))
    return LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, model_max_length=POSITIONS)


# ---------------------------------------------------------------------------------------------
# Models.

def _model(family: str, tok):
    import torch
    import transformers as tf

    torch.manual_seed(0)
    n = len(tok)
    common = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    if family == "bert":
        cfg = tf.BertConfig(vocab_size=n, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                            intermediate_size=FFN, max_position_embeddings=POSITIONS, pad_token_id=tok.pad_token_id)
        return tf.BertForMaskedLM(cfg)
    if family == "gpt2":
        cfg = tf.GPT2Config(vocab_size=n, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=FFN,
                            n_positions=POSITIONS, **common)
        return tf.GPT2LMHeadModel(cfg)
    if family == "biogpt":
        cfg = tf.BioGptConfig(vocab_size=n, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                              intermediate_size=FFN, max_position_embeddings=POSITIONS, **common)
        return tf.BioGptForCausalLM(cfg)
    if family == "llama":
        cfg = tf.LlamaConfig(vocab_size=n, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                             num_key_value_heads=HEADS, intermediate_size=FFN, max_position_embeddings=POSITIONS,
                             **common)
        return tf.LlamaForCausalLM(cfg)
    if family == "mistral":
        cfg = tf.MistralConfig(vocab_size=n, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                               num_key_value_heads=1, intermediate_size=FFN, max_position_embeddings=POSITIONS,
                               sliding_window=None, **common)
        return tf.MistralForCausalLM(cfg)
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def build_tokenizer(family: str):
    """The family's tiny tokenizer, in memory (what `build_tiny` saves)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    n = N_MERGES[family]
    if family == "bert":
        return _bert_tokenizer(n)
    if family == "gpt2":
        return _gpt2_tokenizer(n)
    if family == "biogpt":
        with tempfile.TemporaryDirectory() as d:
            return _biogpt_tokenizer(n, Path(d))  # the slow tokenizer reads both files in __init__
    return _llama_tokenizer(n)


def build_tiny(family: str, folder: Path) -> Path:
    """Write a tiny random `family` model with its tokenizer to `folder` (created) and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(family)
    model = _model(family, tok)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
