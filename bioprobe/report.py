"""The report: every figure and table of a runs dir, from the tidy result tables alone, as `report.md`, a
self-contained `report.html` (figures embedded, the data behind each one beside it) and LaTeX tables in `tables/`."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from bioprobe import runstore, tables
from bioprobe.errors import BioprobeError
from bioprobe.stages import RESULTS, STAGES
from bioprobe.tasks import TASKS
from bioprobe.rows import SELECTION_METRIC, best_layer  # noqa: F401  (importable here: probe, demo and tests use them)

STUDY_TABLE = "study.parquet"
"""The merged table of every analysis that `bioprobe collect` writes under `results/`."""


def load_results(root: str | Path | None):
    """Every tidy result row of a runs dir as one DataFrame.

    Reads `results/study.parquet` when it exists and is newer than every per-run table (without the rows `bioprobe
    collect` marked stale), otherwise concatenates the per-run tables of every analysis (`runstore.read_tables`).

    Args:
        root: The runs dir.

    Returns:
        The rows (empty when there are none), `objective` filled in ("classifier" for tables that predate it).
    """
    import pandas as pd

    results = runstore.runs_dir(root) / "results"
    study = results / STUDY_TABLE
    if study.is_file():
        newest = max((path.stat().st_mtime for analysis in RESULTS
                      for path in (results / analysis).rglob("*.csv")), default=0.0)
        if study.stat().st_mtime >= newest:
            frame = pd.read_parquet(study)
            if "stale" in frame:  # written by a cell whose settings the plan no longer has (see `bioprobe collect`)
                frame = frame[~frame["stale"].fillna(False).astype(bool)].reset_index(drop=True)
            frame["objective"] = frame["objective"].fillna("classifier") if "objective" in frame else "classifier"
            return frame
    frames = [runstore.read_tables(root, analysis) for analysis in RESULTS]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=[*runstore.TIDY_COLUMNS, "objective"])
    return pd.concat(frames, ignore_index=True)


def _require(table, root: Path) -> None:
    if table.empty:
        raise BioprobeError(f"No result tables under {root / 'results'}; run `bioprobe finetune`, `bioprobe probe` "
                            "or `bioprobe demo` first.")


def draw_figures(root: str | Path | None, table=None, one_column: bool = False) -> list:
    """Draw every figure of a runs dir into its `figures/` folder (PNG and PDF).

    Args:
        root: The runs dir.
        table: Its rows, when already loaded (`load_results`).
        one_column: Draw them one column wide (3.3 in, at most two panels a row, nothing below 6 pt) into
            `figures/one-column/` instead.

    Returns:
        One `bioprobe.figures.style.Drawing` per figure.

    Raises:
        BioprobeError: when the runs dir holds no result tables yet.
    """
    from bioprobe.figures import draw_all

    root = runstore.runs_dir(root)
    table = load_results(root) if table is None else table
    _require(table, root)
    if one_column:
        from bioprobe.figures.style import ONE_COLUMN

        return draw_all(table, root / "figures" / "one-column", width=ONE_COLUMN)
    return draw_all(table, root / "figures")


# What each section says before its tables and figures (Markdown).
INTRO = {
    "finetune": "",
    "generative": (
        "Instruction-tuned runs answer the test instructions by greedy generation (Llama2-MedTuned format; loss on "
        "the answer only in training; size 0 = the model as released, zero-shot). "
        + " ".join(task.answer_rule for task in TASKS.values())
        + " Failures (no answer, missing or extra lines, unknown or several labels, no stop) are counted per kind; "
        "every generation is stored under `generations/`.\n"),
    "clinical": (
        "The three clinical prompts (`bioprobe generate`) asked of the model as released and of its instruction- and "
        "conversation-tuned checkpoints; every answer is stored with its prompt and parse under `generations/`. "
        "Search items are built from the NLI corpus: the query is a hypothesis, the document its entailing premise "
        "among seeded distractor premises, numbered by sentence.\n"),
    "probing": (
        "Probes are trained on the train split's vectors and scored on the test split; the best layer is the one "
        "whose probe scores highest on the validation split, and its test score is reported (a layer chosen by its "
        "test score would report a selected maximum). Selectivity is task minus control-task accuracy (Hewitt & "
        "Liang 2019); MDL compression is the uniform over the online codelength (Voita & Titov 2020) of the "
        "validation items, which no fine-tuned checkpoint was trained on, the same items for the pretrained and "
        "every fine-tuned model; CKA the debiased linear CKA of a layer with the same layer of the pretrained model "
        "on the same test items. Layer 0 is the embeddings; depth is layer / layers.\n"),
    "attention": (
        "Both models run on the same test sentences; per layer and head, over real tokens only, the cosine of the "
        "flattened maps (the study's metric), the Jensen-Shannon divergence of corresponding rows, entropy and its "
        "change, and the mass on special / same / previous / next tokens, with 95 % bootstrap intervals over "
        "sentences in the tables. Head importance is Michel et al. (2019): the gradient of the task loss with "
        "respect to a gate on each head.\n"),
    "depth": (
        "Encoders and decoders differ in depth (minilm 6 layers, smollm2 30), so they are compared on normalised "
        "depth: probing layer / layers (0 = embeddings), attention layer i at (i + 1) / layers.\n"),
    "attribution": "",
    "causal": (
        "The correlational view says where tuning moved the model: the relative weight change "
        "`||W_tuned - W_pre||_F / ||W_pre||_F` per block and per module group, the attention change of each head and "
        "what the probes read at each layer. The causal view says which of those moves the tuned model needs: "
        "reverting one block (alone, with all below it, or with all above it) or one head to its pretrained weights "
        "and scoring again, and erasing the probed concept at a layer with LEACE, against erasing a random subspace "
        "of the same rank. *Gain lost* is (tuned - reverted) / (tuned - size 0): 0 = the reverted part carried none "
        "of what tuning gained, 1 = all of it; it can exceed 1 (the reverted model is worse than the untuned one) or "
        "fall below 0 (reverting helps). Layers are hidden-state numbers, as in the probing tables: 0 = the "
        "embeddings, l = the output of transformer block l, so attention layer i is block i + 1 here.\n"),
    "diffing": (
        "What the tuned model *says*, against its reference (the pretrained model; a LoRA run's base with the adapter "
        "off; or a named reference with the same tokenizer). *Output divergence*: on the seeded test prompts with "
        "their gold answers, KL(tuned || reference) = sum_v p_tuned(v) log(p_tuned(v) / p_ref(v)) of the two "
        "next-token distributions at each position, in nats; a *prompt* position predicts a prompt token, an "
        "*answer* position an answer token or the closing EOS; each item's mean per class, then the mean over items "
        "with a 95 % bootstrap interval over items. *Logit lens*: each layer's hidden state (0 = the embeddings) at "
        "the answer positions, passed through the model's final norm and unembedding, read as a prediction of the "
        "gold answer token: its probability and its rank (1 = the top token; the geometric mean over items of each "
        "item's mean log rank), so the last layer is the model's own prediction. Encoders with a masked-LM head are "
        "read at masked tokens (15 % of each item's tokens, seeded); a sentence-embedding model such as minilm keeps "
        "no masked-LM head, so the lens does not apply to it. The *decodable layer* is the lowest where the mean "
        "over items of each item's share of answer tokens ranked first (the gold token on top) reaches one half.\n"),
}


def _sections(stages) -> tuple[tuple[str, str], ...]:
    """The stages' report sections, (key, heading), in the stages' order, each key once (several stages can share
    one section, the first heading given wins)."""
    found = {}
    for stage in stages:
        for key, heading in stage.sections:
            found.setdefault(key, heading)
    return tuple(found.items())


SECTIONS = _sections(STAGES.values())
"""The report's sections, (key, heading), in the stages' order, each key once: each shows the tables and figures of
its key."""


def _section_of_table(table: tables.Table) -> str:
    return "generative" if table.name.startswith("generative_") else table.section


def _section_of_drawing(drawing) -> str:
    return "generative" if drawing.name == "finetune_generative" else drawing.section


def write_tables(root: str | Path | None, table=None) -> list[tables.Table]:
    """Build every table and write each as LaTeX (booktabs) under `tables/`.

    Returns:
        The tables, in report order.
    """
    root = runstore.runs_dir(root)
    table = load_results(root) if table is None else table
    built = tables.all_tables(table)
    tables.write_latex(built, root / "tables")
    return built


def write_report(root: str | Path | None, title: str = "bioprobe report", notes: str = "") -> Path:
    """Draw every figure, write every table (LaTeX under `tables/`) and the report as `report.md` and a
    self-contained `report.html` under the runs dir.

    Args:
        root: The runs dir.
        title: Heading of the report.
        notes: Markdown put under the heading (what was run, how long it took).

    Returns:
        Path of `report.md` (`report.html` is beside it).

    Raises:
        BioprobeError: when the runs dir holds no result tables yet.
    """
    root = runstore.runs_dir(root)
    table = load_results(root)
    _require(table, root)
    drawn = draw_figures(root, table)
    built = write_tables(root, table)
    figures_dir = root / "figures"
    shown = {drawing.name for drawing in drawn}
    others = sorted(path for path in figures_dir.glob("*.png") if path.stem not in shown)
    blocks = _blocks(drawn, built, others, root, section_texts(table))
    report = root / "report.md"
    runstore.write_text(report, _markdown(title, notes, blocks))
    runstore.write_text(root / "report.html", _html(title, notes, blocks, root))
    return report


FLAGGED_SECTIONS = ("probing", "attention", "depth", "causal")
"""Sections whose figures show pretrained-vs-tuned change, where a run that barely moved is named under the intro."""


def section_texts(table) -> dict[str, str]:
    """Section key -> Markdown the rows make the report say there (besides the intro): in "finetune", how each run
    was trained and how far it moved (`regimes.regimes_markdown`); in the sections of `FLAGGED_SECTIONS`, which runs
    barely moved; in "causal", one sentence per run whose tuned weights equal the pretrained ones
    (`rows.unchanged_runs`)."""
    from bioprobe import regimes
    from bioprobe.rows import unchanged_runs

    texts = {}
    regime = regimes.regimes_markdown(table)
    if regime:
        texts["finetune"] = regime + "\n"
    flagged = regimes.barely_moved(table)
    if flagged:
        names = "; ".join(f"{model} {objective} on {task} at {size} %" for task, model, objective, size, _ in flagged)
        for key in FLAGGED_SECTIONS:
            texts[key] = (f"**Barely moved** (see the fine-tuning section): {names}. Their flat lines and pale cells "
                          "here show how little those runs were trained, not a finding about the model.\n")
    unchanged = unchanged_runs(table)
    if unchanged:
        texts["causal"] = texts.get("causal", "") + "".join(f"- **{sentence}**\n" for sentence in unchanged)
    return texts


def _blocks(drawn, built, others, root: Path, texts: dict | None = None) -> list[tuple]:
    """The report's content in order: ("heading", text), ("text", markdown), ("html", raw HTML: the attention-map
    view, `bioprobe.mapview`), ("table", Table),
    ("figure", Drawing) and ("stale", png path); `texts` (section key -> Markdown, see `section_texts`) follow a
    section's intro."""
    blocks = []
    texts = texts or {}
    for key, heading in SECTIONS:
        here_tables = [t for t in built if _section_of_table(t) == key]
        here_figures = [d for d in drawn if _section_of_drawing(d) == key]
        if not here_tables and not here_figures and not texts.get(key):
            continue
        blocks.append(("heading", f"## {heading}\n"))
        if INTRO.get(key):
            blocks.append(("text", INTRO[key]))
        if texts.get(key):
            blocks.append(("text", texts[key]))
        blocks += [("table", t) for t in here_tables]
        blocks += [("figure", d) for d in here_figures]
        if key == "attention":
            from bioprobe.mapview import view_html

            view = view_html(root)
            if view:
                blocks.append(("html", view))
        if key == "probing":
            blocks.append(("text", f"Tables: `{(root / 'results').relative_to(root)}/` (tidy CSV, one row per "
                                   "measurement); every run's parameters, data subset and package versions are in "
                                   "its `run.json`; LaTeX versions of these tables in `tables/`.\n"))
    if others:
        blocks.append(("heading", "## Other figures\n"))
        blocks.append(("text", "Figures in `figures/` that the current tables did not redraw (an earlier run's, or "
                               "drawn by another command):\n"))
        blocks += [("stale", path) for path in others]
    return blocks


def _markdown(title: str, notes: str, blocks) -> str:
    parts = [f"# {title}\n", notes]
    for kind, content in blocks:
        if kind in ("heading", "text"):
            parts.append(content)
        elif kind == "table":
            parts.append(tables.markdown(content))
        elif kind == "figure":
            parts.append(f"![{content.name}](figures/{content.png.name})\n\n*{content.caption}*\n")
        elif kind == "html":
            parts.append("The attention-map view (a chosen head's pretrained and tuned maps of an item, side by "
                         "side) is in `report.html`.\n")
        else:
            parts.append(f"![{content.stem}](figures/{content.name})\n")
    return "\n".join(parts)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1280px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
.table { margin: .6em 0 1.4em; }
.table .caption { font-weight: 600; margin: 0 0 .3em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; }
th, td { padding: .2em .6em; text-align: left; vertical-align: bottom; }
thead th { border-top: 2px solid #333; border-bottom: 1px solid #333; }
tbody tr:last-child td { border-bottom: 2px solid #333; }
tbody tr:nth-child(even) { background: #f6f6f6; }
figure { margin: 1.2em 0 2em; min-width: 0; } figure img, figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .9em; color: #444; margin: .3em 0; overflow-wrap: anywhere; }
.family { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 360px), 1fr)); gap: .4em 1.2em;
          align-items: start; }
.family figure { margin: .4em 0 1em; }
details { font-size: .85em; } details table { font-size: .95em; }
details > div { max-height: 24em; overflow: auto; border: 1px solid #eee; }
code { background: #f3f3f3; padding: 0 .2em; }
nav a { margin-right: 1em; }
nav.sub { font-size: .85em; background: #f7f7f7; border-left: 3px solid #ccc; padding: .3em .7em; margin: .4em 0 1em; }
nav.sub p { margin: .15em 0; } nav.sub a { margin-right: .6em; }
.top { font-size: .85em; text-align: right; margin: .5em 0 0; }
.mapview .maps { display: flex; flex-wrap: wrap; gap: 1em; } .mapview canvas { max-width: 100%; }
.mapview figure { margin: .4em 0; }
"""
"""The page's CSS (no web fonts, nothing fetched). Figures of one family sit in a grid, several per row on a wide
screen and one on a narrow one; table captions span the page, wide tables scroll sideways."""


def _inline(text: str) -> str:
    """Escaped HTML of one Markdown paragraph's inline marks (`code`, **bold**, *italic*)."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<!\*)\*([^*]+)\*(?!\*)", r"<em>\1</em>", text)


def markdown_to_html(text: str) -> str:
    """The little Markdown the report's notes use (paragraphs, "- " lists, inline marks) as HTML."""
    out = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.lstrip().startswith("- ") for line in lines):
            out.append("<ul>" + "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines) + "</ul>")
        elif len(lines) > 2 and all(line.lstrip().startswith("|") for line in lines):  # a pipe table
            cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in cells[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                           for row in cells[2:])
            out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                       "</div>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)


def figure_family(name: str) -> str:
    """The family of a figure: its name up to the first part that names a task ("attention_cosine_ner_minilm" ->
    "attention_cosine"), or the whole name when none does ("finetune_curves")."""
    parts = name.split("_")
    for index, part in enumerate(parts[1:], start=1):
        if part in TASKS:
            return "_".join(parts[:index])
    return name


def _png_width(path: Path) -> int | None:
    """A PNG's width in pixels, from its header (None when the file is not a PNG)."""
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else None


def _embedded_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def inline_svg(path: Path, prefix: str, max_width: int | None = None) -> str:
    """An SVG file as markup to put inline in the page: without its XML declaration, DOCTYPE, comments, metadata
    (matplotlib's RDF, with its URLs) and scripts; its ids (and the `url(#...)` and `href="#..."` that point at
    them) prefixed with `prefix`, so that several figures' ids do not clash; its root scaled to the width available
    (width 100 %, height from the viewBox) and no wider than `max_width` pixels (the PNG's width) when given."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<\?xml.*?\?>|<!--.*?-->|<script\b.*?</script\s*>|<metadata\b.*?</metadata\s*>", "", text,
                  flags=re.S | re.I)
    text = re.sub(r"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", "", text, flags=re.S | re.I)
    text = text[text.find("<svg"):].strip()
    text = re.sub(r"""(\sid=)(["'])""", rf"\1\2{prefix}", text)
    text = re.sub(r"url\(\s*#", f"url(#{prefix}", text)
    text = re.sub(r"""(href=)(["'])#""", rf"\1\2#{prefix}", text)
    root = re.match(r"<svg\b[^>]*>", text)
    if root is None:
        raise BioprobeError(f"{path} holds no <svg> element.")
    tag = root.group(0)
    size = {name: re.search(rf"""\s{name}=["']([\d.]+)[a-z]*["']""", tag) for name in ("width", "height")}
    if "viewBox" not in tag and size["width"] and size["height"]:
        tag = tag[:-1] + f' viewBox="0 0 {size["width"].group(1)} {size["height"].group(1)}">'
    tag = re.sub(r"""\s(width|height|style)=(["']).*?\2""", "", tag)
    style = "width:100%;height:auto" + (f";max-width:{max_width}px" if max_width else ";max-width:100%")
    tag = tag[:-1].rstrip("/") + f' width="100%" style="{style}" role="img" aria-label="{html.escape(path.stem)}">'
    return tag + text[root.end():]


def _figure_media(png: Path, anchor: str) -> str:
    """A figure as the page shows it: the SVG beside its PNG inline (its cells' <title> show values on hover),
    otherwise the PNG as a data URI."""
    svg = png.with_suffix(".svg")
    if svg.is_file():
        return inline_svg(svg, f"{anchor}-", _png_width(png) if png.is_file() else None)
    return _embedded_png(png)


class _Anchors:
    """Unique element ids for the page's headings, tables and figures."""

    def __init__(self):
        self.used = {"top"}

    def __call__(self, text: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "part"
        anchor, number = base, 1
        while anchor in self.used:
            number += 1
            anchor = f"{base}-{number}"
        self.used.add(anchor)
        return anchor


def _html_table(table: tables.Table, anchor: str) -> str:
    """A table with its caption above it as a paragraph (a <caption> would be squeezed to the table's width), the
    table in a box that scrolls sideways when it is wider than the page, and its notes."""
    return (f'<div id="{anchor}" class="table"><p class="caption">{html.escape(table.caption)}</p>'
            f'<div class="scroll">{tables.html_table(table.columns, table.rows)}</div>'
            + "".join(f"<p><small>{_inline(note)}</small></p>" for note in table.notes) + "</div>")


def _html_figure(drawing, anchor: str) -> str:
    """A drawn figure (inline SVG or PNG), its caption and the data behind it."""
    columns, rows = tables.frame_rows(drawing.data)
    files = [drawing.png.name, drawing.png.with_suffix(".pdf").name]
    files += [drawing.png.with_suffix(".svg").name] if drawing.png.with_suffix(".svg").is_file() else []
    return (f'<figure id="{anchor}">{_figure_media(drawing.png, anchor)}'
            f"<figcaption><strong>{html.escape(drawing.name)}</strong> ({', '.join(files)}): "
            f"{_inline(drawing.caption)}</figcaption>"
            f"<details><summary>Data behind this figure ({len(rows)} rows)</summary><div>"
            f"{tables.html_table(columns, rows)}</div></details></figure>")


def _html_stale(path: Path, anchor: str) -> str:
    """A figure in `figures/` that the current tables did not draw (no data to show)."""
    return (f'<figure id="{anchor}">{_figure_media(path, anchor)}<figcaption>'
            f"<strong>{html.escape(path.stem)}</strong> ({path.name}): not drawn from the current tables, so no data "
            "is shown.</figcaption></figure>")


def _item_name(kind: str, content) -> str:
    """The name of a table or figure (a stale figure's file stem)."""
    return content.stem if kind == "stale" else content.name


def _html_section(heading: str, items: list[tuple], anchors: _Anchors) -> tuple[str, str]:
    """One section of the page: its heading, a sub-navigation with a link to each table and figure (figures by
    family), its texts and tables in order, the figures of each family in a grid, and a link back to the top.

    Returns:
        The section's anchor and its HTML.
    """
    anchor = anchors(heading.lower())
    named = [(kind, content, None if kind in ("text", "html") else
              anchors(f"{'table' if kind == 'table' else 'figure'}-{_item_name(kind, content)}"))
             for kind, content in items]
    families: dict[str, list] = {}
    for kind, content, item_anchor in named:
        if kind in ("figure", "stale"):
            families.setdefault(figure_family(_item_name(kind, content)), []).append((kind, content, item_anchor))
    grid = {family: anchors(f"family-{family}") for family, members in families.items() if len(members) > 1}
    links = []
    table_links = [f'<a href="#{a}">{html.escape(c.name)}</a>' for k, c, a in named if k == "table"]
    if table_links:
        links.append("<p>Tables: " + " ".join(table_links) + "</p>")
    single = []
    for family, members in families.items():
        if family in grid:
            parts = " ".join(f'<a href="#{a}">{html.escape(_item_name(k, c)[len(family):].lstrip("_"))}</a>'
                             for k, c, a in members)
            links.append(f'<p><a href="#{grid[family]}"><strong>{html.escape(family)}</strong></a> '
                         f"({len(members)} figures): {parts}</p>")
        else:
            kind, content, item_anchor = members[0]
            single.append(f'<a href="#{item_anchor}">{html.escape(_item_name(kind, content))}</a>')
    if single:
        links.append("<p>Figures: " + " ".join(single) + "</p>")
    out = [f'<section aria-labelledby="{anchor}"><h2 id="{anchor}">{html.escape(heading)}</h2>']
    if links:
        out.append(f'<nav class="sub" aria-label="{html.escape(heading)}: tables and figures">'
                   + "".join(links) + "</nav>")
    placed = set()
    for kind, content, item_anchor in named:
        if kind == "text":
            out.append(markdown_to_html(content))
        elif kind == "html":
            out.append(content)
        elif kind == "table":
            out.append(_html_table(content, item_anchor))
        else:
            family = figure_family(_item_name(kind, content))
            if family in placed:
                continue
            placed.add(family)
            figures = [(_html_figure if k == "figure" else _html_stale)(c, a) for k, c, a in families[family]]
            if family in grid:
                out.append(f'<h3 id="{grid[family]}">{html.escape(family)} ({len(figures)} figures)</h3>'
                           f'<div class="family">{"".join(figures)}</div>')
            else:
                out += figures
    out.append('<p class="top"><a href="#top">Back to top</a></p></section>')
    return anchor, "\n".join(out)


def _html(title: str, notes: str, blocks, root: Path) -> str:
    """The self-contained page: the title (the "top" anchor), the notes, a contents line linking every section,
    then each section (`_html_section`)."""
    sections: list[tuple[str, list]] = []
    for kind, content in blocks:
        if kind == "heading":
            sections.append((content.lstrip("#").strip(), []))
        elif sections:
            sections[-1][1].append((kind, content))
        else:
            sections.append(("", [(kind, content)]))
    anchors, toc, body = _Anchors(), [], []
    for heading, items in sections:
        anchor, text = _html_section(heading or "Contents", items, anchors)
        toc.append(f'<a href="#{anchor}">{html.escape(heading or "Contents")}</a>')
        body.append(text)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1 id=\"top\">{html.escape(title)}</h1>{markdown_to_html(notes) if notes else ''}"
            f"<nav aria-label=\"Sections\">{''.join(toc)}</nav>" + "\n".join(body) + "</body></html>\n")


# Markdown of one kind of table, as the report shows it (kept for callers and tests of one analysis).

def finetune_summary(table) -> str:
    """The fine-tuning score tables (one per task) as Markdown."""
    return "\n".join(tables.markdown(t) for t in tables.finetune_tables(table))


def instruct_summary(table) -> str:
    """The generative-evaluation tables of instruction-tuned runs as Markdown ("" without such runs)."""
    return "\n".join(tables.markdown(t) for t in tables.generative_tables(table))


def probing_summary(table) -> str:
    """The probing tables (layer 0, the validation-best layer with its test score, selectivity, MDL, CKA) as
    Markdown."""
    return "\n".join(tables.markdown(t) for t in tables.probing_tables(table))


def attention_summary(table) -> str:
    """The attention tables as Markdown."""
    return "\n".join(tables.markdown(t) for t in tables.attention_tables(table))


def attribution_summary(table) -> str:
    """The hypothesis-share table as Markdown."""
    return "\n".join(tables.markdown(t) for t in tables.attribution_table(table))
