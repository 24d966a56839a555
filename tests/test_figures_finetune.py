"""Known answers of the fine-tuning and attribution figures (issue 23), from hand-made tidy rows: a score of 0 is
drawn above the x axis with whole markers and a panel of zeros says "all 0"; the attribution examples group a
decoder's pieces into words, outline the explained token, carry a colour key, and warn where the convergence delta
of Integrated Gradients is large against the total attribution."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture
def drawn(monkeypatch):
    """The figures the figure functions would save, kept open instead (closed after the test)."""
    from bioprobe.figures import style

    figures = []

    def keep(figure, path):
        figures.append(figure)
        return [path.with_suffix(".png"), path.with_suffix(".pdf")]

    monkeypatch.setattr(style, "save", keep)
    yield figures
    plt = style.pyplot()
    for figure in figures:
        plt.close(figure)


def finetune_rows() -> pd.DataFrame:
    """NER at 0 and 100 %: "enc" (classifier) F1 0.04 then 0.65, per type 0.1 / 0.7; "dec" instruction-tuned,
    every NER value 0 (F1, lenient F1, parse rate, each type); NLI "dec" accuracy 0 then 0.25, parse rate 0 then 1."""
    rows = []
    base = {"analysis": "finetune", "seed": 42, "split": "test", "layer": None, "head": None, "shots": 0}
    for size, f1 in ((0, 0.04), (100, 0.65)):
        common = {**base, "task": "ner", "model": "enc", "objective": "classifier", "training_size": size,
                  "kind": "encoder"}
        rows.append({**common, "metric": "f1", "value": f1, "label": "all"})
        for label in ("Chemical", "Disease"):
            rows.append({**common, "metric": "f1", "value": 0.1 if size == 0 else 0.7, "label": label})
        common = {**common, "model": "dec", "objective": "instruct", "kind": "decoder"}
        for metric in ("f1", "f1_lenient", "parse_rate"):
            rows.append({**common, "metric": metric, "value": 0.0, "label": "all"})
        for label in ("Chemical", "Disease"):
            rows.append({**common, "metric": "f1", "value": 0.0, "label": label})
        common = {**common, "task": "nli"}
        rows.append({**common, "metric": "accuracy", "value": 0.0 if size == 0 else 0.25, "label": "all"})
        rows.append({**common, "metric": "parse_rate", "value": 0.0 if size == 0 else 1.0, "label": "all"})
    return pd.DataFrame(rows)


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_a_panel_of_zeros_is_drawn_above_the_axis_and_says_all_0(drawn, tmp_path):
    from bioprobe.figures import finetune

    names = [d.name for d in finetune.generative(finetune_rows(), tmp_path)]
    assert names == ["finetune_generative"]
    ner, nli = drawn[0].axes[:2]
    assert ner.get_title() == "dec (instruct): NER" and nli.get_title() == "dec (instruct): NLI"
    for ax in (ner, nli):
        low, high = ax.get_ylim()
        assert low == pytest.approx(-0.04) and high == pytest.approx(1.04)  # 0 and 1 are inside, not on the edge
    assert texts(ner) == ["all 0"]
    assert texts(nli) == []  # its accuracy and parse rate are 0 at 0 % only
    lines = [line for line in ner.get_lines() if len(line.get_xdata())]
    assert len(lines) == 3 and all(list(line.get_ydata()) == [0.0, 0.0] for line in lines)
    assert not any(line.get_clip_on() for line in lines)  # markers at 0 are whole


def test_the_entity_type_panel_of_zeros_says_all_0_and_the_other_does_not(drawn, tmp_path):
    from bioprobe.figures import finetune

    names = [d.name for d in finetune.entity_types(finetune_rows(), tmp_path)]
    assert names == ["finetune_entity_types"]
    dec, enc = drawn[0].axes[:2]  # panels by name
    assert (dec.get_title(), enc.get_title()) == ("dec (instruct)", "enc")
    assert texts(dec) == ["all 0"] and texts(enc) == []
    assert dec.get_ylim()[0] < 0 and enc.get_ylim()[0] < 0
    assert not any(line.get_clip_on() for ax in (enc, dec) for line in ax.get_lines())


def test_a_line_of_zeros_among_others_is_visible_and_labelled(drawn, tmp_path):
    from bioprobe.figures import finetune

    finetune.score_curves(finetune_rows(), tmp_path)
    ner = drawn[0].axes[0]
    assert ner.get_title() == "NER" and ner.get_ylim()[0] < 0
    zero = [line for line in ner.get_lines() if list(line.get_ydata()) == [0.0, 0.0]]
    assert len(zero) == 1 and not zero[0].get_clip_on()
    assert texts(ner) == ["all 0"]  # beside the dec line, in its colour
    assert ner.texts[0].get_color() == zero[0].get_color()
    assert texts(drawn[0].axes[1]) == []  # NLI: 0 then 0.25


@pytest.mark.parametrize("tokens", [
    ["ĠAmy", "l", "oid", "Ġbeta"],  # GPT-2 / SmolLM2 byte-level BPE
    ["Amy", "l", "oid", "Ġbeta"],  # the same without the space before the first word
    ["▁Amy", "l", "oid", "▁beta"],  # Llama / Mistral SentencePiece
    ["Amy", "##l", "##oid", "beta"],  # WordPiece
    ["Amy", "l", "oid</w>", "beta</w>"],  # BioGPT
])
def test_the_pieces_of_a_word_are_one_group_whatever_the_tokenizer(tokens):
    from bioprobe.figures.attribution import piece_text, token_scheme, word_groups

    assert word_groups(tokens) == [[0, 1, 2], [3]]
    assert [piece_text(t, token_scheme(tokens)) for t in tokens] == ["Amy", "l", "oid", "beta"]


def test_a_prompts_markdown_header_does_not_make_a_byte_level_tokenizer_wordpiece():
    from bioprobe.figures.attribution import token_scheme, word_groups

    prompt = ["###", "ĠInstruction", ":", "Ċ", "Amy", "l", "oid", "Ġbeta"]  # the medtuned template's header
    assert token_scheme(prompt) == "byte-level"
    assert word_groups(prompt) == [[0], [1, 2], [3], [4, 5, 6], [7]]
    assert token_scheme(["###", "amy", "##loid"]) == "wordpiece"  # a real WordPiece continuation still decides


def test_special_tokens_newlines_and_byte_tokens_are_words_of_their_own():
    from bioprobe.figures.attribution import piece_text, word_groups

    assert word_groups(["[CLS]", "amy", "##loid", "[SEP]", "beta", "[SEP]"]) == [[0], [1, 2], [3], [4], [5]]
    assert word_groups(["<s>", "▁Hyp", "esis", "<0x3A>", "<0x0A>", "H", "ello"]) == [[0], [1, 2, 3], [4], [5, 6]]
    assert word_groups(["Premise", ":", "Ċ", "The", "Ġdrug"]) == [[0, 1], [2], [3], [4]]
    assert piece_text("<0x3A>", "sentencepiece") == ":" and piece_text("Ċ", "byte-level") == "↵"
    assert piece_text("ĠcafÃ©", "byte-level") == "café" and piece_text("Ġ", "byte-level") == "␣"


def attribution_rows(delta: float, tokens=("ĠAmy", "l", "oid", "Ġbeta"), scores=(0.5, -0.25, 0.25, 1.5),
                     explained: int | None = 3, objective: str = "classifier") -> pd.DataFrame:
    """One NER example of "dec" at 100 %: its tokens' attributions (total 2.0 by default) and its delta."""
    common = {"analysis": "attribution", "task": "ner", "model": "dec", "training_size": 100, "seed": 42,
              "objective": objective, "layer": None, "head": None, "split": "test", "steps": 16}
    rows = [{**common, "metric": "attribution", "value": score, "example": 0, "position": position,
             "token": token, "target": "B-Disease", "explained_position": explained}
            for position, (token, score) in enumerate(zip(tokens, scores))]
    rows.append({**common, "metric": "convergence_delta", "value": delta, "example": 0})
    return pd.DataFrame(rows)


def pieces(figure) -> list[tuple[str, float]]:
    """(text, x) of each drawn piece, in drawing order."""
    return [(t.get_text(), t.get_position()[0]) for t in figure.axes[0].texts if t.get_gid() == "piece"]


def test_the_example_drawing_keeps_words_together_marks_the_explained_token_and_keys_the_colours(drawn, tmp_path):
    from bioprobe.figures import attribution

    made = attribution.examples_from_rows(attribution_rows(delta=0.01), tmp_path)
    assert [d.name for d in made] == ["attribution_ner_dec_size100"]
    figure = drawn[0]
    shown = pieces(figure)
    assert [text for text, _ in shown] == ["Amy", "l", "oid", "beta"]
    # Pieces of one word touch (each starts where the one before ends: its text and the shading on both sides);
    # a word gap comes before "beta".
    step = [x - (before + len(text) + 2 * attribution.PIECE_PAD)
            for (text, before), (_, x) in zip(shown, shown[1:])]
    assert step[:2] == pytest.approx([0.0, 0.0]) and step[2] == pytest.approx(attribution.WORD_GAP)
    # The explained token (3, "beta") is outlined, and named in the heading.
    outline = [p for p in figure.axes[0].patches if p.get_gid() == "explained"]
    assert len(outline) == 1 and outline[0].get_x() == pytest.approx(shown[3][1] - attribution.PIECE_PAD)
    heading = figure.axes[0].texts[0].get_text()
    assert heading.startswith("explained: \u201cbeta\u201d (token 3) \u2192 B-Disease")
    assert "total +2" in heading
    # A signed colour key from -max to +max of the example's attribution.
    key = [ax for ax in figure.axes if ax.get_gid() == "colour-key"]
    assert len(key) == 1 and key[0].get_xlim() == pytest.approx((-1.0, 1.0))
    assert [t.get_text() for t in key[0].get_xticklabels()] == ["\u2212max", "0", "+max"]


def test_a_classification_of_the_whole_input_marks_no_token(drawn, tmp_path):
    from bioprobe.figures import attribution

    attribution.examples_from_rows(attribution_rows(delta=0.0, explained=None), tmp_path)
    assert not [p for p in drawn[0].axes[0].patches if p.get_gid() == "explained"]
    assert drawn[0].axes[0].texts[0].get_text().startswith("explained: the whole input \u2192 B-Disease")


def test_an_instruction_tuned_answer_is_named_as_the_next_token_after_the_marked_one(drawn, tmp_path):
    from bioprobe.figures import attribution

    made = attribution.examples_from_rows(attribution_rows(delta=0.0, objective="instruct"), tmp_path)
    assert [d.name for d in made] == ["attribution_ner_dec_size100-instruct"]
    heading = drawn[0].axes[0].texts[0].get_text()
    assert heading.startswith("explained: the next token after \u201cbeta\u201d (token 3) \u2192 B-Disease")


def test_the_delta_warning_follows_the_documented_threshold():
    from bioprobe.figures.attribution import DELTA_FLOOR, DELTA_SHARE, delta_warning

    assert (DELTA_SHARE, DELTA_FLOOR) == (0.1, 0.01)
    assert delta_warning(-5.6, 2.1) == "IG delta \u22125.6 vs total +2.1 (over 10% of it): attributions unreliable"
    assert delta_warning(12.5, 21.7) is not None  # 58 % of the total
    assert delta_warning(0.2, 2.1) is None  # under 10 % of the total
    assert delta_warning(-0.22, 2.1) is not None
    assert delta_warning(1.4e-5, 8.7e-5) is None  # 16 %, but under the absolute floor: rounding
    assert delta_warning(float("nan"), 2.0) is None


@pytest.mark.parametrize("delta, warned", [(-5.6, True), (0.05, False)])
def test_an_example_with_a_large_delta_carries_the_warning_on_its_panel(delta, warned, drawn, tmp_path):
    from bioprobe.figures import attribution

    attribution.examples_from_rows(attribution_rows(delta=delta), tmp_path)  # total attribution 2.0
    warnings = [t.get_text() for t in drawn[0].axes[0].texts if t.get_gid() == "delta-warning"]
    assert warnings == (["\u26a0 IG delta \u22125.6 vs total +2 (over 10% of it): attributions unreliable"]
                        if warned else [])
