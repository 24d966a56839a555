"""Known-answer tests for bioprobe.align on the tiny tokenizers of each family and on two real ones."""

from __future__ import annotations


import pytest
from transformers import AutoTokenizer

from bioprobe.align import WordEncoding, encode_words, first_subword_labels, structural_special_ids
from bioprobe.errors import BioprobeError
from bioprobe.registry import resolve_model

S1 = ["IL-2", "activates", "STAT5", "in", "T", "cells", "."]
S2 = ["Hepatotoxicity", "(", "grade", "3", ")", "was", "reported", "with", "TNF-α", "inhibitors", "."]


@pytest.fixture(scope="module")
def tok(tiny_model_dirs):
    """family -> tokenizer loaded from the tiny model folder, as the project loads a hub id."""
    return {family: AutoTokenizer.from_pretrained(folder) for family, folder in tiny_model_dirs.items()}


# family, words, spans, tokens of each word's span, every token of input_ids (specials included)
KNOWN = [
    ("bert", S1,
     [(1, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 12)],
     [["il", "-", "2"], ["activ", "##ates"], ["stat", "##5"], ["in"], ["t"], ["cells"], ["."]],
     ["[CLS]", "il", "-", "2", "activ", "##ates", "stat", "##5", "in", "t", "cells", ".", "[SEP]"]),
    ("bert", S2,
     [(1, 7), (7, 8), (8, 12), (12, 13), (13, 14), (14, 15), (15, 20), (20, 21), (21, 24), (24, 26), (26, 27)],
     [["h", "##e", "##p", "##ato", "##t", "##oxicity"], ["("], ["g", "##ra", "##d", "##e"], ["3"], [")"], ["was"],
      ["re", "##p", "##or", "##t", "##ed"], ["with"], ["tnf", "-", "α"], ["inhibitor", "##s"], ["."]],
     ["[CLS]", "h", "##e", "##p", "##ato", "##t", "##oxicity", "(", "g", "##ra", "##d", "##e", "3", ")", "was",
      "re", "##p", "##or", "##t", "##ed", "with", "tnf", "-", "α", "inhibitor", "##s", ".", "[SEP]"]),
    ("gpt2", S1,
     [(0, 3), (3, 5), (5, 7), (7, 8), (8, 9), (9, 10), (10, 12)],
     [["ĠIL", "-", "2"], ["Ġactiv", "ates"], ["ĠSTAT", "5"], ["Ġin"], ["ĠT"], ["Ġcells"], ["Ġ", "."]],
     ["ĠIL", "-", "2", "Ġactiv", "ates", "ĠSTAT", "5", "Ġin", "ĠT", "Ġcells", "Ġ", "."]),
    ("gpt2", S2,
     [(0, 9), (9, 10), (10, 15), (15, 17), (17, 19), (19, 20), (20, 25), (25, 26), (26, 29), (29, 32), (32, 34)],
     [["Ġ", "H", "e", "p", "ato", "t", "ox", "ic", "ity"], ["Ġ("], ["Ġg", "r", "a", "d", "e"], ["Ġ", "3"],
      ["Ġ", ")"], ["Ġwas"], ["Ġre", "p", "or", "t", "ed"], ["Ġwith"], ["ĠTNF", "-", "Î±"],  # α is 2 bytes
      ["Ġinhibit", "or", "s"], ["Ġ", "."]],
     ["Ġ", "H", "e", "p", "ato", "t", "ox", "ic", "ity", "Ġ(", "Ġg", "r", "a", "d", "e", "Ġ", "3", "Ġ", ")",
      "Ġwas", "Ġre", "p", "or", "t", "ed", "Ġwith", "ĠTNF", "-", "Î±", "Ġinhibit", "or", "s", "Ġ", "."]),
    ("biogpt", S1,
     [(1, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 12)],
     [["IL</w>", "@-@</w>", "2</w>"], ["activ", "ates</w>"], ["STAT", "5</w>"], ["in</w>"], ["T</w>"],
      ["cells</w>"], [".</w>"]],
     ["</s>", "IL</w>", "@-@</w>", "2</w>", "activ", "ates</w>", "STAT", "5</w>", "in</w>", "T</w>", "cells</w>",
      ".</w>"]),
    ("biogpt", S2,
     [(1, 7), (7, 8), (8, 12), (12, 13), (13, 14), (14, 15), (15, 20), (20, 21), (21, 24), (24, 27), (27, 28)],
     [["H", "e", "pat", "ot", "ox", "icity</w>"], ["(</w>"], ["g", "r", "ad", "e</w>"], ["3</w>"], [")</w>"],
      ["was</w>"], ["re", "p", "or", "t", "ed</w>"], ["with</w>"], ["TNF</w>", "@-@</w>", "α</w>"],
      ["inhibit", "or", "s</w>"], [".</w>"]],
     ["</s>", "H", "e", "pat", "ot", "ox", "icity</w>", "(</w>", "g", "r", "ad", "e</w>", "3</w>", ")</w>",
      "was</w>", "re", "p", "or", "t", "ed</w>", "with</w>", "TNF</w>", "@-@</w>", "α</w>", "inhibit", "or",
      "s</w>", ".</w>"]),
    ("llama", S1,
     [(1, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 13)],
     [["▁IL", "-", "2"], ["▁activ", "ates"], ["▁STAT", "5"], ["▁in"], ["▁T"], ["▁cells"], ["▁", "."]],
     ["<s>", "▁IL", "-", "2", "▁activ", "ates", "▁STAT", "5", "▁in", "▁T", "▁cells", "▁", "."]),
    ("llama", S2,
     [(1, 10), (10, 11), (11, 16), (16, 18), (18, 20), (20, 21), (21, 26), (26, 27), (27, 30), (30, 33), (33, 35)],
     [["▁", "H", "e", "p", "ato", "t", "ox", "ic", "ity"], ["▁("], ["▁g", "r", "a", "d", "e"], ["▁", "3"],
      ["▁", ")"], ["▁was"], ["▁re", "p", "or", "t", "ed"], ["▁with"], ["▁TNF", "-", "α"], ["▁inhibit", "or", "s"],
      ["▁", "."]],
     ["<s>", "▁", "H", "e", "p", "ato", "t", "ox", "ic", "ity", "▁(", "▁g", "r", "a", "d", "e", "▁", "3", "▁", ")",
      "▁was", "▁re", "p", "or", "t", "ed", "▁with", "▁TNF", "-", "α", "▁inhibit", "or", "s", "▁", "."]),
    ("mistral", S1,
     [(1, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 13)],
     [["▁IL", "-", "2"], ["▁activ", "ates"], ["▁STAT", "5"], ["▁in"], ["▁T"], ["▁cells"], ["▁", "."]],
     ["<s>", "▁IL", "-", "2", "▁activ", "ates", "▁STAT", "5", "▁in", "▁T", "▁cells", "▁", "."]),
    ("mistral", S2,  # fewer merges than llama: "ity" is "it" + "y" here
     [(1, 11), (11, 12), (12, 17), (17, 19), (19, 21), (21, 22), (22, 27), (27, 28), (28, 31), (31, 34), (34, 36)],
     [["▁", "H", "e", "p", "ato", "t", "ox", "ic", "it", "y"], ["▁("], ["▁g", "r", "a", "d", "e"], ["▁", "3"],
      ["▁", ")"], ["▁was"], ["▁re", "p", "or", "t", "ed"], ["▁with"], ["▁TNF", "-", "α"], ["▁inhibit", "or", "s"],
      ["▁", "."]],
     ["<s>", "▁", "H", "e", "p", "ato", "t", "ox", "ic", "it", "y", "▁(", "▁g", "r", "a", "d", "e", "▁", "3", "▁",
      ")", "▁was", "▁re", "p", "or", "t", "ed", "▁with", "▁TNF", "-", "α", "▁inhibit", "or", "s", "▁", "."]),
]


def _check(tokenizer, words, spans, span_tokens, all_tokens):
    enc = encode_words(tokenizer, words)
    assert enc.spans == spans
    assert [tokenizer.convert_ids_to_tokens(enc.input_ids[a:b]) for a, b in enc.spans] == span_tokens
    assert tokenizer.convert_ids_to_tokens(enc.input_ids) == all_tokens
    assert enc.n_truncated_words == 0
    return enc


@pytest.mark.parametrize(("family", "words", "spans", "span_tokens", "all_tokens"), KNOWN,
                         ids=[f"{k[0]}-{'S1' if k[1] is S1 else 'S2'}" for k in KNOWN])
def test_known_spans(tok, family, words, spans, span_tokens, all_tokens):
    _check(tok[family], words, spans, span_tokens, all_tokens)


def test_families_have_the_expected_tokenizer_kinds(tok):
    assert tok["bert"].is_fast and tok["gpt2"].is_fast and tok["llama"].is_fast and tok["mistral"].is_fast
    assert not tok["biogpt"].is_fast  # BioGPT only has a slow tokenizer: no word_ids()
    for family in ("gpt2", "llama", "mistral"):
        assert tok[family].pad_token is None  # as the real families; the project's loader sets one


@pytest.mark.parametrize("family", ["bert", "biogpt", "llama", "mistral"])
@pytest.mark.parametrize("words", [S1, S2], ids=["S1", "S2"])
def test_same_ids_as_tokenizing_the_joined_sentence(tok, family, words):
    assert encode_words(tok[family], words).input_ids == tok[family](" ".join(words))["input_ids"]


def test_gpt2_without_add_prefix_space_gives_the_same_spans(tiny_model_dirs, tok):
    plain = tok["gpt2"]
    prefixed = AutoTokenizer.from_pretrained(tiny_model_dirs["gpt2"], add_prefix_space=True)
    assert plain("IL-2")["input_ids"] != prefixed("IL-2")["input_ids"]  # the flag does matter to the tokenizer
    for words in (S1, S2):
        a, b = encode_words(plain, words), encode_words(prefixed, words)
        assert a == b
        # Every word, the first included, carries its leading space: what tokenizer(" ".join(words)) gives
        # with add_prefix_space=True; without it the joined string only differs in the first word.
        assert a.input_ids == prefixed(" ".join(words))["input_ids"]
        first_end = a.spans[0][1]
        assert plain(" ".join(words))["input_ids"] == plain(words[0])["input_ids"] + a.input_ids[first_end:]
    assert plain.convert_ids_to_tokens(encode_words(plain, S1).input_ids[:3]) == ["ĠIL", "-", "2"]


def test_llama_loaded_without_prefix_space_gives_the_same_spans(tiny_model_dirs, tok):
    no_prefix = AutoTokenizer.from_pretrained(tiny_model_dirs["llama"], add_prefix_space=False)
    assert no_prefix.convert_ids_to_tokens(no_prefix("IL-2")["input_ids"]) == ["<s>", "I", "L", "-", "2"]
    assert encode_words(no_prefix, S1) == encode_words(tok["llama"], S1)


def test_first_subword_labels_by_hand(tok):
    enc = encode_words(tok["bert"], S1)
    # [CLS] il - 2 | activ ##ates | stat ##5 | in | t | cells | . [SEP]
    labels = first_subword_labels(enc, [3, 0, 4, 0, 5, 6, 0])
    assert labels == [-100, 3, -100, -100, 0, -100, 4, -100, 0, 5, 6, 0, -100]
    assert first_subword_labels(enc, [1] * 7, ignore_index=-1) == [-1, 1, -1, -1, 1, -1, 1, -1, 1, 1, 1, 1, -1]
    with pytest.raises(ValueError):
        first_subword_labels(enc, [0] * 6)


def test_first_subword_labels_skip_truncated_words(tok):
    enc = encode_words(tok["biogpt"], S1, max_length=7)
    # </s> IL @-@ 2 | activ ates  -- "STAT5" (2 pieces) would make 8
    assert enc.spans == [(1, 4), (4, 6), None, None, None, None, None]
    assert first_subword_labels(enc, [1, 2, 3, 4, 5, 6, 7]) == [-100, 1, -100, -100, 2, -100]


def test_truncation_by_hand(tok):
    bert = tok["bert"]
    enc = encode_words(bert, S1, max_length=8)  # room for 6 pieces: il - 2 activ ##ates, not stat ##5
    assert enc == WordEncoding(input_ids=enc.input_ids, spans=[(1, 4), (4, 6), None, None, None, None, None],
                               n_truncated_words=5)
    assert bert.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "il", "-", "2", "activ", "##ates", "[SEP]"]
    enc = encode_words(bert, S1, max_length=9)  # exactly enough for stat ##5
    assert enc.spans[:3] == [(1, 4), (4, 6), (6, 8)] and enc.spans[3:] == [None] * 4 and len(enc.input_ids) == 9
    enc = encode_words(bert, S1, max_length=2)  # only the special tokens fit
    assert bert.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "[SEP]"]
    assert enc.spans == [None] * 7 and enc.n_truncated_words == 7
    with pytest.raises(BioprobeError):
        encode_words(bert, S1, max_length=1)
    gpt2 = encode_words(tok["gpt2"], S1, max_length=4)  # no special tokens: ĠIL - 2 fit, Ġactiv ates do not
    assert gpt2.spans == [(0, 3)] + [None] * 6 and gpt2.n_truncated_words == 6 and len(gpt2.input_ids) == 3


@pytest.mark.parametrize("max_length", [3, 5, 8, 12, 20, 100])
def test_truncation_every_family(tok, max_length):
    for family, tokenizer in tok.items():
        full = encode_words(tokenizer, S2)
        cut = encode_words(tokenizer, S2, max_length=max_length)
        n_special = len(full.input_ids) - sum(b - a for a, b in full.spans)
        assert len(cut.input_ids) <= max(max_length, n_special), family
        kept = [s for s in cut.spans if s is not None]
        assert cut.spans == kept + [None] * cut.n_truncated_words, family  # words are cut from the end only
        assert kept == full.spans[:len(kept)], family
        prefix = full.spans[0][0]
        end = kept[-1][1] if kept else prefix
        assert cut.input_ids[:end] == full.input_ids[:end], family
        suffix = full.input_ids[full.spans[-1][1]:]
        assert cut.input_ids[:prefix] == full.input_ids[:prefix], family  # special tokens kept
        assert cut.input_ids[len(cut.input_ids) - len(suffix):] == suffix, family
        if len(full.input_ids) <= max_length:
            assert cut == full, family


def test_no_truncation_without_max_length(tok):
    long_sentence = S2 * 20
    enc = encode_words(tok["bert"], long_sentence)
    assert enc.n_truncated_words == 0 and len(enc.input_ids) == 2 + 20 * 26


def test_without_special_tokens(tok):
    enc = encode_words(tok["bert"], S1, add_special_tokens=False)
    assert enc.spans == [(0, 3), (3, 5), (5, 7), (7, 8), (8, 9), (9, 10), (10, 11)]
    enc = encode_words(tok["llama"], ["cells"], add_special_tokens=False)
    assert tok["llama"].convert_ids_to_tokens(enc.input_ids) == ["▁cells"]


def test_words_without_pieces_get_the_unk_token(tok):
    bert = tok["bert"]
    enc = encode_words(bert, ["a", "\xad", "", "cells"])  # BERT's normalizer deletes a soft hyphen
    assert enc.spans == [(1, 2), (2, 3), (3, 4), (4, 5)]
    assert bert.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "a", "[UNK]", "[UNK]", "cells", "[SEP]"]
    llama = tok["llama"]
    enc = encode_words(llama, ["", "cells"])
    assert llama.convert_ids_to_tokens(enc.input_ids) == ["<s>", "<unk>", "▁cells"]
    biogpt = tok["biogpt"]
    enc = encode_words(biogpt, ["cells", " "])
    assert biogpt.convert_ids_to_tokens(enc.input_ids) == ["</s>", "cells</w>", "<unk>"]
    gpt2 = tok["gpt2"]  # byte-level BPE always has a piece: the space
    assert gpt2.convert_ids_to_tokens(encode_words(gpt2, [""]).input_ids) == ["Ġ"]


def test_words_spelling_special_tokens_stay_text(tok):
    bert = tok["bert"]
    enc = encode_words(bert, ["[CLS]", "cells"])
    assert bert.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "[", "c", "##l", "##s", "]", "cells", "[SEP]"]
    assert enc.spans == [(1, 6), (6, 7)]
    llama = tok["llama"]
    enc = encode_words(llama, ["<s>"])
    # "<" and ">" are not in the tiny vocabulary: SentencePiece's byte fallback spells them as bytes
    assert llama.convert_ids_to_tokens(enc.input_ids) == ["<s>", "▁", "<0x3C>", "s", "<0x3E>"]


def test_structural_special_ids_are_the_tokens_the_tokenizer_adds(tok):
    """[CLS] / [SEP] / BOS of each family's single and pair template; never [UNK], [MASK] or the pad token."""
    expected = {"bert": {"[CLS]", "[SEP]"}, "gpt2": set(), "biogpt": {"</s>"}, "llama": {"<s>"}, "mistral": {"<s>"}}
    for family, tokens in expected.items():
        tokenizer = tok[family]
        assert structural_special_ids(tokenizer) == {tokenizer.convert_tokens_to_ids(t) for t in tokens}, family
    bert = tok["bert"]
    assert set(bert.all_special_ids) - structural_special_ids(bert) == {0, 1, 4}  # [PAD], [UNK], [MASK]


def test_empty_sentence_and_bad_input(tok):
    assert encode_words(tok["bert"], []) == WordEncoding(input_ids=[2, 3], spans=[], n_truncated_words=0)
    assert encode_words(tok["gpt2"], []) == WordEncoding(input_ids=[], spans=[], n_truncated_words=0)
    with pytest.raises(TypeError):
        encode_words(tok["bert"], "IL-2 activates STAT5")


def test_repeated_calls_agree_and_added_tokens_are_seen(tiny_model_dirs, tok):
    for tokenizer in tok.values():  # the second call is served from the word cache
        assert encode_words(tokenizer, S1 + S2) == encode_words(tokenizer, S1 + S2)
    fresh = AutoTokenizer.from_pretrained(tiny_model_dirs["bert"])
    assert encode_words(fresh, S1).spans[1] == (4, 6)
    fresh.add_tokens(["activates"])
    enc = encode_words(fresh, S1)
    assert enc.spans[1] == (4, 5) and fresh.convert_ids_to_tokens(enc.input_ids[4:5]) == ["activates"]


def test_aligned_ids_run_through_the_tiny_models(tiny_model_dir):
    import torch
    from transformers import AutoModelForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=3)
    enc = encode_words(tokenizer, S2, max_length=model.config.max_position_embeddings)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc.input_ids])).logits
    assert logits.shape == (1, len(enc.input_ids), 3)
    assert max(b for _, b in enc.spans) <= logits.shape[1]


# --- real tokenizers shipped in installed packages -----------------------------------------------

def test_real_minilm_wordpiece():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").source)  # the installed package's folder
    _check(tokenizer, S1,
           [(1, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 12)],
           [["il", "-", "2"], ["activate", "##s"], ["stat", "##5"], ["in"], ["t"], ["cells"], ["."]],
           ["[CLS]", "il", "-", "2", "activate", "##s", "stat", "##5", "in", "t", "cells", ".", "[SEP]"])
    _check(tokenizer, S2,
           [(1, 7), (7, 8), (8, 9), (9, 10), (10, 11), (11, 12), (12, 13), (13, 14), (14, 18), (18, 19), (19, 20)],
           [["he", "##pa", "##to", "##to", "##xi", "##city"], ["("], ["grade"], ["3"], [")"], ["was"], ["reported"],
            ["with"], ["tn", "##f", "-", "α"], ["inhibitors"], ["."]],
           ["[CLS]", "he", "##pa", "##to", "##to", "##xi", "##city", "(", "grade", "3", ")", "was", "reported", "with",
            "tn", "##f", "-", "α", "inhibitors", ".", "[SEP]"])
    assert encode_words(tokenizer, S2).input_ids == tokenizer(" ".join(S2))["input_ids"]


def test_real_smollm2_byte_level_bpe():
    smollm2 = resolve_model("smollm2")  # the GGUF in the installed package (never imported: it needs `llm`)
    tokenizer = AutoTokenizer.from_pretrained(smollm2.source, gguf_file=smollm2.gguf_file)
    _check(tokenizer, S1,
           [(0, 3), (3, 4), (4, 6), (6, 7), (7, 8), (8, 9), (9, 10)],
           [["ĠIL", "-", "2"], ["Ġactivates"], ["ĠSTAT", "5"], ["Ġin"], ["ĠT"], ["Ġcells"], ["Ġ."]],
           ["ĠIL", "-", "2", "Ġactivates", "ĠSTAT", "5", "Ġin", "ĠT", "Ġcells", "Ġ."])
    _check(tokenizer, S2,
           [(0, 3), (3, 4), (4, 5), (5, 7), (7, 8), (8, 9), (9, 10), (10, 11), (11, 15), (15, 16), (16, 17)],
           [["ĠHep", "at", "otoxicity"], ["Ġ("], ["Ġgrade"], ["Ġ", "3"], ["Ġ)"], ["Ġwas"], ["Ġreported"], ["Ġwith"],
            ["ĠT", "NF", "-", "Î±"], ["Ġinhibitors"], ["Ġ."]],
           ["ĠHep", "at", "otoxicity", "Ġ(", "Ġgrade", "Ġ", "3", "Ġ)", "Ġwas", "Ġreported", "Ġwith", "ĠT", "NF", "-",
            "Î±", "Ġinhibitors", "Ġ."])


def test_biogpt_lone_word_differs_from_moses_in_context(tok):
    # The one kind of difference from tokenizer(" ".join(words)): Moses keeps "cells." whole when a lowercase
    # word follows, but splits the period off a lone word.
    biogpt = tok["biogpt"]
    words = ["cells.", "and", "mice"]
    enc = encode_words(biogpt, words)
    assert [biogpt.convert_ids_to_tokens(enc.input_ids[a:b]) for a, b in enc.spans] == [
        ["cells</w>", ".</w>"], ["and</w>"], ["mice</w>"]]
    assert biogpt.convert_ids_to_tokens(biogpt(" ".join(words))["input_ids"]) == [
        "</s>", "cel", "l", "s", ".</w>", "and</w>", "mice</w>"]
