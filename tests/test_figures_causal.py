"""The causal analyses' figures, table and report text from hand-made tidy rows with values written out: the weight
change per block on normalised depth and per module group, the gain lost by reverting blocks and heads (beside the
attention change of the same heads), the amnesic drop beyond control, the unchanged-weights sentence and the causal
table's answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

NAN = float("nan")
LORA = False


def diff_rows() -> pd.DataFrame:
    """"enc" (encoder, 2 blocks) and "dec" (decoder, 4 blocks, also instruction-tuned) at 10 and 100 %: block change
    = size / 1000 * (layer + 1); enc's whole body unchanged at 10 % (0.0) and changed at 100 % (0.01)."""
    rows = []
    runs = [("enc", "encoder", 2, "classifier"), ("dec", "decoder", 4, "classifier"), ("dec", "decoder", 4, "instruct")]
    for model, kind, n_layers, objective in runs:
        for size in (10, 100):
            common = {"analysis": "diff", "task": "ner", "model": model, "training_size": size, "seed": 42,
                      "head": NAN, "objective": objective, "kind": kind, "n_layers": n_layers, "lora": LORA}
            for layer in range(n_layers + 1):
                rows.append({**common, "layer": layer, "module": "all", "group": "block",
                             "metric": "relative_change", "value": size / 1000 * (layer + 1)})
            whole = {("enc", 10): 0.0, ("enc", 100): 0.01}.get((model, size), 0.05)
            rows.append({**common, "layer": NAN, "module": "all", "group": "model", "metric": "relative_change",
                         "value": whole})
            # Layer 1's q: two parameters, pooled sqrt(2^2 + 1^2) / sqrt(10^2 + 10^2); its mlp given as an aggregate
            # (0.3), which wins over its parameter row (0.9); the embeddings at layer 0.
            scale = size / 100
            for module, change, delta in (("blocks.1.q.weight", 0.2 * scale, 2.0 * scale),
                                          ("blocks.1.q.bias", 0.1 * scale, 1.0 * scale)):
                rows += [{**common, "layer": 1, "module": module, "group": "q", "metric": "relative_change",
                          "value": change},
                         {**common, "layer": 1, "module": module, "group": "q", "metric": "delta_norm",
                          "value": delta},
                         {**common, "layer": 1, "module": module, "group": "q", "metric": "effective_rank",
                          "value": 3.0}]
            rows += [{**common, "layer": 1, "module": "all", "group": "mlp", "metric": "relative_change",
                      "value": 0.3 * scale},
                     {**common, "layer": 1, "module": "blocks.1.mlp.weight", "group": "mlp",
                      "metric": "relative_change", "value": 0.9},
                     {**common, "layer": 0, "module": "embeddings.weight", "group": "embeddings",
                      "metric": "relative_change", "value": 0.05 * scale}]
    return pd.DataFrame(rows)


BLOCKS = {  # (mode, size) -> gain lost per layer 0..3
    ("single", 100): [0.05, 0.20, 0.60, 0.10],
    ("bottom_up", 100): [0.05, 0.30, 0.90, 1.00],
    ("top_down", 100): [1.00, 0.95, 0.70, 0.10],
    ("single", 10): [0.10, 0.40, 0.20, -0.05],
}
HEADS = np.array([[0.10, -0.20],  # gain lost per head at 100 %, blocks 1..3 (rows) x heads 0..1
                  [0.30, 0.05],
                  [-0.10, 0.70]])
COSINE = np.array([[0.90, 0.80],  # attention cosine with pretrained, attention layers 0..2 (= blocks 1..3)
                   [0.70, 0.95],
                   [0.60, 0.50]])


def revert_rows() -> pd.DataFrame:
    """"enc" (3 blocks, 2 heads) on NER: block reversions per mode, head reversions at 100 %, references and the
    Spearman correlation; the attention cosine rows of the same heads (analysis "attention", 0-based layers)."""
    common = {"analysis": "revert", "task": "ner", "model": "enc", "seed": 42, "objective": "classifier",
              "kind": "encoder", "n_layers": 3, "n_heads": 2, "score_name": "f1", "n_items": 50}
    rows = []
    for (mode, size), values in BLOCKS.items():
        for layer, value in enumerate(values):
            rows.append({**common, "training_size": size, "mode": mode, "layer": layer, "head": NAN,
                         "metric": "gain_lost", "value": value, "ci_low": value - 0.1, "ci_high": value + 0.1})
            rows.append({**common, "training_size": size, "mode": mode, "layer": layer, "head": NAN,
                         "metric": "score", "value": 0.8 - value / 2})
    for (layer, head), value in np.ndenumerate(HEADS):
        rows.append({**common, "training_size": 100, "mode": "single", "layer": layer + 1, "head": head,
                     "metric": "gain_lost", "value": value})
    for size, tuned in ((100, 0.8), (10, 0.6)):
        rows += [{**common, "training_size": size, "mode": "none", "layer": NAN, "head": NAN,
                  "metric": "tuned_score", "value": tuned},
                 {**common, "training_size": size, "mode": "none", "layer": NAN, "head": NAN,
                  "metric": "size0_score", "value": 0.2}]
    rows.append({**common, "training_size": 100, "mode": "none", "layer": NAN, "head": NAN,
                 "metric": "head_loss_change_spearman", "value": 0.5})
    attention = {"analysis": "attention", "task": "ner", "model": "enc", "seed": 42, "objective": "classifier",
                 "kind": "encoder", "n_layers": 3, "n_heads": 2, "in_prompt": False, "training_size": 100}
    for (layer, head), value in np.ndenumerate(COSINE):
        rows.append({**attention, "layer": layer, "head": head, "metric": "cosine", "value": value})
        rows.append({**attention, "layer": layer, "head": head, "metric": "js", "value": 1 - value})
    other = {**attention, "training_size": 10}  # another size: never drawn beside the 100 % heads
    rows += [{**other, "layer": layer, "head": head, "metric": "cosine", "value": 0.0}
             for layer in range(3) for head in range(2)]
    return pd.DataFrame(rows)


AMNESIC = {  # size -> drop beyond control per layer 0..2 (enc, 2 blocks)
    0: [0.00, 0.02, 0.01],
    100: [0.01, 0.15, 0.05],
}


def amnesic_rows() -> pd.DataFrame:
    """"enc" (2 blocks): the released model (instruct, size 0) and the 100 % instruction-tuned one."""
    rows = []
    for size, values in AMNESIC.items():
        common = {"analysis": "amnesic", "task": "ner", "model": "enc", "training_size": size, "seed": 42,
                  "head": NAN, "objective": "instruct", "kind": "encoder", "n_layers": 2, "score_name": "f1",
                  "rank": 4}
        rows.append({**common, "layer": NAN, "metric": "tuned_score", "value": 0.7})
        for layer, value in enumerate(values):
            rows += [{**common, "layer": layer, "metric": "drop_beyond_control", "value": value,
                      "ci_low": value - 0.02, "ci_high": value + 0.02},
                     {**common, "layer": layer, "metric": "score_drop", "value": value + 0.01},
                     {**common, "layer": layer, "metric": "control_drop", "value": 0.01},
                     {**common, "layer": layer, "metric": "probe_accuracy_erased", "value": 0.25},
                     {**common, "layer": layer, "metric": "score", "value": 0.7 - value - 0.01}]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def causal_table() -> pd.DataFrame:
    return pd.concat([diff_rows(), revert_rows(), amnesic_rows()], ignore_index=True)


def _check_files(drawing, tmp_path):
    from PIL import Image

    assert sorted(p.suffix for p in drawing.files) == [".pdf", ".png"]
    assert all(p.is_file() and p.stat().st_size > 2000 for p in drawing.files)
    assert drawing.section == "causal" and len(drawing.data) > 0
    width, _ = Image.open(tmp_path / f"{drawing.name}.png").size
    assert width in (660, 1380)


def test_relative_change_per_block_is_drawn_on_normalised_depth(tmp_path):
    from bioprobe.figures import causal

    drawn = causal.relative_change(diff_rows(), tmp_path)
    assert [d.name for d in drawn] == ["diff_relative_change_ner"]
    drawing = drawn[0]
    _check_files(drawing, tmp_path)
    assert "relative weight change" in drawing.caption and "layer / layers" in drawing.caption
    data = drawing.data
    assert set(zip(data["model"], data["objective"])) == {("enc", "classifier"), ("dec", "classifier"),
                                                          ("dec", "instruct")}
    dec = data[(data["model"] == "dec") & (data["objective"] == "classifier") & (data["training_size"] == 100)]
    assert list(dec["layer"]) == [0, 1, 2, 3, 4]
    assert list(dec["depth"]) == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])  # layer / n_layers
    assert list(dec["value"]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    enc = data[(data["model"] == "enc") & (data["training_size"] == 10)]
    assert list(enc["depth"]) == pytest.approx([0, 0.5, 1.0])


def test_the_group_heatmap_pools_a_groups_parameters_and_keeps_given_aggregates(tmp_path):
    from bioprobe.figures import causal

    drawn = causal.group_heatmaps(diff_rows(), tmp_path)
    assert [d.name for d in drawn] == ["diff_groups_ner"]
    _check_files(drawn[0], tmp_path)
    assert "module group" in drawn[0].caption and "relative weight change" in drawn[0].caption
    data = drawn[0].data
    assert set(data["training_size"]) == {100}  # the largest size only
    enc = data[data["model"] == "enc"].set_index(["layer", "group"])["value"]
    assert enc[(1, "q")] == pytest.approx(np.sqrt(2 ** 2 + 1 ** 2) / np.sqrt(10 ** 2 + 10 ** 2))
    assert enc[(1, "mlp")] == pytest.approx(0.3)  # the aggregate row, not its parameter's 0.9
    assert enc[(0, "embeddings")] == pytest.approx(0.05)
    assert "block" not in set(data["group"]) and "model" not in set(data["group"])


def test_reverting_blocks_draws_gain_lost_per_mode_with_its_interval(tmp_path):
    from bioprobe.figures import causal

    drawn = causal.revert_blocks(revert_rows(), tmp_path)
    assert [d.name for d in drawn] == ["revert_blocks_ner_enc"]
    _check_files(drawn[0], tmp_path)
    assert "gain lost" in drawn[0].caption and "f1" in drawn[0].caption
    data = drawn[0].data
    for (mode, size), values in BLOCKS.items():
        line = data[(data["mode"] == mode) & (data["training_size"] == size)].sort_values("layer")
        assert list(line["value"]) == pytest.approx(values)
        assert list(line["ci_low"]) == pytest.approx([v - 0.1 for v in values])
    assert set(data["mode"]) == {"single", "bottom_up", "top_down"}  # no head or reference rows


def test_the_head_heatmap_is_gain_lost_by_layer_and_head_beside_the_attention_change(tmp_path):
    from bioprobe.figures import causal

    drawn = causal.revert_heads(revert_rows(), tmp_path)
    assert [d.name for d in drawn] == ["revert_heads_ner_enc_size100"]
    drawing = drawn[0]
    _check_files(drawing, tmp_path)
    data = drawing.data
    matrix = data.pivot(index="layer", columns="head", values="gain_lost")
    assert list(matrix.index) == [1, 2, 3] and np.allclose(matrix.to_numpy(), HEADS)
    change = data.pivot(index="layer", columns="head", values="attention_change")
    assert np.allclose(change.to_numpy(), 1 - COSINE)  # attention layer i drawn at block i + 1
    assert "gain lost" in drawing.caption and "attention change" in drawing.caption
    assert "Spearman" in drawing.caption


def test_the_head_heatmaps_attention_change_uses_the_scale_it_is_given(tmp_path, monkeypatch):
    from bioprobe.figures import causal, style

    limits = []
    heatmap = style.heatmap
    monkeypatch.setattr(style, "heatmap", lambda ax, values, cmap, low, high, **kw: limits.append((low, high)) or
                        heatmap(ax, values, cmap, low, high, **kw))
    shared = style.Scale(1e-4, 1.0, log=True)
    causal.revert_heads(revert_rows(), tmp_path, scale=shared)
    assert limits[1] == (1e-4, 1.0)  # the second heatmap: the attention change, on the family's scale


def test_the_head_heatmap_without_attention_rows_is_one_panel(tmp_path):
    from bioprobe.figures import causal

    rows = revert_rows()
    drawn = causal.revert_heads(rows[rows["analysis"] == "revert"], tmp_path)
    assert len(drawn) == 1 and "attention_change" not in drawn[0].data
    _check_files(drawn[0], tmp_path)


def test_the_amnesic_figure_shows_the_drop_beyond_control_on_normalised_depth(tmp_path):
    from bioprobe.figures import causal

    drawn = causal.amnesic(amnesic_rows(), tmp_path)
    assert [d.name for d in drawn] == ["amnesic_ner"]
    _check_files(drawn[0], tmp_path)
    assert "drop" in drawn[0].caption and "beyond control" in drawn[0].caption
    data = drawn[0].data
    for size, values in AMNESIC.items():
        line = data[data["training_size"] == size].sort_values("layer")
        assert list(line["value"]) == pytest.approx(values)
        assert list(line["depth"]) == pytest.approx([0, 0.5, 1.0])
        assert list(line["ci_high"]) == pytest.approx([v + 0.02 for v in values])
        assert list(line["probe_accuracy_erased"]) == pytest.approx([0.25] * 3)


def test_the_units_pick_their_rows_and_give_the_heads_unit_the_matching_attention_rows(causal_table, tmp_path):
    from bioprobe import figures

    table = causal_table.assign(objective=causal_table["objective"])
    diff, revert, amnesic = figures.diff_units(table), figures.revert_units(table), figures.amnesic_units(table)
    assert [u[0].__name__ for u in diff] == ["relative_change", "group_heatmaps"]
    assert [u[0].__name__ for u in revert] == ["revert_blocks", "revert_heads"]
    assert [u[0].__name__ for u in amnesic] == ["amnesic"]
    heads = revert[1][1]
    from bioprobe.figures.attention import family_scales

    assert revert[1][2]["scale"] == family_scales(table)["cosine"]  # the attention_cosine figures' colour scale
    attention = heads[heads["analysis"] == "attention"]
    assert set(attention["metric"]) == {"cosine"} and set(attention["training_size"]) == {100}
    assert len(attention) == COSINE.size
    drawn = [d for unit in diff + revert + amnesic for d in figures._draw(unit, str(tmp_path))]
    assert [d.name for d in drawn] == ["diff_relative_change_ner", "diff_groups_ner", "revert_blocks_ner_enc",
                                       "revert_heads_ner_enc_size100", "amnesic_ner"]
    assert {d.section for d in drawn} == {"causal"}
    plain = causal_table[causal_table["analysis"].isin(["finetune"])]
    assert figures.diff_units(plain) == [] and figures.revert_units(plain) == [] and \
        figures.amnesic_units(plain) == []


def test_the_unchanged_weights_sentence_is_said_for_a_zero_change_only():
    from bioprobe.rows import unchanged_runs

    sentences = unchanged_runs(diff_rows())
    assert sentences == ["enc NER 10 % (classifier): the tuned weights equal the pretrained ones; its other analyses "
                         "describe the pretrained model."]  # enc at 100 % changed by 0.01: no sentence
    assert unchanged_runs(revert_rows()) == []


def test_the_report_states_the_unchanged_runs_in_the_causal_section(causal_table, tmp_path, monkeypatch):
    from bioprobe import report, tables

    monkeypatch.setattr(report, "SECTIONS", (("probing", "Probing"), ("causal", "Which changes matter")))
    blocks = report._blocks([], tables.causal_tables(causal_table), [], tmp_path,
                            report.section_texts(causal_table))
    text = "\n".join(content for kind, content in blocks if kind in ("heading", "text"))
    assert "## Which changes matter" in text and "Gain lost" in text and "hidden-state" in text
    assert "enc NER 10 % (classifier): the tuned weights equal the pretrained ones" in text
    assert "enc NER 100 %" not in text
    assert [kind for kind, _ in blocks].count("table") == 1


def test_sections_name_each_key_once():
    from types import SimpleNamespace

    from bioprobe import report

    keys = [key for key, _ in report.SECTIONS]
    assert len(keys) == len(set(keys))
    causal = (("causal", "Which changes matter"),)
    stages = [SimpleNamespace(sections=(("probing", "Probing"),)), SimpleNamespace(sections=causal),
              SimpleNamespace(sections=causal), SimpleNamespace(sections=(("attribution", "Attribution"),)),
              SimpleNamespace(sections=causal)]
    assert report._sections(stages) == (("probing", "Probing"), ("causal", "Which changes matter"),
                                        ("attribution", "Attribution"))
    assert report.INTRO["causal"]


def test_the_causal_table_names_the_block_head_and_layer_that_matter_most(causal_table):
    from bioprobe import tables

    built = tables.causal_tables(causal_table)
    assert [t.name for t in built] == ["causal_ner"] and built[0].section == "causal"
    table = built[0]
    rows = {(r[0], r[1]): dict(zip(table.columns, r)) for r in table.rows}
    enc = rows[("enc", "100 %")]
    assert enc["relative weight change"] == "0.01"
    assert enc["tuned score"] == "0.800 (f1)"
    assert enc["block losing most gain"] == "2 (0.60)"  # the single-block reversion made largest
    assert enc["head losing most gain"] == "layer 3 head 1 (0.70)"
    assert rows[("enc", "10 %")]["block losing most gain"] == "1 (0.40)"
    assert rows[("enc", "10 %")]["relative weight change"] == "0 (unchanged)"
    assert rows[("enc (instruct)", "100 %")]["largest amnesic drop beyond control"] == "1: 0.150 [0.130, 0.170]"
    assert rows[("dec", "100 %")]["relative weight change"] == "0.05"
    assert rows[("enc (instruct)", "0 % (released)")]["largest amnesic drop beyond control"] == \
        "1: 0.020 [0.000, 0.040]"
    assert table.notes and "equal the pretrained ones" in table.notes[0]
    assert table in [t for t in tables.all_tables(causal_table) if t.section == "causal"]
    latex = tables.latex(table)
    assert r"\toprule" in latex and "%" not in latex.replace(r"\%", "")


def test_over_seeds_gives_one_seeds_interval_or_the_mean_and_sd_of_several():
    """Key a with seeds 1 and 2 (values 1.0 and 3.0, intervals of +-0.1): mean 2.0, band 2 -+ sqrt(2), two seeds;
    key b with one seed keeps its interval; rows without seeds are plain means; the caption note follows."""
    from bioprobe.rows import SEED_BANDS, over_seeds, seed_note

    rows = pd.DataFrame({"key": ["a", "a", "a", "b"], "seed": [1, 2, 2, 1], "value": [1.0, 3.0, 3.0, 5.0],
                         "ci_low": [0.9, 2.9, 2.9, 4.5], "ci_high": [1.1, 3.1, 3.1, 5.5]})
    out = over_seeds(rows, ["key"]).set_index("key")
    assert out.loc["a", "value"] == 2.0 and out.loc["a", "n_seeds"] == 2
    assert out.loc["a", "ci_low"] == pytest.approx(2 - 2 ** 0.5)
    assert out.loc["a", "ci_high"] == pytest.approx(2 + 2 ** 0.5)
    assert (out.loc["b", "value"], out.loc["b", "ci_low"], out.loc["b", "ci_high"]) == (5.0, 4.5, 5.5)
    single = over_seeds(rows[rows["key"] == "b"], ["key"])
    assert "n_seeds" not in single and single["ci_low"].item() == 4.5
    plain = over_seeds(rows.drop(columns="seed"), ["key"]).set_index("key")  # every row alike: a plain mean
    assert plain.loc["a", "ci_low"] == pytest.approx((0.9 + 2.9 + 2.9) / 3)
    assert seed_note("Lines.", out.reset_index()) == f"Lines; {SEED_BANDS}." and seed_note("Lines.", single) == "Lines."


def test_several_seeds_give_sd_bands_in_the_figures_and_mean_sd_in_the_causal_table(causal_table, tmp_path,
                                                                                  figures):
    """The 100 % revert and amnesic rows again with a second seed 0.2 higher: the revert figure's band is the mean
    -+ 0.1414 (the s.d. of two values 0.2 apart) and its caption says so; the causal table's amnesic cell is mean ±
    s.d."""
    from bioprobe import tables
    from bioprobe.figures import causal

    rows = causal_table
    again = rows[rows["analysis"].isin(["revert", "amnesic"]) & (rows["training_size"] == 100)].assign(seed=7)
    again = again.assign(value=again["value"] + 0.2)
    table = pd.concat([rows, again], ignore_index=True)
    drawing = next(d for d in causal.revert_blocks(table, tmp_path) if d.name == "revert_blocks_ner_enc")
    single = drawing.data[(drawing.data["mode"] == "single") & (drawing.data["training_size"] == 100)]
    np.testing.assert_allclose(single["value"], np.array(BLOCKS[("single", 100)]) + 0.1, atol=1e-6)
    np.testing.assert_allclose(single["ci_high"] - single["value"], 0.2 / 2 ** 0.5, atol=1e-6)
    assert "bands ± 1 s.d. over seeds" in drawing.caption
    ten = drawing.data[(drawing.data["mode"] == "single") & (drawing.data["training_size"] == 10)]
    np.testing.assert_allclose(ten["ci_high"] - ten["value"], 0.1, atol=1e-6)  # one seed: its interval
    (built,) = tables.causal_tables(table)
    cells = {(r[0], r[1]): dict(zip(built.columns, r)) for r in built.rows}
    assert cells[("enc (instruct)", "100 %")]["largest amnesic drop beyond control"] == "1: 0.250 ± 0.141"
    assert "mean ± s.d. over seeds" in built.caption
