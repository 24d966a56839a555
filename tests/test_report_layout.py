"""The report's layout (issue 23): LaTeX tables that fit the page (table* for wide ones, wrapped headers, math minus
signs, the packages named), and an HTML page whose captions span the page, whose figures of one family sit in a
grid, with a sub-navigation per section and links back to the top, inline SVG where a figure has one, and nothing
fetched from the network. Every input is made by hand here; no run, no model."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from bioprobe import report, tables
from bioprobe.figures.style import Drawing
from bioprobe.tables import Table

PROBING_COLUMNS = ["model", "training data", "layer 0", "best layer (validation)", "test accuracy there",
                   "selectivity there", "MDL compression there", "CKA of last layer with pretrained"]
PROBING_ROW = ["enc", "100 %", "0.855 [0.824, 0.885]", "5", "0.959 [0.942, 0.973]", "-0.067", "6.92", "0.245"]
FAILURES = "no answer 3, missing lines 2, extra lines 1, unknown label 5, several labels 1, no stop 4"


# LaTeX

def test_a_negative_number_gets_a_math_minus_and_a_hyphen_stays_a_hyphen():
    assert tables.latex_escape("-0.067") == "$-$0.067"
    assert tables.latex_escape("−1.381 (answer_loglik)") == r"$-$1.381 (answer\_loglik)"  # U+2212 too
    assert tables.latex_escape("+0.36") == "+0.36"
    assert tables.latex_escape("1.5e-05") == r"1.5$\times10^{-5}$"
    assert tables.latex_escape("0.120 -> 0.340") == r"0.120 $\rightarrow$ 0.340"
    # hyphens that are not minus signs stay hyphens
    assert tables.latex_escape("ROUGE-1, Jensen-Shannon, 10-30, W_tuned - W_pre") == \
        r"ROUGE-1, Jensen-Shannon, 10-30, W\_tuned - W\_pre"
    text = tables.latex(Table("t", "c", ["model", "selectivity"], [["m-1", "-0.067"], ["m-2", "0.105"]], "probing"))
    assert r"m-1 & $-$0.067 \\" in text and r"m-2 & 0.105 \\" in text and "-0.067" not in text.replace("$-$", "")


def test_a_table_with_eight_columns_is_a_table_star_and_a_narrow_one_a_table():
    eight = tables.latex(Table("p", "c", [f"c{i}" for i in range(8)], [[str(i) for i in range(8)]], "probing"))
    assert eight.startswith("\\begin{table*}[t]\n") and eight.endswith("\\end{table*}\n")
    two = tables.latex(Table("f", "c", ["model", "10 %"], [["m", "0.5"]], "finetune"))
    assert two.startswith("\\begin{table}[t]\n") and two.endswith("\\end{table}\n") and "table*" not in two
    assert r"\begin{tabular}{lr}" in two and "makecell" not in two and "tabcolsep" not in two


def test_long_headers_wrap_onto_lines_with_makecell_over_their_columns():
    text = tables.latex(Table("probing_ner", "c", PROBING_COLUMNS, [PROBING_ROW], "probing"))
    header = text.split(r"\toprule" + "\n")[1].split("\n")[0]
    assert header == (r"model & \makecell[rb]{training \\ data} & layer 0 & \makecell[rb]{best layer \\ (validation)}"
                      r" & \makecell[rb]{test accuracy \\ there} & \makecell[rb]{selectivity \\ there}"
                      r" & \makecell[rb]{MDL \\ compression \\ there}"
                      r" & \makecell[rb]{CKA of last \\ layer with \\ pretrained} \\")
    assert r"\begin{tabular}{lrrrrrrr}" in text and r"\setlength{\tabcolsep}{4pt}" in text
    # balanced: "head losing most / gain" would leave one word on its own line
    assert tables.wrap_header("head losing most gain", 80.0) == ["head losing", "most gain"]
    assert tables.wrap_header("model", 10.0) == ["model"]


def test_a_table_too_wide_for_the_page_gets_p_columns_and_fits_the_text_width():
    columns = ["model", "training data", "NER F1", "parse rate", "lenient F1", "aligned F1", "failures (items)",
               "items"]
    wide = Table("generative_ner", "c", columns, [["smollm2", "100 %", "0.412", "0.950", "0.501", "0.487",
                                                    FAILURES, "128"]], "finetune")
    layout = tables.latex_layout(wide)
    assert layout.float == "table*" and layout.width <= tables.TEXT_WIDTH
    assert re.fullmatch(r"lrrrrr>\{\\raggedright\\arraybackslash\}p\{\d+\.\dpt\}r", layout.spec)
    assert layout.packages == ["booktabs", "makecell", "array"]
    # the long cell breaks, the others keep their natural width
    natural = tables.text_width(FAILURES)
    width = float(re.search(r"p\{([\d.]+)pt\}", layout.spec).group(1))
    assert width < natural and width >= tables.text_width("several")


def test_the_tex_file_names_the_packages_it_needs_at_the_top():
    narrow = tables.latex_file(Table("f", "c", ["model", "10 %"], [["m", "0.5"]], "finetune"))
    assert narrow.splitlines()[0] == r"% Needs \usepackage{booktabs} in the preamble."
    assert narrow.splitlines()[2] == r"\begin{table}[t]"
    wide = tables.latex_file(Table("g", "c", ["model", "failures (items)", "importance vs change (Spearman)"]
                                   + [f"c{i}" for i in range(5)],
                                   [["m", FAILURES * 2] + ["1"] * 6], "finetune"))
    assert wide.splitlines()[0] == r"% Needs \usepackage{booktabs}, \usepackage{makecell}, \usepackage{array} in " \
                                   "the preamble."
    written = tables.write_latex([Table("f", "c", ["model", "10 %"], [["m", "0.5"]], "finetune")],
                                 Path(__import__("tempfile").mkdtemp()))
    assert written[0].read_text() == narrow


def test_the_width_estimate_is_not_below_the_computer_modern_width():
    """The layout's estimate of a string's width at \\small against cmr10's advance widths at 9 pt (matplotlib
    ships the font), widened by 3.5 % for cmr9, the design size that \\small uses."""
    from matplotlib import ft2font, get_data_path

    font = ft2font.FT2Font(str(Path(get_data_path()) / "fonts" / "ttf" / "cmr10.ttf"))
    font.set_size(9, 72)

    def cm(text):
        return 1.035 * sum(font.load_char(ord(c)).linearHoriAdvance / 65536 for c in text)

    assert round(cm("0.917 [0.880, 0.950]") / 1.035, 2) == 74.94
    for text in ["0.917 [0.880, 0.950]", "layers that changed most (cosine)", "100 % instruct", "smollm2 (instruct)",
                 "layer 30 head 5 (0.00)", "3: 0.585 [0.470, 0.697]", "MDL compression there", FAILURES,
                 "ROUGE-L", "Spearman", "answer_loglik", "minilm", "random init"]:
        assert tables.text_width(text) >= cm(text), text


TEX_ENGINES = ("pdflatex", "xelatex", "lualatex", "tectonic")


def test_a_wide_table_compiles_with_a_tex_engine_without_overfull_boxes(tmp_path):
    engine = next((name for name in TEX_ENGINES if shutil.which(name)), None)
    if engine is None:
        pytest.skip("no TeX engine on PATH (looked for pdflatex, xelatex, lualatex, tectonic): the LaTeX tables are "
                    "checked by the other tests but not compiled")
    table = Table("probing_ner", "Probing with a negative selectivity of -0.067 and 100 % of the data.",
                  PROBING_COLUMNS, [PROBING_ROW, ["dec", "100 % instruct", *PROBING_ROW[2:]]], "probing",
                  ["A note under the table."])
    wide = Table("generative_ner", "Failures.", ["model", "training data", "NER F1", "parse rate", "lenient F1",
                                                 "aligned F1", "failures (items)", "items"],
                 [["smollm2", "100 %", "0.412", "0.950", "0.501", "0.487", FAILURES, "128"]], "finetune")
    packages = sorted({p for t in (table, wide) for p in tables.latex_layout(t).packages})
    tables.write_latex([table, wide], tmp_path)
    (tmp_path / "paper.tex").write_text(
        "\\documentclass[10pt,twocolumn]{article}\n\\setlength{\\textwidth}{6.9in}\n"
        "\\setlength{\\columnsep}{0.3in}\n\\setlength{\\oddsidemargin}{-0.2in}\n"
        + "".join(f"\\usepackage{{{p}}}\n" for p in packages)
        + "\\begin{document}\nText.\n\\input{probing_ner}\n\\input{generative_ner}\n\\clearpage\n\\end{document}\n")
    command = [engine, "--keep-logs", "paper.tex"] if engine == "tectonic" else \
        [engine, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace") if (tmp_path / "paper.log").is_file() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "paper.pdf").is_file()
    assert "Overfull \\hbox" not in log, log[log.index("Overfull"):][:800]


# HTML

def tiny_png(path: Path, width: int = 40, height: int = 20) -> Path:
    """A valid white RGB PNG written with zlib alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


HOVER = "layer 2 head 1: cosine 0.873"
SVG = ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
       '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
       '<!-- drawn by hand -->\n'
       '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="72pt" '
       'height="36pt" viewBox="0 0 72 36" version="1.1">\n'
       '<metadata><rdf:RDF><cc:Work><dc:type rdf:resource="http://purl.org/dc/dcmitype/StillImage"/></cc:Work>'
       '</rdf:RDF></metadata>\n'
       '<defs><clipPath id="c1"><rect x="0" y="0" width="72" height="36"/></clipPath>'
       '<rect id="cell" width="10" height="10"/></defs>\n'
       '<g clip-path="url(#c1)"><rect x="0" y="0" width="36" height="36" fill="#440154"><title>{title}</title>'
       '</rect><use xlink:href="#cell" x="40"/></g>\n</svg>\n')
CAPTION = ("NER probing (linear probe, mean pooling): test accuracy with 95 % bootstrap interval on layer 0 and on "
           "the best layer, the one with the highest validation accuracy.")
FAMILY = ["attention_cosine_ner_enc", "attention_cosine_nli_enc", "attention_cosine_nli_dec_instruct"]


@pytest.fixture
def page(tmp_path) -> str:
    """A report page of hand-made parts: a probing table, three figures of one family (two with an SVG beside the
    PNG, both SVGs using the same ids), a figure of its own, and a stale figure."""
    figures = tmp_path / "figures"
    figures.mkdir()
    data = pd.DataFrame({"layer": [0, 1], "cosine": [0.99, 0.87]})
    drawn = [Drawing(name, [tiny_png(figures / f"{name}.png"), figures / f"{name}.pdf"], data, f"Caption of {name}.",
                     "attention") for name in [*FAMILY, "attention_layer_means"]]
    (figures / "attention_cosine_nli_enc.svg").write_text(SVG.replace("{title}", HOVER))
    (figures / "attention_cosine_ner_enc.svg").write_text(SVG.replace("{title}", "layer 0 head 0: cosine 1.000"))
    stale = [tiny_png(figures / "old_figure.png")]
    built = [Table("probing_ner", CAPTION, ["model", "accuracy"], [["enc", "0.9"]], "probing", ["A note."])]
    blocks = report._blocks(drawn, built, stale, tmp_path)
    return report._html("layout test", "Notes.", blocks, tmp_path)


class Elements(HTMLParser):
    """Every element's tag, attributes and the ids of the elements it is inside."""

    VOID = {"img", "meta", "br", "hr", "input", "link", "source"}

    def __init__(self, text: str):
        super().__init__()
        self.found, self.stack = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.found.append((tag, attrs, [(t, a) for t, a in self.stack]))
        if tag not in self.VOID and not tag.endswith("/"):
            self.stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.found.append((tag, dict(attrs), list(self.stack)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def _figure_html(page: str, anchor: str) -> str:
    start = page.index(f'<figure id="{anchor}">')
    return page[start:page.index("</figure>", start)]


def test_a_table_caption_is_a_paragraph_above_the_table_not_squeezed_inside_it(page):
    assert "<caption" not in page
    assert ('<div id="table-probing_ner" class="table"><p class="caption">NER probing (linear probe, mean pooling): '
            'test accuracy with 95 % bootstrap interval') in page
    caption_end = page.index("highest validation accuracy.</p>")
    assert page.index('<div class="scroll"><table>', caption_end) == caption_end + len(
        "highest validation accuracy.</p>")
    assert ".scroll { overflow-x: auto; }" in report.STYLE and "caption-side" not in report.STYLE


def test_figures_of_one_family_share_a_responsive_grid_and_every_figure_is_kept(page):
    assert report.figure_family("attention_cosine_ner_minilm") == "attention_cosine"
    assert report.figure_family("revert_heads_ner_smollm2_instruct_size100") == "revert_heads"
    assert report.figure_family("probing_cka_matrix_re_minilm") == "probing_cka_matrix"
    assert report.figure_family("attribution_cls_minilm_size100") == "attribution"
    assert report.figure_family("finetune_curves") == "finetune_curves"
    assert report.figure_family("re_thing") == "re_thing"  # the first part is never the task
    elements = Elements(page).found
    figures = [(attrs["id"], [a.get("class") for _, a in inside]) for tag, attrs, inside in elements
               if tag == "figure"]
    assert [name for name, _ in figures] == [f"figure-{n}" for n in [*FAMILY, "attention_layer_means",
                                                                     "old_figure"]]
    in_grid = [name for name, classes in figures if "family" in classes]
    assert in_grid == [f"figure-{n}" for n in FAMILY]
    assert '<h3 id="family-attention_cosine">attention_cosine (3 figures)</h3><div class="family">' in page
    assert "display: grid" in report.STYLE and "repeat(auto-fit, minmax(min(100%, 360px), 1fr))" in report.STYLE


def test_each_section_has_a_sub_navigation_to_its_tables_and_figures_and_a_link_back_to_the_top(page):
    sections = re.findall(r'<section aria-labelledby="([^"]+)">(.*?)</section>', page, flags=re.S)
    assert [name for name, _ in sections] == ["probing-what-each-layer-knows", "attention-pretrained-vs-fine-tuned",
                                              "other-figures"]
    expected = {
        "probing-what-each-layer-knows": ["#table-probing_ner"],
        "attention-pretrained-vs-fine-tuned": ["#family-attention_cosine", *[f"#figure-{n}" for n in FAMILY],
                                               "#figure-attention_layer_means"],
        "other-figures": ["#figure-old_figure"],
    }
    for name, body in sections:
        nav = re.search(r'<nav class="sub"[^>]*>(.*?)</nav>', body, flags=re.S).group(1)
        assert re.findall(r'href="([^"]+)"', nav) == expected[name]
        assert body.rstrip().endswith('<p class="top"><a href="#top">Back to top</a></p>')
    assert '<h1 id="top">layout test</h1>' in page
    assert ">ner_enc</a>" in page and ">nli_dec_instruct</a>" in page  # members named by what differs


def test_every_anchor_resolves_and_every_id_is_unique(page):
    elements = Elements(page).found
    ids = [attrs["id"] for _, attrs, _ in elements if "id" in attrs]
    assert len(ids) == len(set(ids))
    targets = [attrs[key][1:] for _, attrs, _ in elements for key in ("href", "xlink:href")
               if attrs.get(key, "").startswith("#")]
    targets += re.findall(r"url\(#([^)]+)\)", page)
    assert len(targets) > 10 and set(targets) <= set(ids)
    assert "#figure-attention_cosine_nli_enc-c1" in {f"#{t}" for t in targets}


def test_every_image_is_a_png_data_uri_or_inline_svg_and_nothing_comes_from_the_network(page):
    elements = Elements(page).found
    for tag, attrs, _ in elements:
        for key in ("src", "href", "xlink:href", "action", "poster"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(key, "")), (tag, key, attrs[key])
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page) and "<link" not in page
    assert "<script" not in page and "<iframe" not in page
    images = [attrs["src"] for tag, attrs, _ in elements if tag == "img"]
    assert len(images) == 3  # five figures, two of them inline SVG
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for tag, attrs, _ in elements:
        if tag == "figure":
            body = _figure_html(page, attrs["id"])
            assert (body.count("<img ") + body.count("<svg ")) == 1, attrs["id"]


def test_a_figure_with_an_svg_beside_its_png_is_shown_as_inline_svg_with_its_hover_titles(page):
    figure = _figure_html(page, "figure-attention_cosine_nli_enc")
    assert f"<title>{HOVER}</title>" in figure and "data:image/png" not in figure
    root = re.search(r"<svg [^>]*>", figure).group(0)
    assert 'width="100%"' in root and 'style="width:100%;height:auto;max-width:40px"' in root
    assert 'viewBox="0 0 72 36"' in root and "72pt" not in root and "36pt" not in root
    assert '<clipPath id="figure-attention_cosine_nli_enc-c1">' in figure
    assert 'clip-path="url(#figure-attention_cosine_nli_enc-c1)"' in figure
    assert 'xlink:href="#figure-attention_cosine_nli_enc-cell"' in figure
    assert "attention_cosine_nli_enc.svg" in figure  # named among the figure's files
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "drawn by hand" not in page
    assert "<metadata" not in page and "dcmitype" not in page
    assert page.count("<!DOCTYPE") == 1
    plain = _figure_html(page, "figure-attention_cosine_nli_dec_instruct")
    assert "<svg" not in plain and 'src="data:image/png;base64,' in plain and "<details>" in plain


def test_an_svg_without_a_viewbox_gets_one_from_its_size(tmp_path):
    path = tmp_path / "x.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><title>t</title></svg>')
    assert report.inline_svg(path, "p-") == ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 60" '
                                             'width="100%" style="width:100%;height:auto;max-width:100%" '
                                             'role="img" aria-label="x"><title>t</title></svg>')


def test_in_a_browser_the_page_fits_its_width_grids_several_figures_per_row_and_fetches_nothing(page, tmp_path):
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright with a chromium is not installed (pip install playwright; playwright install "
                    "chromium): the page's layout is not checked in a browser")
    path = tmp_path / "report.html"
    path.write_text(page)
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch()
        except Error as error:
            pytest.skip(f"playwright is installed but its chromium is not ({error}): the page's layout is not checked "
                        "in a browser")
        requests = []
        try:
            view = browser.new_page(viewport={"width": 1400, "height": 900})
            view.on("request", lambda request: requests.append(request.url))
            view.goto(path.as_uri())
            assert view.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            tops = view.evaluate("[...document.querySelectorAll('.family figure')].map(f => f.offsetTop)")
            assert len(tops) == 3 and tops[0] == tops[1]  # several per row on a wide screen
            caption, table = view.evaluate("""[document.querySelector('#table-probing_ner .caption').offsetWidth,
                                                document.querySelector('#table-probing_ner table').offsetWidth]""")
            assert caption > 3 * table  # the caption spans the page, not the two-column table
            missing = view.evaluate("""[...document.querySelectorAll('a[href^="#"]')]
                                       .map(a => a.getAttribute('href').slice(1))
                                       .filter(id => !document.getElementById(id))""")
            assert missing == []
            titles = view.evaluate("[...document.querySelectorAll('svg title')].map(t => t.textContent)")
            assert HOVER in titles
            view.set_viewport_size({"width": 420, "height": 900})
            tops = view.evaluate("[...document.querySelectorAll('.family figure')].map(f => f.offsetTop)")
            assert tops[0] < tops[1] < tops[2]  # one per row on a narrow screen
            assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
        finally:
            browser.close()
