"""The similarity figure from hand-made tables with their values written out: one panel per measure side by side,
one line per training size and random init (the pretrained reference is no line), bands exactly the rows'
intervals, and a caption that says bands only where there are some."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from bioprobe.figures import probing_units
from bioprobe.figures.similarity import similarity_layers

VALUES = {"cka": [0.95, 0.8, 0.6], "procrustes": [0.1, 0.3, 0.7], "mutual_knn": [0.9, 0.5, 0.2]}


def similarity_rows(intervals=True, metrics=tuple(VALUES)) -> list[dict]:
    """An encoder ("enc", 2 layers) probed at sizes 0, 50, 100 and random init; every run but the pretrained one has
    each measure per layer: the values above minus 0.1 * (size / 100) (random init: minus 0.3), intervals +-0.02,
    and a matrix row that the figure must ignore."""
    rows = []
    for size, baseline in ((0, ""), (50, ""), (100, ""), (0, "random-init")):
        common = {"analysis": "probing", "task": "ner", "model": "enc", "training_size": size, "seed": 42,
                  "objective": "classifier", "baseline": baseline, "probe": "logistic", "pooling": "first",
                  "kind": "encoder", "n_layers": 2, "n_cka": 120}
        rows += [{**common, "layer": layer, "metric": "accuracy", "value": 0.7} for layer in range(3)]
        if size == 0 and not baseline:
            continue
        shift = 0.3 if baseline else 0.1 * size / 100
        for metric in metrics:
            for layer, value in enumerate(VALUES[metric]):
                value = round(value - shift, 4)
                ci = {"ci_low": value - 0.02, "ci_high": value + 0.02} if intervals else {}
                rows.append({**common, "layer": layer, "metric": metric, "value": value, **ci})
                rows.append({**common, "layer": layer, "metric": f"{metric}_matrix", "value": -5.0,
                             "reference_layer": 0})
    return rows




def test_one_panel_per_measure_one_line_per_size_bands_are_the_intervals(tmp_path, figures):
    (drawing,) = similarity_layers(pd.DataFrame(similarity_rows()), tmp_path)
    assert drawing.name == "probing_similarity_ner_enc" and drawing.png.is_file()
    axes = [ax for ax in figures[0].axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["debiased linear CKA", "Procrustes distance",
                                                               "mutual k-NN overlap"]
    assert axes[1].get_title().endswith("(lower = more alike)")
    for ax, metric in zip(axes, VALUES):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"50 %", "100 %", "random init"}  # the pretrained model is the reference, no line
        np.testing.assert_allclose(lines["100 %"].get_ydata(), np.array(VALUES[metric]) - 0.1, atol=1e-9)
        np.testing.assert_allclose(lines["random init"].get_ydata(), np.array(VALUES[metric]) - 0.3, atol=1e-9)
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == 3
        for band in bands:  # each band spans value +- 0.02 at every layer
            ys = band.get_paths()[0].vertices[:, 1]
            assert ys.max() - ys.min() == pytest.approx(max(VALUES[metric]) - min(VALUES[metric]) + 0.04, abs=1e-6)
    assert (drawing.data["value"] > -1).all()  # no matrix row was drawn
    assert axes[1].get_ylim()[0] < -0.2  # random init's Procrustes values below 0 (hand-made) stay in view
    assert set(drawing.data["metric"]) == set(VALUES) and len(drawing.data) == 3 * 3 * 3
    assert "bands are 95 % bootstrap intervals" in drawing.caption and "on 120 test items" in drawing.caption
    assert "one panel per measure" in drawing.caption and "randomly initialised" in drawing.caption


def test_without_intervals_no_band_is_drawn_nor_claimed(tmp_path, figures):
    (drawing,) = similarity_layers(pd.DataFrame(similarity_rows(intervals=False, metrics=("procrustes",))), tmp_path)
    axes = [ax for ax in figures[0].axes if ax.get_visible() and ax.get_title()]
    assert len(axes) == 1 and not [c for c in axes[0].collections if isinstance(c, PolyCollection)]
    assert "bands" not in drawing.caption and drawing.caption.count("Procrustes") == 1


def test_the_probing_units_include_the_similarity_figure_without_matrix_rows(tmp_path):
    units = probing_units(pd.DataFrame(similarity_rows()))
    (unit,) = [u for u in units if u[0] is similarity_layers]
    assert not unit[1]["metric"].str.endswith("_matrix").any()
    assert similarity_layers(pd.DataFrame(similarity_rows())[:3], tmp_path) == []  # pretrained rows only


def test_the_similarity_table_gives_each_measure_of_the_last_layer_and_where_each_says_it_changed_most():
    from bioprobe import tables

    rows = pd.DataFrame(similarity_rows())
    # mutual k-NN of the 100 % run lowest at layer 1: the measures disagree there
    knn = (rows["metric"] == "mutual_knn") & (rows["training_size"] == 100) & (rows["baseline"] == "")
    rows.loc[knn & (rows["layer"] == 1), "value"] = 0.05
    (table,) = tables.similarity_tables(rows)
    assert table.name == "similarity_ner" and table.section == "probing"
    assert table.columns[2:] == ["debiased CKA, last layer", "Procrustes distance, last layer",
                                 "mutual k-NN, last layer",
                                 "layer that changed most (debiased CKA / Procrustes distance / mutual k-NN)"]
    body = {(r[0], r[1]): r[2:] for r in table.rows}
    assert list(body) == [("enc", "50 %"), ("enc", "100 %"), ("enc", "random init")]  # the pretrained: no row
    assert body[("enc", "100 %")] == ["0.500 [0.480, 0.520]", "0.600 [0.580, 0.620]", "0.100 [0.080, 0.120]",
                                      "2 / 2 / 1"]
    assert body[("enc", "random init")] == ["0.300 [0.280, 0.320]", "0.400 [0.380, 0.420]",
                                            "-0.100 [-0.120, -0.080]", "2 / 2 / 2"]
    assert table in tables.all_tables(rows)


def test_a_run_probed_against_another_models_pretrained_weights_stays_out_of_the_main_tables():
    """A tuned model probed against its own base and (`--reference enc`) against another model of the table: the
    similarity table shows the comparison with its own base, not the mean of both (0.600 before the fix)."""
    from bioprobe import tables

    rows = similarity_rows()
    for reference, value in (("", 0.9), ("med", 0.9), ("enc", 0.3)):
        common = {"analysis": "probing", "task": "ner", "model": "med", "training_size": 100, "seed": 42,
                  "objective": "classifier", "baseline": "", "probe": "logistic", "pooling": "first",
                  "kind": "encoder", "n_layers": 2, "reference": reference}
        rows += [{**common, "layer": 2, "metric": "cka", "value": value, "ci_low": value - 0.05,
                  "ci_high": value + 0.05}]
    (table,) = tables.similarity_tables(pd.DataFrame(rows))
    body = {(r[0], r[1]): r[2:] for r in table.rows}
    assert body[("med", "100 %")][0] == "0.900 [0.850, 0.950]"
    assert body[("enc", "100 %")][0] == "0.500 [0.480, 0.520]"  # the other model's rows are untouched


def test_several_seeds_give_mean_and_sd_over_seeds_not_averaged_interval_bounds(tmp_path, figures):
    """The 100 % run measured with seeds 1 and 2 (the second 0.2 higher everywhere): the table's cell is the mean
    ± s.d. over the seeds and the figure's band ± 1 s.d., both said in the captions; one-seed runs keep their
    bootstrap intervals."""
    from bioprobe import tables

    rows = pd.DataFrame(similarity_rows())
    hundred = rows[rows["training_size"] == 100]
    rows = pd.concat([rows[rows["training_size"] != 100], hundred.assign(seed=1),
                      hundred.assign(seed=2, value=hundred["value"] + 0.2)], ignore_index=True)
    (table,) = tables.similarity_tables(rows)
    body = {(r[0], r[1]): r[2:] for r in table.rows}
    assert body[("enc", "100 %")][0] == "0.600 ± 0.141"  # CKA 0.5 and 0.7 at the last layer
    assert body[("enc", "50 %")][0] == "0.550 [0.530, 0.570]"
    assert "mean ± s.d. over seeds" in table.caption
    (drawing,) = similarity_layers(rows, tmp_path)
    axes = [ax for ax in figures[0].axes if ax.get_visible() and ax.get_title()]
    lines = {line.get_label(): line for line in axes[0].get_lines()}
    np.testing.assert_allclose(lines["100 %"].get_ydata(), np.array(VALUES["cka"]) - 0.1 + 0.1, atol=1e-9)
    band = drawing.data[(drawing.data["metric"] == "cka") & (drawing.data["condition"] == "100 %")]
    np.testing.assert_allclose(band["ci_high"] - band["value"], 0.2 / 2 ** 0.5, atol=1e-4)  # s.d. of two values
    assert "bands ± 1 s.d. over seeds" in drawing.caption and "95 % bootstrap intervals" in drawing.caption
