"""The divergence and lens figures from hand-made tidy rows with values written out: the gold-token rank per layer on
normalised depth (an encoder and a decoder in one figure, the pretrained model once however often it was read), KL
per position class against training size with its intervals, the most-changed item's tokens shaded by KL, and their
place in the figure plan and the report."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

NAN = float("nan")


def lens_rows() -> pd.DataFrame:
    """"enc" (encoder, 2 blocks) read at size 0 (classifier objective); "dec" (decoder, 4 blocks, instruct) at size 0
    and at 100 % with its pretrained reference read beside it: rank = 100 / (layer + 1) for the pretrained model,
    10 / (layer + 1) tuned."""
    rows = []

    def add(model, kind, n_layers, objective, size, reading, reference, scale):
        for layer in range(n_layers + 1):
            value = scale / (layer + 1)
            rows.append({"analysis": "lens", "task": "nli", "model": model, "kind": kind, "objective": objective,
                         "training_size": size, "seed": 42, "reading": reading, "reference": reference,
                         "metric": "answer_rank", "layer": layer, "depth": layer / n_layers, "n_layers": n_layers,
                         "value": value, "ci_low": value * 0.8, "ci_high": value * 1.2})
        rows.append({"analysis": "lens", "task": "nli", "model": model, "kind": kind, "objective": objective,
                     "training_size": size, "seed": 42, "reading": reading, "reference": reference,
                     "metric": "decodable_layer", "layer": NAN, "value": 2.0})

    add("enc", "encoder", 2, "classifier", 0, "run", NAN, 100.0)
    add("dec", "decoder", 4, "instruct", 0, "run", NAN, 100.0)
    add("dec", "decoder", 4, "instruct", 100, "run", "pretrained", 10.0)
    add("dec", "decoder", 4, "instruct", 100, "reference", "pretrained", 100.0)
    return pd.DataFrame(rows)


KL = {("prompt", 30): 0.01, ("prompt", 100): 0.02, ("answer", 30): 0.2, ("answer", 100): 0.5}


def divergence_rows() -> pd.DataFrame:
    """"dec" (instruct, LoRA: reference "base (adapter off)") at 30 and 100 %: the `KL` means with intervals +- 10 %,
    per-item rows, and two kept items token by token (example 1: item 3, KL 0.1 0.2 0.9 on tokens 1..3)."""
    rows = []
    for (position, size), value in KL.items():
        common = {"analysis": "divergence", "task": "nli", "model": "dec", "kind": "decoder", "objective": "instruct",
                  "training_size": size, "seed": 42, "reference": "base (adapter off)", "layer": NAN}
        rows.append({**common, "metric": "kl", "position": position, "value": value, "ci_low": value * 0.9,
                     "ci_high": value * 1.1})
        rows.append({**common, "metric": "kl_item", "position": position, "item": 0, "value": value * 5})
    common = {"analysis": "divergence", "task": "nli", "model": "dec", "kind": "decoder", "objective": "instruct",
              "training_size": 100, "seed": 42, "reference": "base (adapter off)", "metric": "kl_token"}
    tokens = [("ĠThe", None, NAN), ("Ġdrug", "prompt", 0.1), ("Ġhelps", "prompt", 0.2), ("Ġyes", "answer", 0.9)]
    for j, (token, position, value) in enumerate(tokens):
        rows.append({**common, "example": 1, "item": 3, "token_index": j, "token": token, "position": position,
                     "value": value})
    rows.append({**common, "example": 2, "item": 0, "token_index": 0, "token": "Ġother", "position": None,
                 "value": NAN})
    return pd.DataFrame(rows)


def test_lens_rank_by_depth_puts_an_encoder_and_a_decoder_in_one_figure(tmp_path, figures):
    from bioprobe.figures import diffing

    drawn = diffing.lens_depth(lens_rows(), tmp_path)
    assert [d.name for d in drawn] == ["lens_answer_rank_nli"] and drawn[0].section == "diffing"
    assert all(path.is_file() for path in drawn[0].files)
    data = drawn[0].data
    dec = data[data["model"] == "dec"]
    assert sorted(set(dec["line"])) == ["100 %", "pretrained"]  # the size-0 run and the reference: one line
    pretrained = dec[dec["line"] == "pretrained"].sort_values("layer")
    assert pretrained["value"].tolist() == pytest.approx([100 / (layer + 1) for layer in range(5)])
    assert pretrained["depth"].tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    enc = data[data["model"] == "enc"]
    assert enc["depth"].tolist() == [0, 0.5, 1.0] and set(enc["line"]) == {"pretrained"}
    axes = [ax for ax in figures[0].axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title().split("\n") for ax in axes] == [["enc [encoder]", "masked tokens"],
                                                           ["dec [decoder] (instruct)", "answer tokens"]]
    assert all(ax.get_yscale() == "log" for ax in axes)
    tuned = next(line for line in axes[1].get_lines() if line.get_gid() == "lens-100 %")
    assert list(tuned.get_ydata()) == pytest.approx([10 / (layer + 1) for layer in range(5)])
    assert next(line for line in axes[1].get_lines() if line.get_gid() == "lens-pretrained").get_linestyle() == "-."


def test_kl_against_training_size_per_position_class_with_intervals(tmp_path, figures):
    from bioprobe.figures import diffing

    drawn = diffing.divergence_sizes(divergence_rows(), tmp_path)
    assert [d.name for d in drawn] == ["divergence_kl_nli"]
    data = drawn[0].data
    assert set(data["reference"]) == {"pretrained"}  # a LoRA run's base is its pretrained model
    for (position, size), value in KL.items():
        row = data[(data["position"] == position) & (data["training_size"] == size)]
        assert row["value"].item() == pytest.approx(value) and row["ci_high"].item() == pytest.approx(value * 1.1)
    ax = next(ax for ax in figures[0].axes if ax.get_title())
    assert ax.get_title() == "dec (instruct)\nagainst pretrained" and ax.get_ylim()[0] == 0
    lines = {line.get_gid(): line for line in ax.get_lines()
             if line.get_gid() and line.get_linestyle() != "None"}
    assert list(lines["kl-answer"].get_xdata()) == [30, 100]
    assert list(lines["kl-answer"].get_ydata()) == pytest.approx([0.2, 0.5])
    assert lines["kl-prompt"].get_linestyle() == "--"
    bars = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
    spans = sorted(tuple(np.round(segment[:, 1], 6)) for bar in bars for segment in bar.get_segments())
    assert (0.45, 0.55) in spans and (0.009, 0.011) in spans  # the intervals, not a fixed spread


def test_the_most_changed_item_is_shaded_token_by_token(tmp_path, figures):
    from matplotlib.patches import Rectangle

    from bioprobe.figures import diffing

    drawn = diffing.divergence_tokens(divergence_rows(), tmp_path)
    assert [d.name for d in drawn] == ["divergence_tokens_nli_dec_size100"]
    assert drawn[0].data["token"].tolist() == ["ĠThe", "Ġdrug", "Ġhelps", "Ġyes"]  # example 1 only
    figure = figures[0]
    ax = figure.axes[0]
    pieces = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "piece"]
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "piece"]
    assert texts == ["The", "drug", "helps", "yes"]
    reds = matplotlib.colormaps["Reds"]
    expected = [reds(0.0), reds(0.1 / 0.9), reds(0.2 / 0.9), reds(1.0)]  # scaled to the item's largest KL, 0.9
    for piece, colour in zip(pieces, expected):
        assert piece.get_facecolor() == pytest.approx(colour)
    underlined = [line for line in ax.get_lines() if line.get_gid() == "answer"]
    assert len(underlined) == 1  # one answer token
    assert "item 3" in drawn[0].caption


def test_the_units_are_planned_and_the_report_introduces_the_section():
    from bioprobe.figures import plan
    from bioprobe.report import INTRO, SECTIONS

    units = plan(pd.concat([lens_rows(), divergence_rows()], ignore_index=True))
    names = [unit[0].__name__ for unit in units if unit[0].__module__ == "bioprobe.figures.diffing"]
    assert names == ["divergence_sizes", "divergence_tokens", "lens_depth"]
    assert ("diffing", "What the tuned model says: output divergence and logit lens") in SECTIONS
    assert "KL(tuned || reference)" in INTRO["diffing"] and "rank (1 = the top token" in INTRO["diffing"]


def test_a_medtuned_header_does_not_read_as_wordpiece():
    from types import SimpleNamespace

    from bioprobe.figures.attribution import token_lines, token_scheme

    tokens = ["###", "ĠInstruction", ":", "Ċ", "Tag", "Ġevery", "Ġwo", "rd"]
    assert token_scheme(tokens) == "byte-level"
    lines = token_lines(SimpleNamespace(tokens=tokens, scores=np.array([NAN, 1, 2, 0, 0, 0, 4, 2.0])))
    texts = [text for line in lines for _, text, _, _ in line]
    weights = [weight for line in lines for _, _, _, weight in line]
    assert texts == ["###", "Instruction", ":", "↵", "Tag", "every", "wo", "rd"]
    assert weights == [0.0, 0.25, 0.5, 0.0, 0.0, 0.0, 1.0, 0.5]
    xs = [x for line in lines for x, _, _, _ in line]
    assert xs[7] == pytest.approx(xs[6] + len("wo") + 0.3)  # "wo" and "rd" touch: one word


def test_the_diffing_table_puts_kl_and_the_lens_of_each_run_side_by_side():
    from bioprobe import tables

    built = tables.diffing_tables(pd.concat([lens_rows(), divergence_rows()], ignore_index=True))
    assert [t.name for t in built] == ["diffing_nli"] and built[0].section == "diffing"
    table = built[0]
    rows = {(r[0], r[1], r[2]): dict(zip(table.columns, r)) for r in table.rows}
    assert list(rows) == [("dec (instruct)", "0 % (released)", "-"), ("dec (instruct)", "30 %", "base (adapter off)"),
                          ("dec (instruct)", "100 %", "base (adapter off)"), ("dec (instruct)", "100 %", "pretrained"),
                          ("enc (classifier)", "0 % (pretrained)", "-")]
    tuned = rows[("dec (instruct)", "100 %", "base (adapter off)")]
    assert tuned["KL at prompt positions"] == "0.020 [0.018, 0.022]"
    assert tuned["KL at answer positions"] == "0.500 [0.450, 0.550]"
    assert tuned["decodable layer"] == tuned["answer rank, last layer"] == ""
    read = rows[("dec (instruct)", "100 %", "pretrained")]  # rank 100 / (4 + 1) for the reference, 10 / 5 tuned
    assert read["decodable layer"] == "2 -> 2" and read["answer rank, last layer"] == "20.0 -> 2.0"
    assert read["KL at prompt positions"] == ""
    released = rows[("dec (instruct)", "0 % (released)", "-")]  # read alone: its own values, no arrow
    assert released["answer rank, last layer"] == "20.0" and released["decodable layer"] == "2"
    assert rows[("enc (classifier)", "0 % (pretrained)", "-")]["answer rank, last layer"] == "33.3"  # 100 / 3
    assert table in tables.all_tables(pd.concat([lens_rows(), divergence_rows()], ignore_index=True))


def test_a_layer_never_decodable_reads_never():
    from bioprobe import tables

    rows = lens_rows()
    rows.loc[(rows["metric"] == "decodable_layer") & (rows["reading"] == "reference"), "value"] = NAN
    (table,) = tables.diffing_tables(rows)
    read = {(r[0], r[1], r[2]): dict(zip(table.columns, r)) for r in table.rows}[("dec (instruct)", "100 %",
                                                                                  "pretrained")]
    assert read["decodable layer"] == "never -> 2"


def test_the_answer_rank_is_read_at_each_models_own_last_layer_or_shown_as_not_read():
    """A reference of 6 blocks read beside a run of 4 (same tokenizer): each at its own last layer (100 / 7 and
    10 / 5), not at the deepest layer of either; a run read at layers 0-2 of its 4 blocks has no last-layer rank."""
    from bioprobe import tables

    rows = lens_rows()
    reference = (rows["reading"] == "reference") & (rows["metric"] == "answer_rank")
    deeper = rows[reference].iloc[[-1, -1]].assign(layer=[5.0, 6.0], value=[100 / 6, 100 / 7])
    rows = pd.concat([rows, deeper], ignore_index=True)
    rows.loc[(rows["reading"] == "reference") & (rows["metric"] == "answer_rank"), "n_layers"] = 6
    (table,) = tables.diffing_tables(rows)
    read = {(r[0], r[1], r[2]): dict(zip(table.columns, r)) for r in table.rows}
    assert read[("dec (instruct)", "100 %", "pretrained")]["answer rank, last layer"] == "14.3 -> 2.0"
    shallow = lens_rows()
    shallow = shallow[~((shallow["model"] == "enc") & (shallow["layer"] == 2))]  # enc: 2 blocks, read at 0-1
    (table,) = tables.diffing_tables(shallow)
    read = {(r[0], r[1], r[2]): dict(zip(table.columns, r)) for r in table.rows}
    assert read[("enc (classifier)", "0 % (pretrained)", "-")]["answer rank, last layer"] == "-"


def test_a_seed_that_never_decodes_is_counted_not_averaged_away():
    """Three seeds of the same run: decodable at layers 2 and 4 in two, never in the third: "3 (never in 1 of 3
    seeds)", not 3 as if every seed reached it; all three never: "never"."""
    from bioprobe import tables

    rows = lens_rows()
    run = (rows["model"] == "enc") & (rows["metric"] == "decodable_layer")
    seeds = [rows[run].assign(seed=seed, value=value) for seed, value in ((1, 4.0), (2, NAN))]
    (table,) = tables.diffing_tables(pd.concat([rows, *seeds], ignore_index=True))
    read = {(r[0], r[1]): dict(zip(table.columns, r)) for r in table.rows}
    assert read[("enc (classifier)", "0 % (pretrained)")]["decodable layer"] == "3 (never in 1 of 3 seeds)"
    rows.loc[run, "value"] = NAN
    (table,) = tables.diffing_tables(pd.concat([rows, *[s.assign(value=NAN) for s in seeds]], ignore_index=True))
    read = {(r[0], r[1]): dict(zip(table.columns, r)) for r in table.rows}
    assert read[("enc (classifier)", "0 % (pretrained)")]["decodable layer"] == "never"


def test_kl_of_several_seeds_is_mean_and_sd_in_the_table_and_an_sd_band_in_the_figure(tmp_path, figures):
    """The divergence rows again with a second seed 0.1 higher: the KL cell is mean ± s.d. (0.020 + 0.05 ± 0.071 at
    prompt positions of 100 %), the figure's interval is the mean -+ that s.d., both captions say so."""
    from bioprobe import tables
    from bioprobe.figures.diffing import divergence_sizes

    rows = divergence_rows()
    again = rows[rows["metric"] == "kl"].assign(seed=7)
    both = pd.concat([rows, again.assign(value=again["value"] + 0.1)], ignore_index=True)
    (table,) = tables.diffing_tables(both)
    cells = {(r[0], r[1], r[2]): dict(zip(table.columns, r)) for r in table.rows}
    assert cells[("dec (instruct)", "100 %", "base (adapter off)")]["KL at prompt positions"] == "0.070 ± 0.071"
    assert "mean ± s.d. over seeds" in table.caption
    (drawing,) = divergence_sizes(both, tmp_path)
    prompt = drawing.data[(drawing.data["position"] == "prompt") & (drawing.data["training_size"] == 100)]
    assert prompt["value"].item() == pytest.approx(0.07)
    assert prompt["ci_high"].item() == pytest.approx(0.07 + 0.1 / 2 ** 0.5, abs=1e-6)
    assert "bands ± 1 s.d. over seeds" in drawing.caption
