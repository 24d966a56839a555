"""Probing figures from hand-made tables with their values written out: each depth figure's caption names its own
metric; in the per-layer curves the pretrained model is drawn unlike every training size, a curve equal to another
still shows, and accuracy panels mark chance at 1 / labels read off the MDL rows; the layer-by-layer CKA matrix has
the same layers on both axes and square cells."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bioprobe.figures import probing


def probe_rows(task="nli", model="enc", runs=((0, ""), (50, ""), (100, ""), (0, "random-init")), layers=(0, 1, 2),
               values=None, n_labels=None, label_C=None, metrics=("accuracy",)) -> list[dict]:
    """Probing rows of one encoder ("enc", 2 layers): per run (size, baseline) and layer one row per metric with the
    value `values[layer]` (0.5 where not given); with `n_labels`, MDL uniform-code rows over 10 items as the probe
    run writes them (10 * log2(labels) bits)."""
    rows = []
    for size, baseline in runs:
        common = {"analysis": "probing", "task": task, "model": model, "training_size": size, "seed": 42,
                  "objective": "classifier", "baseline": baseline, "probe": "logistic", "pooling": "mean",
                  "kind": "encoder", "n_layers": 2, "label_C": label_C}
        for layer in layers:
            value = (values or {}).get(layer, 0.5)
            rows += [{**common, "layer": layer, "metric": metric, "value": value} for metric in metrics]
            if n_labels:
                rows.append({**common, "layer": layer, "metric": "mdl_uniform_codelength",
                             "value": 10 * math.log2(n_labels), "n_mdl": 10})
    return rows




def curves(ax) -> dict:
    """Label -> line of one panel."""
    return {line.get_label(): line for line in ax.get_lines()}


@pytest.mark.parametrize("metric", list(probing.PROBING_METRICS))
def test_each_depth_figure_caption_names_its_own_metric(metric, tmp_path):
    table = pd.DataFrame(probe_rows(metrics=tuple(probing.PROBING_METRICS)))
    (drawing,) = probing.depth_curves(table, tmp_path, metric)
    what = probing.PROBING_METRICS[metric][1]
    assert drawing.name == f"probing_{metric}_depth"
    assert drawing.caption.startswith(what[0].upper() + what[1:] + " against normalised depth")


def test_the_pretrained_curve_looks_unlike_every_size_and_equal_curves_both_show(tmp_path, figures):
    same = {0: 0.4, 1: 0.5, 2: 0.6}  # every run the same values: the curves lie on one another
    table = pd.DataFrame(probe_rows(values=same))
    probing.layer_curves(table, tmp_path)
    lines = curves(figures[0].axes[0])
    pretrained, sizes = lines["pretrained"], [lines["50 %"], lines["100 %"]]
    for size in sizes:
        assert (size.get_linestyle(), size.get_marker()) != (pretrained.get_linestyle(), pretrained.get_marker())
        assert size.get_marker() != pretrained.get_marker() and size.get_linestyle() != pretrained.get_linestyle()
    assert pretrained.get_linestyle() == "-." and pretrained.get_marker() == "s"
    assert pretrained.get_markerfacecolor() == "none"  # hollow: a tuned marker inside it shows
    assert sizes[0].get_marker() != sizes[1].get_marker()
    ordered = sorted([pretrained, *sizes], key=lambda line: line.get_zorder())  # drawing order, bottom first
    assert ordered == [pretrained, *sizes]
    widths = [line.get_linewidth() for line in ordered]
    marks = [line.get_markersize() for line in ordered]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 3  # the line on top is the thinner
    assert marks == sorted(marks, reverse=True) and len(set(marks)) == 3
    assert lines["random init"].get_marker() not in {pretrained.get_marker(), *(s.get_marker() for s in sizes)}


def test_chance_is_one_over_the_labels_the_mdl_rows_imply():
    rows = pd.DataFrame(probe_rows(task="nli", n_labels=3) + probe_rows(task="ner", n_labels=4) +
                        probe_rows(task="cls", n_labels=32, label_C="1 1 1 1 1") + probe_rows(task="re"))
    rows = probing.probing_rows(rows)
    assert probing.chance_levels(rows) == {("nli", "enc"): pytest.approx(1 / 3), ("ner", "enc"): 0.25}


def test_accuracy_panels_draw_chance_where_the_table_gives_the_labels(tmp_path, figures):
    table = pd.DataFrame(probe_rows(task="nli", n_labels=3, values={0: 0.35, 1: 0.45, 2: 0.58}) +
                         probe_rows(task="ner", n_labels=4, values={0: 0.90, 1: 0.92, 2: 0.95}) +
                         probe_rows(task="re", values={0: 0.5, 1: 0.6, 2: 0.7}))
    (drawing,) = probing.layer_curves(table, tmp_path)
    ner, nli, re = figures[0].axes[:3]
    assert [ax.get_title() for ax in (ner, nli, re)] == ["enc: NER", "enc: NLI", "enc: RE"]
    chance = curves(nli)[probing.CHANCE_LABEL]
    assert list(chance.get_ydata()) == pytest.approx([1 / 3, 1 / 3])
    assert nli.get_ylim()[0] < 1 / 3  # near the curves: the axis reaches it
    assert list(curves(ner)[probing.CHANCE_LABEL].get_ydata()) == [0.25, 0.25]
    assert ner.get_ylim()[0] > 0.25  # far below: the curves keep their scale and the panel says where it is
    assert [t.get_text() for t in ner.texts] == ["chance 0.25 (below)"]
    assert probing.CHANCE_LABEL not in curves(re)  # no MDL rows: the number of labels is unknown
    labels = [text.get_text() for text in figures[0].legends[0].get_texts()]
    assert labels == ["pretrained", "50 %", "100 %", "random init", probing.CHANCE_LABEL]
    assert "chance, 1 / the number of labels" in drawing.caption


def test_the_majority_class_replaces_chance_where_the_probe_recorded_it(tmp_path, figures):
    rows = probe_rows(task="ner", n_labels=4, values={0: 0.90, 1: 0.92, 2: 0.95})
    for row in rows:
        if row["metric"] == "accuracy":
            row["majority"] = 0.8  # four in five test words are O
    (drawing,) = probing.layer_curves(pd.DataFrame(rows), tmp_path)
    ner = figures[0].axes[0]
    assert list(curves(ner)[probing.MAJORITY_LABEL].get_ydata()) == [0.8, 0.8]
    assert probing.CHANCE_LABEL not in curves(ner)
    assert [t.get_text() for t in ner.texts] == ["majority class 0.80 (below)"]  # 3 spans of the curves below them
    assert "majority-class accuracy" in drawing.caption


def test_other_metrics_draw_no_chance_line(tmp_path, figures):
    table = pd.DataFrame(probe_rows(n_labels=3, metrics=("selectivity",)))
    probing.layer_curves(table, tmp_path, "selectivity")
    assert probing.CHANCE_LABEL not in curves(figures[0].axes[0])


def test_the_cka_matrix_shows_the_same_layers_on_both_axes_with_square_cells(tmp_path, figures):
    rows = [{"analysis": "probing", "task": "nli", "model": "dec", "training_size": 100, "seed": 42,
             "objective": "instruct", "baseline": "", "probe": "logistic", "pooling": "mean", "kind": "decoder",
             "n_layers": 30, "metric": "cka_matrix", "layer": layer, "reference_layer": reference,
             "value": 1 - abs(reference - layer) / 30}
            for layer in (0, 15, 30) for reference in range(31)]
    (drawing,) = probing.cka_matrices(pd.DataFrame(rows), tmp_path)
    assert drawing.name == "probing_cka_matrix_nli_dec_instruct"
    assert set(drawing.data["pretrained_layer"]) == set(drawing.data["tuned_layer"]) == {0, 15, 30}
    ax = figures[0].axes[0]
    assert ax.get_aspect() == 1.0
    np.testing.assert_allclose(ax.images[0].get_array(), [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]])
    assert [t.get_text() for t in ax.get_yticklabels()] == [t.get_text() for t in ax.get_xticklabels()] == \
        ["0", "15", "30"]
    assert "(0, 15, 30; 28 layers probed on one side only are left out)" in drawing.caption
    assert "bright diagonal" not in drawing.caption
