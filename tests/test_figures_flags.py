"""Runs that barely moved are marked on the figures that show change: a hand-made table with one run whose CKA stays
at 1.0 (flagged) and one whose CKA falls to 0.3 (not flagged)."""

from __future__ import annotations

import pandas as pd

from bioprobe.figures import depth, flags, probing


def _rows() -> list[dict]:
    rows = []
    for model, kind, cka in (("enc", "encoder", {0: 0.9, 1: 0.6, 2: 0.3}), ("dec", "decoder", {0: 1.0, 1: 0.999,
                                                                                               2: 0.995})):
        for size in (0, 100):
            common = {"analysis": "probing", "task": "nli", "model": model, "training_size": size, "seed": 42,
                      "objective": "classifier", "baseline": "", "probe": "logistic", "pooling": "mean",
                      "kind": kind, "n_layers": 2, "reference": model}
            for layer in (0, 1, 2):
                rows.append({**common, "layer": layer, "metric": "accuracy", "value": 0.5 + 0.1 * layer})
                if size:
                    rows.append({**common, "layer": layer, "metric": "cka", "value": cka[layer]})
        rows.append({"analysis": "finetune", "task": "nli", "model": model, "training_size": 100, "seed": 42,
                     "objective": "classifier", "metric": "accuracy", "value": 0.6, "regime": "LoRA", "steps": 2,
                     "n_train": 8})
    return rows




def _texts(figure) -> list[str]:
    return [text.get_text() for ax in figure.axes for text in ax.texts]


def test_the_flagged_run_is_found_and_only_it():
    assert flags.flagged(pd.DataFrame(_rows())) == {("nli", "dec", "classifier", 100)}
    assert flags.size_of("100 %") == 100 and flags.size_of("pretrained") is None


def test_depth_figures_mark_the_run_that_barely_moved_and_name_it(figures, tmp_path):
    table = pd.DataFrame(_rows())
    (comparison,) = depth.depth_comparison(table, tmp_path)
    (cka_depth,) = probing.depth_curves(table, tmp_path, "cka")
    for drawing, figure in zip((comparison, cka_depth), figures):
        assert "Marked 'barely moved' (CKA with the pretrained model >= 0.99" in drawing.caption
        assert "dec on nli at 100 %" in drawing.caption and "enc on nli" not in drawing.caption
        assert _texts(figure).count("barely moved") >= 1  # written at the end of the decoder's line


def test_layer_curves_say_in_the_panel_which_size_barely_moved(figures, tmp_path):
    (drawing,) = probing.layer_curves(pd.DataFrame(_rows()), tmp_path, "cka")
    (figure,) = figures
    panels = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in figure.axes if ax.get_title()}
    assert "100 %: barely moved" in panels["dec: NLI"] and "100 %: barely moved" not in panels["enc: NLI"]
    assert drawing.caption.endswith("not a finding about the model.")


def test_nothing_is_marked_when_every_run_moved(figures, tmp_path):
    table = pd.DataFrame([row for row in _rows() if row["model"] == "enc"])
    (drawing,) = depth.depth_comparison(table, tmp_path)
    assert "barely moved" not in drawing.caption and "barely moved" not in _texts(figures[0])


def _with_attention(rows: list[dict]) -> pd.DataFrame:
    for model, cosine in (("enc", 0.6), ("dec", 0.999)):
        common = {"analysis": "attention", "task": "nli", "model": model, "training_size": 100, "seed": 42,
                  "objective": "classifier", "split": "test", "n_layers": 2, "n_heads": 2,
                  "kind": "encoder" if model == "enc" else "decoder", "reference": model}
        rows += [{**common, "layer": layer, "head": head, "metric": "cosine", "value": cosine}
                 for layer in (0, 1) for head in (0, 1)]
    return pd.DataFrame(rows)


def test_attention_figures_mark_the_run_that_barely_moved(figures, tmp_path):
    from bioprobe.figures import attention

    table = _with_attention(_rows())
    (layer_means,) = attention.layer_change(table, tmp_path)
    (depth_figure,) = attention.depth_change(table, tmp_path)
    for drawing in (layer_means, depth_figure):
        assert "dec on nli at 100 %" in drawing.caption and "enc on nli" not in drawing.caption
    panels = {ax.get_title().split(",")[0]: [t.get_text() for t in ax.texts] for ax in figures[0].axes}
    assert "100 %: barely moved" in panels["dec: NLI"] and "100 %: barely moved" not in panels["enc: NLI"]
    assert _texts(figures[1]).count("barely moved") == 1


def test_the_units_get_the_flags_from_the_whole_table_though_they_draw_their_own_rows(tmp_path):
    """A figure unit holds its analysis's rows only (no fine-tuning or diff rows), so the flags come with it."""
    from bioprobe import figures

    table = _with_attention(_rows())
    units = [unit for unit in figures.plan(table) if "barely" in unit[2]]
    assert {unit[0].__name__ for unit in units} == {"layer_curves", "depth_curves", "layer_change", "depth_change",
                                                    "depth_comparison"}
    assert all(unit[2]["barely"] == {("nli", "dec", "classifier", 100)} for unit in units)
    comparison = next(unit for unit in units if unit[0].__name__ == "depth_comparison")
    assert set(comparison[1]["analysis"]) == {"probing", "attention"}  # no finetune rows in the unit
    (drawing,) = figures._draw(comparison, str(tmp_path))
    assert "dec on nli at 100 %" in drawing.caption


def test_an_empty_pretrained_cka_panel_says_there_is_no_baseline(figures, tmp_path):
    rows = [row for row in _rows() if row["model"] == "enc"]
    baseline = [{**row, "training_size": 0, "baseline": "random-init", "value": 0.3} for row in rows
                if row["metric"] == "cka"]  # NLI has a random-init baseline
    other = [{**row, "task": "re"} for row in rows]  # RE has none: its pretrained CKA panel is empty
    probing.depth_curves(pd.DataFrame(rows + baseline + other), tmp_path, "cka")
    (figure,) = figures
    panels = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in figure.axes if ax.get_title()}
    assert panels["RE, pretrained"] == ["no random-init baseline"] and panels["NLI, pretrained"] == []
