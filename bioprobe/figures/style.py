"""The one plotting style of every figure: colour-blind-safe colours, paper widths, fonts, outside legends, saving.

Figures are laid out at their printed size (one paper column, 3.3 in, or two, 6.9 in) so that 7-point text is
7 points on the page; colours are Okabe-Ito for categories and viridis (cut before its pale yellow) for ordered
training sizes, and every category is also told apart by line style or marker.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
from dataclasses import dataclass, field
from pathlib import Path

from bioprobe import runstore

ONE_COLUMN = 3.3
"""Width in inches of a one-column figure."""
TWO_COLUMN = 6.9
"""Width in inches of a two-column (full-width) figure."""

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""Okabe & Ito (2008) categorical colours, ordered so that the first ones differ most for every colour vision."""
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
PRETRAINED = "#000000"
RANDOM_INIT = "#8C8C8C"
DPI = 200

RC = {
    "font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 6, "ytick.labelsize": 6,
    "legend.fontsize": 6.5, "legend.title_fontsize": 7, "figure.titlesize": 8, "axes.titlepad": 3,
    "axes.linewidth": 0.6, "grid.linewidth": 0.4, "grid.color": "#DDDDDD", "axes.grid": True,
    "axes.spines.top": False, "axes.spines.right": False, "axes.axisbelow": True,
    "lines.linewidth": 1.2, "lines.markersize": 3.5, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.major.pad": 1.5, "ytick.major.pad": 1.5,
    "legend.frameon": False, "legend.handlelength": 1.8, "legend.borderaxespad": 0.3,
    "savefig.dpi": DPI, "pdf.fonttype": 42, "axes.unicode_minus": False, "font.family": "DejaVu Sans",
    "image.interpolation": "nearest",
    "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
    "figure.constrained_layout.hspace": 0.04, "figure.constrained_layout.wspace": 0.03,
}

MIN_FONT = 6.0
"""Points below which no text of any figure is set: `save` raises smaller text to it, and `heatmap`'s written values
are set at it or, where a cell is too small to hold them, left out."""
FONT_KEYS = ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize",
             "legend.title_fontsize", "figure.titlesize")
"""The font sizes of `RC`."""
if min(RC[key] for key in FONT_KEYS) < MIN_FONT:
    raise ValueError(f"An RC font size is below MIN_FONT ({MIN_FONT} pt): {[k for k in FONT_KEYS if RC[k] < MIN_FONT]}")


@dataclass
class Drawing:
    """One figure drawn: its name (the file stem), files, the data it shows and what it shows.

    Attributes:
        name: File stem under `figures/` (e.g. `probing_accuracy_layers`).
        files: The PNG and PDF written.
        data: The rows the figure plots (a pandas DataFrame, one row per point or cell).
        caption: One or two sentences saying what is shown (used by the report).
        section: Report section it belongs to ("finetune", "probing", "attention", "depth", "attribution").
    """

    name: str
    files: list = field(default_factory=list)
    data: object = None
    caption: str = ""
    section: str = ""

    @property
    def png(self) -> Path:
        """The PNG file."""
        return next(path for path in self.files if path.suffix == ".png")

    @property
    def svg(self) -> Path | None:
        """The SVG with hover values that `save` writes beside the PNG of a figure with heatmaps (None without)."""
        path = self.png.with_suffix(".svg")
        return path if path.is_file() else None


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def theme():
    """The house rcParams, for the figures made inside the block."""
    plt = pyplot()
    with plt.rc_context(RC):
        yield plt


_COLUMN: contextvars.ContextVar = contextvars.ContextVar("bioprobe_figure_width", default=None)


@contextlib.contextmanager
def column(width: float | None):
    """Lay out the figures made inside the block at `width` inches (`ONE_COLUMN`: the one-column versions, at most
    two panels a row); None: each at the width it asks for."""
    token = _COLUMN.set(width)
    try:
        yield
    finally:
        _COLUMN.reset(token)


def page_width(width: float) -> float:
    """The width a figure that asks for `width` inches gets (the `column` in force, if any)."""
    return _COLUMN.get() or width


def grid(n_panels: int, ncols: int, width: float = TWO_COLUMN, panel_height: float = 1.6, sharex=False,
         sharey=False, nrows: int | None = None, extra_height: float = 0.0):
    """A figure of `n_panels` axes in rows of `ncols` at a paper width, constrained layout (unused axes hidden).

    Args:
        n_panels: Panels needed.
        ncols: Panels per row (fewer when there are fewer panels).
        width: Figure width in inches (`ONE_COLUMN` or `TWO_COLUMN`).
        panel_height: Height in inches of one row of panels.
        sharex, sharey: Passed to `plt.subplots`.
        nrows: Rows (default: as many as the panels need).
        extra_height: Inches added for a legend above or below.

    Returns:
        The figure and a flat list of `n_panels` axes.
    """
    plt = pyplot()
    if _COLUMN.get():
        width, ncols, nrows = _COLUMN.get(), min(ncols, 2), None
    ncols = max(1, min(ncols, n_panels))
    nrows = nrows or -(-n_panels // ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(width, panel_height * nrows + extra_height), squeeze=False,
                                sharex=sharex, sharey=sharey, layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return figure, flat[:n_panels]


def depth_axis(ax, low: float = -0.03) -> None:
    """The x axis of a panel on normalised depth (layer / layers), where an encoder and a decoder share one axis:
    0 to 1 with a little room, ticks at 0, 0.5 and 1."""
    ax.set_xlim(low, 1.03)
    ax.set_xticks([0, 0.5, 1])


def legend_outside(figure, handles, labels, title: str | None = None, where: str = "right", ncol: int = 1):
    """One legend for the whole figure, outside every axes (right of or below the panels).

    Args:
        figure: A constrained-layout figure.
        handles, labels: Legend entries (duplicates by label are dropped, order kept).
        title: Legend title.
        where: "right" or "bottom" or "top".
        ncol: Columns of entries.
    """
    seen, entries = set(), []
    for handle, label in zip(handles, labels):
        if label and not label.startswith("_") and label not in seen:
            seen.add(label)
            entries.append((handle, label))
    if not entries:
        return None
    loc = {"right": "outside right upper", "bottom": "outside lower center", "top": "outside upper center"}[where]
    if _COLUMN.get() and _COLUMN.get() <= ONE_COLUMN:  # one column: a key below, two entries a row
        loc, ncol = "outside lower center", min(ncol if where != "right" else 2, 2)
    return figure.legend([h for h, _ in entries], [lbl for _, lbl in entries], loc=loc, title=title, ncol=ncol)


def key_entries(colors: dict, markers: dict | None = None, linestyles: dict | None = None) -> tuple[list, list]:
    """Legend entries that say what colour and what line style mean apart (colour = model, style = run kind), so a
    legend has models + kinds entries instead of their product.

    Args:
        colors: Label -> colour (drawn as a solid line, with the marker of `markers` when given).
        markers: Label -> marker for the colour entries.
        linestyles: Label -> line style, drawn in grey.
    """
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for label, color in colors.items():
        handles.append(Line2D([], [], color=color, marker=(markers or {}).get(label), linestyle="-"))
        labels.append(label)
    for label, linestyle in (linestyles or {}).items():
        handles.append(Line2D([], [], color="0.35", linestyle=linestyle))
        labels.append(label)
    return handles, labels


def axes_entries(axes) -> tuple[list, list]:
    """The legend handles and labels of several axes, in drawing order."""
    handles, labels = [], []
    for ax in axes:
        h, lbl = ax.get_legend_handles_labels()
        handles += h
        labels += lbl
    return handles, labels


def category_colors(names) -> dict:
    """Name -> Okabe-Ito colour, in the order given (cycling after eight)."""
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(names)}


def category_markers(names) -> dict:
    """Name -> marker, in the order given."""
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(names)}


def size_colors(sizes) -> dict:
    """Training size -> colour: 0 (the pretrained model) black, the others viridis from dark to light green."""
    import matplotlib

    tuned = [s for s in sorted(sizes) if s != 0]
    cmap = matplotlib.colormaps["viridis"]
    colors = {0: PRETRAINED}
    for i, size in enumerate(tuned):
        colors[size] = cmap(0.15 + 0.7 * (i / max(1, len(tuned) - 1)) if len(tuned) > 1 else 0.5)
    return colors


@dataclass(frozen=True)
class Scale:
    """One colour scale, shared by every figure of a family (e.g. every `attention_cosine_*` heatmap) so that one
    colour means one value in all of them, even when each figure is drawn apart (in another process).

    Attributes:
        low, high: The colour limits.
        log: Logarithmic between `low` and `high` (values at or below `low` get the first colour).
        linthresh: When above 0, a symmetric log scale from `-high` to `high`, linear within +-`linthresh`.
    """

    low: float
    high: float
    log: bool = False
    linthresh: float = 0.0

    def norm(self):
        """The matplotlib normalisation."""
        from matplotlib import colors

        if self.linthresh > 0:
            return colors.SymLogNorm(self.linthresh, vmin=self.low, vmax=self.high, base=10)
        if self.log:
            return colors.LogNorm(self.low, self.high, clip=True)
        return colors.Normalize(self.low, self.high)

    def describe(self) -> str:
        """The range in words, for a colour-bar label or caption ("0.0001 to 1, log scale")."""
        span = f"{_number(self.low)} to {_number(self.high)}"
        if self.linthresh > 0:
            return f"{span}, symmetric log scale, linear within \u00b1{_number(self.linthresh)}"
        return span + (", log scale" if self.log else "")


LOG_ABOVE = 100.0
"""`shared_scale` turns logarithmic when the largest value is more than this many times the small ones (two decades):
a linear scale would paint the small ones (a decoder's attention change, 100 times below an encoder's) one colour."""
MAX_DECADES = 5
"""Decades a logarithmic `shared_scale` spans at most (values below its floor get the first colour)."""


def _number(value: float) -> str:
    return f"{value:.3g}".replace("e-0", "e-").replace("e+0", "e")


def shared_scale(values, signed: bool = False) -> Scale:
    """The colour scale of a family of figures from all of the family's values: linear from 0 (or symmetric about 0
    when `signed`) to the largest magnitude, or logarithmic in whole decades when the magnitudes span more than
    `LOG_ABOVE` (the small ones taken at their 2nd percentile, at most `MAX_DECADES` decades below the top).

    Args:
        values: Every value the family's figures show (NaN ignored).
        signed: Values of both signs (a symmetric scale about 0); otherwise values below 0 count as 0.
    """
    import math

    import numpy as np

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    magnitudes = np.abs(values) if signed else np.clip(values, 0.0, None)
    positive = magnitudes[magnitudes > 0]
    if positive.size == 0:
        return Scale(-1.0, 1.0) if signed else Scale(0.0, 1.0)
    high, low = float(positive.max()), float(np.percentile(positive, 2))
    if high <= LOG_ABOVE * low:
        return Scale(-high, high) if signed else Scale(0.0, high)
    top = 10.0 ** math.ceil(math.log10(high))
    bottom = max(10.0 ** math.floor(math.log10(low)), top / 10.0 ** MAX_DECADES)
    return Scale(-top, top, log=True, linthresh=bottom) if signed else Scale(bottom, top, log=True)


@dataclass
class HeatmapCells:
    """What `heatmap` drew, kept on its axes for `save`: the image, each cell's value and label, the written values.

    Attributes:
        ax, image: The axes and its image.
        values: The values `[rows, columns]` (NaN: no data).
        rows, columns: Each row's and column's label ("layer 3", "head 5").
        fmt: Format of a value in the SVG's hover titles.
        texts: The values written in the cells (emptied when they do not fit).
    """

    ax: object
    image: object
    values: object
    rows: list
    columns: list
    fmt: str = "{:.4g}"
    texts: list = field(default_factory=list)

    def title(self, row: int, column: int) -> str:
        """The hover title of a cell: "row label, column label: value" ("no data" for NaN)."""
        value = self.values[row, column]
        return f"{self.rows[row]}, {self.columns[column]}: " + ("no data" if value != value else
                                                                 self.fmt.format(value))


def heatmaps_of(figure) -> list[HeatmapCells]:
    """The heatmaps drawn with `heatmap` on a figure's axes, in drawing order."""
    return [cells for ax in figure.findobj(lambda artist: hasattr(artist, "_bioprobe_heatmaps"))
            for cells in ax._bioprobe_heatmaps]


def heatmap(ax, grid_values, cmap: str, vmin: float, vmax: float, annotate: bool = False, fmt: str = "{:.2f}",
            xticks=None, yticks=None, max_ticks: int = 16, norm=None, names=None, hover_fmt: str = "{:.4g}"):
    """Draw a matrix as coloured cells (row 0 at the top), with optional values written in the cells.

    Values are written at `MIN_FONT` points or not at all: `save` drops a heatmap's written values when one does not
    fit its cell. Each cell's value and row and column labels are kept on the axes, for the SVG `save` writes.

    Args:
        ax: Axes.
        grid_values: 2-D array `[rows, columns]`.
        cmap, vmin, vmax: Colour map and its limits (ignored when `norm` is given).
        annotate: Write each cell's value (only sensible for small grids).
        fmt: Format of the written values.
        xticks, yticks: Labels of the columns and rows (thinned to at most `max_ticks`).
        norm: A matplotlib normalisation (e.g. `Scale.norm()`) instead of `vmin`, `vmax`; values below a log
            scale's floor get its first colour.
        names: What rows and columns are ("layer", "head"): the hover labels read "layer 3", "head 5".
        hover_fmt: Format of a value in the hover titles.

    Returns:
        The image (for a colour bar).
    """
    import numpy as np
    from matplotlib import colors

    values = np.asarray(grid_values, dtype=float)
    norm = colors.Normalize(vmin, vmax) if norm is None else norm
    shown = values
    if isinstance(norm, colors.LogNorm):
        shown = np.where(np.isnan(values), np.nan, np.clip(values, norm.vmin, norm.vmax))
    image = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.grid(False)
    every = []
    for labels, setter, setlabels, n in ((xticks, ax.set_xticks, ax.set_xticklabels, values.shape[1]),
                                         (yticks, ax.set_yticks, ax.set_yticklabels, values.shape[0])):
        labels = list(range(n)) if labels is None else list(labels)
        every.append(labels)
        step = max(1, -(-n // max_ticks))
        where = list(range(0, n, step))
        setter(where)
        setlabels([labels[i] for i in where])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    texts = []
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if value != value:
                continue
            r, g, b, _ = image.to_rgba(shown[row, column])
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55
            texts.append(ax.text(column, row, fmt.format(0.0 if abs(value) < 0.005 else value), ha="center",
                                 va="center", fontsize=MIN_FONT, color="black" if light else "white"))
    column_name, row_name = (None, None) if names is None else (names[1], names[0])
    cells = HeatmapCells(ax, image, values, [f"{row_name} {label}" if row_name else str(label) for label in every[1]],
                         [f"{column_name} {label}" if column_name else str(label) for label in every[0]], hover_fmt,
                         texts)
    ax._bioprobe_heatmaps = [*getattr(ax, "_bioprobe_heatmaps", []), cells]
    return image


def save(figure, path: Path) -> list[Path]:
    """Write the figure as PNG and PDF at its own size (no cropping, so the width stays the paper's) and close it.

    Before writing, `fit` lays the figure out so that no text is cut off, no tick labels overlap, no text is below
    `MIN_FONT` and no heatmap value overflows its cell. A figure with heatmaps (`heatmap`) also gets an SVG beside the
    PNG (same stem) in which each cell carries a hover `<title>` "row label, column label: value" (`write_svg`).

    Returns:
        The PNG and the PDF (the SVG, when written, is `Drawing.svg`).
    """
    import warnings

    from matplotlib.text import Text

    plt = pyplot()
    for text in figure.findobj(Text):  # ligature glyphs ("fi") would cost the PDF a second font subset
        text.set_fontfeatures(["-liga"])
    left = fit(figure)
    if left:
        warnings.warn(f"{path.name}: text outside the figure after fitting: {left}", stacklevel=2)
    # Every file keeps the layout `fit` checked: solving it again can come out a few pixels apart (a colour bar's
    # ticks depend on its length), enough to cut off a label that fitted.
    figure.set_layout_engine("none")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        with runstore.atomic(target) as partial:  # a report being read, or drawn by a second worker, stays whole
            figure.savefig(partial, format=suffix[1:], dpi=DPI)
        written.append(target)
    cells = heatmaps_of(figure)
    svg = path.with_suffix(".svg")
    if cells:
        write_svg(figure, svg, cells)
    elif svg.exists():  # from an earlier drawing of this figure with heatmaps
        svg.unlink()
    plt.close(figure)
    return written


TEXT_GAP = 2.0
"""Pixels (at `DPI`) kept between neighbouring tick labels."""


def drawn_texts(figure):
    """The texts a draw of the figure at `DPI` puts on the page (visible, non-empty, among the shown ticks), found by
    drawing it (layout included) on an Agg renderer of its own that leaves out every drawing call but the texts'.

    Returns:
        The texts, in drawing order, and the renderer (for their `get_window_extent`).
    """
    from matplotlib.backend_bases import RendererBase
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
    from matplotlib.text import Text

    if figure.dpi != DPI:
        figure.set_dpi(DPI)
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    renderer = RendererAgg(int(figure.bbox.width), int(figure.bbox.height), figure.dpi)  # not the canvas's own
    for name in dir(RendererBase):
        if name.startswith("draw_") or name in ("open_group", "close_group"):
            setattr(renderer, name, lambda *args, **kwargs: None)
    found = {}
    draw = Text.draw

    def recording(text, drawer):  # Text.draw is reached only by what is drawn (ticks in view, annotations shown)
        if drawer is renderer and text.get_visible() and text.get_text() != "":
            found.setdefault(id(text), text)
        return draw(text, drawer)

    Text.draw = recording
    try:
        figure.draw(renderer)
    finally:
        Text.draw = draw
    return list(found.values()), renderer


def _extent(text, renderer):
    """The part of a text's window extent that shows (inside its clip box when it is clipped), or None."""
    from matplotlib.transforms import Bbox

    extent = text.get_window_extent(renderer)
    box = text.get_clip_box() if text.get_clip_on() else None
    return Bbox.intersection(extent, box) if box is not None else extent


def outside(figure, texts, renderer) -> list:
    """The texts whose extent reaches beyond the figure (cut off when saved)."""
    width, height = figure.bbox.width, figure.bbox.height
    found = []
    for text in texts:
        box = _extent(text, renderer)
        if box is not None and (box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5):
            found.append(text)
    return found


def _raise_small_fonts(texts) -> bool:
    small = [text for text in texts if text.get_fontsize() < MIN_FONT]
    for text in small:
        text.set_fontsize(MIN_FONT)
    return bool(small)


def _drop_crowded_values(figure, renderer) -> bool:
    """Remove the written values of each heatmap where one does not fit its cell (never shrink them)."""
    dropped = False
    for cells in heatmaps_of(figure):
        if not cells.texts:
            continue
        box = cells.image.get_window_extent(renderer)
        rows, columns = cells.values.shape
        width, height = box.width / columns, box.height / rows
        if any(extent.width > width - 2 or extent.height > height for extent in
               (text.get_window_extent(renderer) for text in cells.texts)):
            for text in cells.texts:
                text.remove()
            cells.texts = []
            dropped = True
    return dropped


def _thin_ticks(figure, texts, renderer) -> bool:
    """Keep every k-th major tick of each axis whose drawn tick labels overlap (k as small as makes room)."""
    import math

    from matplotlib.axes import Axes
    from matplotlib.ticker import FixedFormatter, FixedLocator

    drawn = {id(text) for text in texts}
    thinned = False
    for ax in figure.findobj(Axes):
        for axis, along in ((ax.xaxis, 0), (ax.yaxis, 1)):
            ticks = sorted((tick.get_loc(), label) for tick in axis.get_major_ticks()
                           for label in (tick.label1, tick.label2) if id(label) in drawn)
            if len(ticks) < 2:
                continue
            spans = sorted((box.x0, box.x1) if along == 0 else (box.y0, box.y1)
                           for box in (label.get_window_extent(renderer) for _, label in ticks))
            if all(after[0] >= before[1] + TEXT_GAP for before, after in zip(spans, spans[1:])):
                continue
            centres = [(a + b) / 2 for a, b in spans]
            spacing = min((b - a for a, b in zip(centres, centres[1:]) if b > a), default=0.0)
            size = max(b - a for a, b in spans) + TEXT_GAP
            step = max(2, math.ceil(size / spacing)) if spacing > 0 else len(ticks)
            keep = ticks[::step]
            if isinstance(axis.get_major_formatter(), FixedFormatter):
                axis.set_ticks([loc for loc, _ in keep], [label.get_text() for _, label in keep])
            else:
                axis.set_major_locator(FixedLocator([loc for loc, _ in keep]))
            thinned = True
    return thinned


def _fill(content: str, length: float, room: float) -> str:
    """The text broken into lines of as many characters as fit `room` when the longest line takes `length`."""
    import textwrap

    lines = content.split("\n")
    chars = max(8, int(max(len(line) for line in lines) * room / length * 0.95))
    return "\n".join(textwrap.fill(line, chars, break_long_words=False) for line in lines)


def _wrap_titles(figure, texts, renderer) -> bool:
    """Break each panel title wider than its panel into lines (it would run into its neighbour's)."""
    from matplotlib.axes import Axes

    drawn = {id(text) for text in texts}
    wrapped = False
    for ax in figure.findobj(Axes):
        room = ax.get_window_extent(renderer).width + TEXT_GAP
        for title in (ax.title, ax._left_title, ax._right_title):
            content = title.get_text()
            if id(title) not in drawn or "$" in content or room < 20:
                continue
            length = title.get_window_extent(renderer).width
            new = _fill(content, length, room) if length > room else content
            if new != content:
                title.set_text(new)
                wrapped = True
    return wrapped


def _wrap(figure, texts, renderer) -> bool:
    """Break each too-long text into lines that fit the room about its centre (mathematics is left alone)."""
    import math

    wrapped = False
    for text in texts:
        content = text.get_text()
        if "$" in content:
            continue
        box = text.get_window_extent(renderer)
        vertical = abs(math.sin(math.radians(text.get_rotation()))) > 0.7
        length, centre, room = (box.height, (box.y0 + box.y1) / 2, figure.bbox.height) if vertical else \
            (box.width, (box.x0 + box.x1) / 2, figure.bbox.width)
        room = max(2 * min(centre, room - centre), 0.3 * room) - 4
        if length <= room:
            continue
        new = _fill(content, length, room)
        if new != content:
            text.set_text(new)
            wrapped = True
    return wrapped


def _grow(figure, texts, renderer) -> None:
    """Make the figure as much larger as the texts reach beyond it (the layout engine then makes room)."""
    width, height = figure.bbox.width, figure.bbox.height
    boxes = [_extent(text, renderer) for text in texts]
    boxes = [box for box in boxes if box is not None]
    wide = max(0.0, -min(box.x0 for box in boxes)) + max(0.0, max(box.x1 for box in boxes) - width)
    tall = max(0.0, -min(box.y0 for box in boxes)) + max(0.0, max(box.y1 for box in boxes) - height)
    inches = figure.get_size_inches()
    figure.set_size_inches(inches[0] + (wide + 4) / DPI * (wide > 0), inches[1] + (tall + 4) / DPI * (tall > 0))


def fit(figure, rounds: int = 8) -> list[str]:
    """Lay the figure out (its layout engine run at `DPI`, then left as laid out) so that it saves with nothing cut
    off or crowded: texts below `MIN_FONT` are raised to it, heatmap values that overflow their cells dropped,
    overlapping tick labels thinned, panel titles wider than their panel broken into lines, texts reaching beyond the
    figure broken into lines, and, should one still reach beyond, the figure made larger (a colour bar's label longer
    than the figure is high, for instance, is set on two lines).

    Returns:
        The texts still reaching beyond the figure (none unless `rounds` ran out).
    """
    wraps = 2
    for _ in range(rounds):
        texts, renderer = drawn_texts(figure)
        fixed = [_raise_small_fonts(texts), _drop_crowded_values(figure, renderer),
                 _thin_ticks(figure, texts, renderer), _wrap_titles(figure, texts, renderer)]
        if any(fixed):
            continue
        cut = outside(figure, texts, renderer)
        if not cut:
            return []
        if wraps and _wrap(figure, cut, renderer):
            wraps -= 1
            continue
        _grow(figure, cut, renderer)
    texts, renderer = drawn_texts(figure)
    return [text.get_text() for text in outside(figure, texts, renderer)]


def write_svg(figure, target: Path, heatmaps: list[HeatmapCells]) -> Path:
    """Write the figure as a self-contained SVG whose heatmap cells are vector rectangles, each in a group
    `<g id="{stem}-cell-{heatmap}-{row}-{column}">` holding `<title>row label, column label: value</title>` (shown on
    hover) and the cell's `<path>`; fonts are paths, so the file needs nothing else.

    Args:
        figure: A figure already laid out (as `save` leaves it after the PNG).
        target: The `.svg` file.
        heatmaps: The figure's `heatmaps_of`.
    """
    import re
    from xml.sax.saxutils import escape

    import numpy as np
    from matplotlib.patches import Rectangle

    stem = re.sub(r"[^A-Za-z0-9_-]", "_", target.stem)
    titles, added = {}, []
    for k, cells in enumerate(heatmaps):
        image = cells.image
        rgba = image.to_rgba(image.get_array())
        for (row, column), _ in np.ndenumerate(cells.values):
            gid = f"{stem}-cell-{k}-{row}-{column}"
            colour = tuple(rgba[row, column]) if rgba[row, column][3] > 0 else (1.0, 1.0, 1.0, 1.0)
            rectangle = Rectangle((column - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="none", linewidth=0,
                                  zorder=image.get_zorder(), clip_on=False, gid=gid)
            cells.ax.add_artist(rectangle)
            added.append(rectangle)
            titles[gid] = cells.title(row, column)
        image.set_visible(False)
    try:
        with pyplot().rc_context({"svg.hashsalt": stem, "svg.fonttype": "path"}):
            with io.StringIO() as drawn:
                figure.savefig(drawn, format="svg", dpi=DPI, metadata={"Date": None})
                text = drawn.getvalue()
    finally:
        for rectangle in added:
            rectangle.remove()
        for cells in heatmaps:
            cells.image.set_visible(True)
    text = re.sub(r'<g id="([A-Za-z0-9_-]+-cell-\d+-\d+-\d+)">',
                  lambda match: f"{match.group(0)}\n    <title>{escape(titles[match.group(1)])}</title>",
                  text)
    runstore.write_text(target, text)
    return target


def note(ax, text: str, y: float = 0.5):
    """Write a short note ("no data", "all 0") across a panel (at height `y` in axes units) that has nothing else to
    show, or whose drawing alone would not say it."""
    return ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=7, color="0.3",
                   fontstyle="italic", zorder=5)
