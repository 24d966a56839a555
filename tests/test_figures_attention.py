"""Attention figures and the shared heatmap style, from hand-made tables with their values written out: no text is
cut off (a colour bar's label included) or set below 6 pt, heatmap values that do not fit their cells are dropped,
tick labels never overlap, a model tuned at one size has its layer means against layer, the importance correlations
are named by size, one colour scale per heatmap family however the figures are drawn, and a heatmap's SVG carries
each cell's "row, column: value" as a hover title."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pandas as pd
import pytest

from bioprobe.figures import attention, style

SVG = "{http://www.w3.org/2000/svg}"


def head_table(model: str, kind: str, change, sizes=(100,), task: str = "ner", objective: str = "classifier",
               spearman: dict | None = None) -> pd.DataFrame:
    """Attention rows of one run per size: `change[layer][head]` is 1 - cosine (JS = change / 2, entropy change =
    change - 0.1, importance = change / the layer's largest change); `spearman` gives importance_change_spearman
    per size."""
    change = np.asarray(change, dtype=float)
    n_layers, n_heads = change.shape
    rows = []
    for size in sizes:
        common = {"analysis": "attention", "task": task, "model": model, "training_size": size, "seed": 42,
                  "objective": objective, "in_prompt": False, "kind": kind, "n_layers": n_layers}
        for (layer, head), value in np.ndenumerate(change):
            top = np.nanmax(change[layer]) if np.isfinite(change[layer]).any() else np.nan
            for metric, number in (("cosine", 1 - value), ("js", value / 2), ("entropy_change", value - 0.1),
                                   ("importance", value / top if top else 0.0)):
                rows.append({**common, "layer": layer, "head": head, "metric": metric, "value": number})
        if spearman and size in spearman:
            rows.append({**common, "layer": None, "head": None, "metric": "importance_change_spearman",
                         "value": spearman[size]})
    return pd.DataFrame(rows)


ENCODER = np.round(np.linspace(0.01, 0.8, 6 * 12).reshape(6, 12), 4)
"""A minilm-like encoder's change (6 layers x 12 heads), 0.01 to 0.8."""
DECODER = np.round(1e-4 * (1 + np.arange(30 * 9).reshape(30, 9) % 40), 6)
"""A smollm2-like decoder's change (30 layers x 9 heads), 0.0001 to 0.004: 200 times below the encoder's."""


@pytest.fixture
def saved(monkeypatch):
    """The figures `style.save` writes, with their files, in order."""
    found = []
    save = style.save

    def keep(figure, path):
        files = save(figure, path)
        found.append((figure, files))
        return files

    monkeypatch.setattr(style, "save", keep)
    return found


def texts_as_saved(figure):
    """The texts a draw of the saved figure (its layout as saved, at the PNG's DPI) puts on the page, with their
    window extents, found by a full Agg draw that records each text reaching `Text.draw`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    figure.set_dpi(style.DPI)
    canvas = FigureCanvasAgg(figure)
    drawn, draw = {}, Text.draw

    def record(text, renderer):
        if text.get_visible() and text.get_text():
            drawn[id(text)] = text
        return draw(text, renderer)

    Text.draw = record
    try:
        with style.theme():  # the settings it was saved under (tick labels are formatted at drawing time)
            canvas.draw()
    finally:
        Text.draw = draw
    renderer = canvas.get_renderer()
    return [(text, text.get_window_extent(renderer)) for text in drawn.values()]


def assert_nothing_cut_off(figure, png):
    from matplotlib.image import imread

    found = texts_as_saved(figure)
    height, width = imread(png).shape[:2]
    assert (round(figure.bbox.width), round(figure.bbox.height)) == (width, height)  # the figure as saved
    cut = [text.get_text() for text, box in found
           if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5]
    assert not cut, f"{png.name}: cut off: {cut}"
    return found


@pytest.mark.parametrize("metric", ["cosine", "js", "entropy_change", "importance"])
def test_no_text_of_an_attention_heatmap_reaches_beyond_the_saved_figure(metric, saved, tmp_path):
    table = pd.concat([head_table("minilm", "encoder", ENCODER), head_table("smollm2", "decoder", DECODER,
                                                                           sizes=(10, 100))])
    drawn = attention.head_heatmaps(table, tmp_path, [metric])
    assert sorted(d.name for d in drawn) == [f"attention_{metric}_ner_minilm", f"attention_{metric}_ner_smollm2"]
    for (figure, files), drawing in zip(saved, drawn):
        found = assert_nothing_cut_off(figure, drawing.png)
        label = next(text for text, _ in found if text.get_text().replace("\n", " ").startswith(
            attention.ATTENTION_METRICS[metric][0].split(" ")[0]) and text.get_rotation() == 90)
        assert label.get_text().replace("\n", " ").startswith(attention.ATTENTION_METRICS[metric][0])


def test_every_text_of_a_heatmap_is_at_least_6_pt_and_values_too_big_for_their_cells_are_dropped(tmp_path):
    assert style.MIN_FONT == 6 and all(style.RC[key] >= 6 for key in style.FONT_KEYS)
    with style.theme():
        figure, (roomy, crowded) = style.grid(2, 2, panel_height=1.4)
        style.heatmap(roomy, [[0.25, 0.5, 0.125], [1.0, 0.75, 0.0]], "viridis", 0, 1, annotate=True)
        style.heatmap(crowded, DECODER, "viridis", 0, 0.004, annotate=True)  # 30 x 9 cells of 0.12 x 0.04 in
        style.save(figure, tmp_path / "two")
    found = texts_as_saved(figure)
    assert min(text.get_fontsize() for text, _ in found) >= 6
    written = sorted(text.get_text() for text in roomy.texts)
    assert written == ["0.00", "0.12", "0.25", "0.50", "0.75", "1.00"]  # "{:.2f}" of the values
    assert all(text.get_fontsize() == 6 for text in roomy.texts)
    assert len(crowded.texts) == 0  # dropped, not shrunk


def test_the_minilm_cosine_heatmap_writes_its_values_at_6_pt(saved, tmp_path):
    attention.head_heatmaps(head_table("minilm", "encoder", ENCODER), tmp_path, ["cosine"])
    figure, _ = saved[0]
    values = [text for text, _ in texts_as_saved(figure) if re.fullmatch(r"\d\.\d\d", text.get_text())]
    assert len(values) == 72 and {t.get_fontsize() for t in values} == {6.0}
    assert {t.get_text() for t in values} >= {"0.01", "0.80"}  # the change 1 - cosine, first and last head


def _two_runs():
    """An encoder whose attention changed from 0.01 to 0.8 and a decoder whose changed from 0.0001 to 0.004."""
    return pd.concat([head_table("minilm", "encoder", ENCODER),
                      head_table("smollm2", "decoder", DECODER, objective="instruct")], ignore_index=True)


def test_every_heatmap_of_a_family_has_one_colour_scale_however_it_is_drawn(saved, tmp_path):
    from matplotlib.colors import LogNorm, Normalize

    from bioprobe.figures import attention_units

    units = [unit for unit in attention_units(_two_runs()) if unit[0] is attention.head_heatmaps]
    assert len(units) == 8  # 2 runs x 4 metrics, each unit drawn alone (as in its own process)
    limits = {}
    for function, rows, options in units:
        [drawing] = function(rows, tmp_path, **options)
        figure, _ = saved[-1]
        [image] = [image for ax in figure.axes for image in ax.get_images()]
        limits.setdefault(drawing.name.split("_ner_")[0], []).append((type(image.norm), image.norm.vmin,
                                                                      image.norm.vmax))
    # 1 - cosine: 2nd percentile 0.0001..0.001 -> floor 1e-4; top 0.8 -> 1; 4 decades, so a log scale
    assert limits["attention_cosine"] == [(LogNorm, pytest.approx(1e-4), pytest.approx(1.0))] * 2
    assert limits["attention_js"] == [(LogNorm, pytest.approx(1e-5), pytest.approx(1.0))] * 2  # change / 2
    # change - 0.1: largest magnitude 0.7, 2nd percentile about 0.03 (encoder heads near 0.1): linear, symmetric
    assert limits["attention_entropy_change"] == [(Normalize, pytest.approx(-0.7), pytest.approx(0.7))] * 2
    assert limits["attention_importance"] == [(Normalize, 0.0, 1.0)] * 2
    scales = attention.family_scales(_two_runs())
    assert scales["cosine"] == style.Scale(1e-4, 1.0, log=True)
    assert scales["cosine"].describe() == "0.0001 to 1, log scale"
    labels = [ax.get_ylabel() for figure, _ in saved[:1] for ax in figure.axes if ax.get_ylabel().startswith(
        "attention change")]
    assert labels and "0.0001 to 1, log scale" in labels[0].replace("\n", " ")


def test_a_family_of_small_changes_stays_linear_from_zero():
    from matplotlib.colors import SymLogNorm

    scale = style.shared_scale([0.2, 0.4, 0.8, np.nan])
    assert scale == style.Scale(0.0, 0.8) and scale.describe() == "0 to 0.8"
    assert style.shared_scale([-0.3, 0.1, 0.2], signed=True) == style.Scale(-0.3, 0.3)
    assert style.shared_scale([0.0, 0.0]) == style.Scale(0.0, 1.0)  # nothing to scale: 0 to 1
    both = style.shared_scale([-0.5, 0.0002, 0.001, 0.3], signed=True)  # 2nd percentile 0.00025: 3+ decades
    assert both == style.Scale(-1.0, 1.0, log=True, linthresh=1e-4)
    assert isinstance(both.norm(), SymLogNorm) and both.norm().linthresh == 1e-4


def test_layer_means_of_a_model_tuned_at_one_size_are_drawn_against_layer_and_empty_panels_say_so(saved, tmp_path):
    one_size = [[0.01, 0.01], [0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]  # mean cosine per layer 0.99, 0.9, 0.8, 0.7
    table = pd.concat([head_table("enc", "encoder", one_size, task="ner"),
                       head_table("enc", "encoder", np.full((3, 2), np.nan), task="nli"),
                       head_table("enc", "encoder", np.zeros((3, 2)), task="re")], ignore_index=True)
    [drawing] = attention.layer_change(table, tmp_path)
    figure, _ = saved[0]
    panels = {ax.get_title().split(",")[0].split("\n")[0]: ax for ax in figure.axes if ax.get_title()}
    assert set(panels) == {"enc: NER", "enc: NLI", "enc: RE"}
    ner = panels["enc: NER"]
    [line] = ner.get_lines()
    assert list(line.get_xdata()) == [0, 1, 2, 3]
    assert np.allclose(line.get_ydata(), [0.99, 0.9, 0.8, 0.7])
    assert ner.get_xlabel() == "layer" and "100 % training data" in ner.get_title()
    assert ner.get_title().endswith("most changed: layer 3")
    shown = {text.get_text() for text, _ in assert_nothing_cut_off(figure, drawing.png)}
    assert [t.get_text() for t in panels["enc: NLI"].texts] == ["no data"] and "no data" in shown
    assert [t.get_text() for t in panels["enc: RE"].texts] == ["all 1 (unchanged)"] and "all 1 (unchanged)" in shown
    assert not drawing.png.with_suffix(".svg").exists() and drawing.svg is None  # no heatmap, no SVG


def _three_decoders():
    """Three decoders' heads at 10 and 100 %, their attention change 0.00003 to 0.0012 (smollm2's in the quick demo,
    whose tick labels "0.0000 0.0005 0.0010 0.0015" ran together in a third of the page's width), Spearman rho
    +0.13 at 10 % and +0.364 at 100 %."""
    return pd.concat([head_table(model, "decoder", DECODER * 0.3, sizes=(10, 100), task="ner",
                                 spearman={10: 0.13, 100: 0.364}) for model in ("dec-a", "dec-b", "dec-c")],
                     ignore_index=True)


def test_importance_change_names_each_correlation_by_its_size(saved, tmp_path):
    attention.importance_change(_three_decoders(), tmp_path)
    figure, _ = saved[0]
    titles = [" ".join(ax.get_title().replace("\u00a0", " ").split()) for ax in figure.axes if ax.get_title()]
    assert titles == [f"{m}: NER \u03c1 by size: 10 %: +0.13, 100 %: +0.36" for m in ("dec-a", "dec-b", "dec-c")]
    assert all("10\u00a0%:\u00a0+0.13" in ax.get_title() for ax in figure.axes if ax.get_title())  # never apart


def test_the_tick_labels_and_titles_of_importance_change_never_overlap(saved, tmp_path):
    [drawing] = attention.importance_change(_three_decoders(), tmp_path)
    figure, _ = saved[0]
    found = dict((id(text), box) for text, box in assert_nothing_cut_off(figure, drawing.png))
    titles = sorted((found[id(ax.title)].x0, found[id(ax.title)].x1) for ax in figure.axes if ax.get_title())
    assert len(titles) == 3 and all(after[0] >= before[1] for before, after in zip(titles, titles[1:])), titles
    for ax in figure.axes:
        for axis, along in ((ax.xaxis, 0), (ax.yaxis, 1)):
            boxes = sorted((box.x0, box.x1) if along == 0 else (box.y0, box.y1)
                           for box in (found[id(label)] for label in axis.get_ticklabels() if id(label) in found))
            assert len(boxes) >= 2
            assert all(after[0] >= before[1] for before, after in zip(boxes, boxes[1:])), (ax.get_title(), boxes)


def test_the_svg_of_a_heatmap_carries_each_cells_row_column_and_value_as_its_hover_title(tmp_path):
    from matplotlib.colors import to_hex

    values = [[0.25, 0.5, 0.125], [1.0, np.nan, -0.75]]
    with style.theme():
        figure, [ax] = style.grid(1, 1, width=style.ONE_COLUMN)
        image = style.heatmap(ax, values, "viridis", -1, 1, xticks=["a", "b", "c"], yticks=[3, 4],
                              names=("layer", "head"))
        files = style.save(figure, tmp_path / "grid")
    drawing = style.Drawing("grid", files)
    assert sorted(p.suffix for p in files) == [".pdf", ".png"] and drawing.svg == tmp_path / "grid.svg"
    text = drawing.svg.read_text()
    assert len(text) < 200_000 and not re.search(r'href="(?!#|data:)', text)  # self-contained
    root = ElementTree.fromstring(text)
    cells = {g.get("id"): g for g in root.iter(f"{SVG}g") if re.fullmatch(r"grid-cell-0-\d-\d", g.get("id") or "")}
    titles = {gid: g.find(f"{SVG}title").text for gid, g in cells.items()}
    assert titles == {"grid-cell-0-0-0": "layer 3, head a: 0.25", "grid-cell-0-0-1": "layer 3, head b: 0.5",
                      "grid-cell-0-0-2": "layer 3, head c: 0.125", "grid-cell-0-1-0": "layer 4, head a: 1",
                      "grid-cell-0-1-1": "layer 4, head b: no data", "grid-cell-0-1-2": "layer 4, head c: -0.75"}
    fill = re.search(r"fill: (#[0-9a-f]{6})", ElementTree.tostring(cells["grid-cell-0-0-0"], "unicode")).group(1)
    assert fill == to_hex(image.cmap(image.norm(0.25)))  # the cell is drawn in its colour
    assert "<image" not in text.split("grid-cell-0-0-0")[0].split("axes_1")[-1]  # cells are vectors, no raster
