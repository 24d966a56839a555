"""The one plotting style of every figure: colour-blind-safe colours, paper widths, fonts, outside legends, saving.

Figures are laid out at their printed size (one paper column, 3.3 in, or two, 6.9 in) so that 7-point text is
7 points on the page; colours are Okabe-Ito for categories and viridis (cut before its pale yellow) for ordered
training sizes, and every category is also told apart by line style or marker.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

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
    "savefig.dpi": DPI, "pdf.fonttype": 42, "axes.unicode_minus": False, "font.family": "DejaVu Sans", "image.interpolation": "nearest",
    "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
    "figure.constrained_layout.hspace": 0.04, "figure.constrained_layout.wspace": 0.03,
}


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
    ncols = max(1, min(ncols, n_panels))
    nrows = nrows or -(-n_panels // ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(width, panel_height * nrows + extra_height), squeeze=False,
                                sharex=sharex, sharey=sharey, layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return figure, flat[:n_panels]


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


def save(figure, path: Path) -> list[Path]:
    """Write the figure as PNG and PDF at its own size (no cropping, so the width stays the paper's) and close it.

    Returns:
        The two files.
    """
    from matplotlib.text import Text

    plt = pyplot()
    for text in figure.findobj(Text):  # ligature glyphs ("fi") would cost the PDF a second font subset
        text.set_fontfeatures(["-liga"])
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        figure.savefig(target, dpi=DPI)
        written.append(target)
        figure.set_layout_engine("none")  # the PDF reuses the PNG's layout instead of solving it again
    plt.close(figure)
    return written


def heatmap(ax, grid_values, cmap: str, vmin: float, vmax: float, annotate: bool = False, fmt: str = "{:.2f}",
            xticks=None, yticks=None, max_ticks: int = 16):
    """Draw a matrix as coloured cells (row 0 at the top), with optional values written in the cells.

    Args:
        ax: Axes.
        grid_values: 2-D array `[rows, columns]`.
        cmap, vmin, vmax: Colour map and its limits.
        annotate: Write each cell's value (only sensible for small grids).
        fmt: Format of the written values.
        xticks, yticks: Labels of the columns and rows (thinned to at most `max_ticks`).

    Returns:
        The image (for a colour bar).
    """
    import numpy as np

    values = np.asarray(grid_values, dtype=float)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.grid(False)
    for labels, setter, setlabels, n in ((xticks, ax.set_xticks, ax.set_xticklabels, values.shape[1]),
                                         (yticks, ax.set_yticks, ax.set_yticklabels, values.shape[0])):
        labels = list(range(n)) if labels is None else list(labels)
        step = max(1, -(-n // max_ticks))
        where = list(range(0, n, step))
        setter(where)
        setlabels([labels[i] for i in where])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        cmap_object = image.cmap
        span = (vmax - vmin) or 1.0
        for (row, column), value in np.ndenumerate(values):
            if value != value:
                continue
            r, g, b, _ = cmap_object((value - vmin) / span)
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55
            ax.text(column, row, fmt.format(0.0 if abs(value) < 0.005 else value), ha="center", va="center",
                    fontsize=4.8,
                    color="black" if light else "white")
    return image
