"""Figures, tables and the report from a hand-made tidy table of every analysis (no model, no runs): each figure
writes PNG and PDF, the report names every figure and shows every table with rows, LaTeX tables are booktabs and
the HTML report is self-contained; the probing table shows the validation-best layer and its test score."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

SIZES = (0, 10, 30, 50, 100)
TUNED = (10, 30, 50, 100)


def study_table(encoder_layers: int = 6, encoder_heads: int = 12, decoder_layers: int = 12, decoder_heads: int = 4,
                decoder_probed: tuple[int, ...] | None = None, seeds: tuple[int, ...] = (42, 43)) -> pd.DataFrame:
    """A tidy table of every analysis for an encoder ("enc") and a decoder ("dec", also instruction-tuned).

    Values are smooth functions of layer and size, so figures look like the study's; the probing validation scores
    peak at depth 0.3 and the test scores at depth 0.6, so the validation-best layer differs from the test-best one
    (encoder: layer 2 against layer 4).
    """
    rng = np.random.default_rng(0)
    rows = []
    models = {"enc": ("encoder", encoder_layers, encoder_heads), "dec": ("decoder", decoder_layers, decoder_heads)}
    for task in ("ner", "nli"):
        main = "f1" if task == "ner" else "accuracy"
        others = ("precision", "recall") if task == "ner" else ("macro_f1",)
        for model, (kind, n_layers, n_heads) in models.items():
            base = {"analysis": "finetune", "task": task, "model": model, "split": "test", "n_test": 200,
                    "objective": "classifier", "layer": None, "head": None, "shots": None}
            for size in SIZES:
                for seed in seeds if model == "enc" else seeds[:1]:
                    score = 0.3 + 0.6 * size / 100 * (1 if kind == "encoder" else 0.7) + rng.normal(0, 0.02)
                    common = {**base, "training_size": size, "seed": seed, "n_train": 6 * size}
                    for metric in (main, *others):
                        rows.append({**common, "metric": metric, "value": score, "label": "all"})
                    if task == "ner":
                        for i, label in enumerate(("Chemical", "Disease", "Gene/Protein")):
                            rows.append({**common, "metric": "f1", "value": score - 0.1 * i, "label": label})
            if model == "dec":  # instruction tuning, with its generative evaluation
                for size in SIZES:
                    common = {**base, "objective": "instruct", "shots": 0, "training_size": size, "seed": seeds[0],
                              "n_train": 6 * size, "n_test": 30, "template": "medtuned"}
                    score = 0.05 + 0.5 * size / 100
                    metrics = {main: score, "parse_rate": 0.4 + 0.6 * size / 100}
                    metrics.update({"f1_lenient": score + 0.1} if task == "ner" else
                                   {"loglik_accuracy": 0.33 + 0.2 * size / 100, "macro_f1": score})
                    for metric, value in metrics.items():
                        rows.append({**common, "metric": metric, "value": value, "label": "all"})
                    for failure, n in (("no_answer", 30 - size // 5), ("wrong_length", 3)):
                        rows.append({**common, "metric": "failures", "value": float(n), "label": failure})
            # Probing: every run of both objectives, a random-init baseline, CKA and its matrix.
            probed = list(range(n_layers + 1)) if model == "enc" or decoder_probed is None else list(decoder_probed)
            runs = [("", size, "classifier") for size in SIZES] + [("random-init", 0, "classifier")]
            runs += [("", size, "instruct") for size in TUNED] if model == "dec" else []
            for baseline, size, objective in runs:
                common = {"analysis": "probing", "task": task, "model": model, "training_size": size, "seed": 42,
                          "head": None, "objective": objective, "probe": "logistic",
                          "pooling": "word-first" if task == "ner" else "joint-mean", "baseline": baseline,
                          "bio": False, "in_prompt": False, "reference": "", "kind": kind, "n_layers": n_layers,
                          "n_train": 300, "n_validation": 100, "n_test": 100}
                for layer in probed:
                    depth = layer / n_layers
                    shape = np.exp(-((depth - 0.6) ** 2) / 0.1)
                    top = 0.0 if baseline else 0.25 * shape + 0.1 * size / 100 * depth
                    test = (0.6 if task == "ner" else 0.35) + top
                    valid = (0.6 if task == "ner" else 0.35) + (0.0 if baseline else
                                                               0.25 * np.exp(-((depth - 0.3) ** 2) / 0.1))
                    rows += [
                        {**common, "layer": layer, "metric": "accuracy", "value": test, "ci_low": test - 0.03,
                         "ci_high": test + 0.03},
                        {**common, "layer": layer, "metric": "macro_f1", "value": test - 0.1},
                        {**common, "layer": layer, "metric": "validation_accuracy", "value": valid},
                        {**common, "layer": layer, "metric": "control_accuracy", "value": test - 0.05 - top / 2},
                        {**common, "layer": layer, "metric": "selectivity", "value": 0.05 + top / 2},
                        {**common, "layer": layer, "metric": "mdl_compression", "value": 1.0 + 4 * top,
                         "mdl_items": "validation"}]
                    if size > 0 or baseline:
                        cka = 0.1 if baseline else 1 - depth * size / 150
                        rows.append({**common, "layer": layer, "metric": "cka", "value": cka})
                        for reference in range(n_layers + 1):
                            near = np.exp(-abs(reference - layer) / max(1, n_layers / 4))
                            rows.append({**common, "layer": layer, "metric": "cka_matrix",
                                         "value": cka * near, "reference_layer": reference})
            # Attention: per layer and head, for every tuned size of both objectives.
            for objective in ("classifier", "instruct") if model == "dec" else ("classifier",):
                for size in TUNED:
                    common = {"analysis": "attention", "task": task, "model": model, "training_size": size,
                              "seed": 42, "objective": objective, "in_prompt": False, "reference": model,
                              "kind": kind, "n_layers": n_layers, "n_heads": n_heads, "split": "test",
                              "n_sentences": 40}
                    change = np.array([[size / 100 * (layer + 1) / n_layers * (0.5 + 0.5 * np.sin(head))
                                        for head in range(n_heads)] for layer in range(n_layers)]) * 0.4
                    importance = rng.random((n_layers, n_heads))
                    for layer in range(n_layers):
                        for head in range(n_heads):
                            cosine = 1 - change[layer, head]
                            for metric, value in (("cosine", cosine), ("js", change[layer, head] / 2),
                                                  ("entropy_change", change[layer, head] - 0.1),
                                                  ("special_a", 0.3), ("special_b", 0.3 + change[layer, head])):
                                rows.append({**common, "layer": layer, "head": head, "metric": metric,
                                             "value": value, "ci_low": value - 0.01, "ci_high": value + 0.01})
                            rows.append({**common, "layer": layer, "head": head, "metric": "importance",
                                         "value": importance[layer, head] / importance[layer].max()})
                            rows.append({**common, "layer": layer, "head": head, "metric": "importance_raw",
                                         "value": importance[layer, head]})
                    rows.append({**common, "layer": None, "head": None, "metric": "importance_change_spearman",
                                 "value": 0.1 * size / 100})
            # Attribution at 100 % (and a second size for the encoder): two NLI examples' tokens, the share.
            for size in (50, 100) if model == "enc" else (100,):
                common = {"analysis": "attribution", "task": task, "model": model, "training_size": size,
                          "seed": 42, "objective": "classifier", "layer": None, "head": None, "split": "test",
                          "steps": 16}
                tokens = ["[CLS]", "aspirin", "reduced", "fever", "[SEP]", "the", "fever", "fell", "[SEP]"]
                for example in range(2):
                    for position, token in enumerate(tokens):
                        rows.append({**common, "metric": "attribution", "value": np.sin(position + example),
                                     "example": example, "position": position, "token": token,
                                     "target": "entailment" if task == "nli" else "B-Disease",
                                     "explained_position": None if task == "nli" else 3,
                                     "segment": None if task == "ner" else int(position > 4)})
                    rows.append({**common, "metric": "convergence_delta", "value": 0.01 * example,
                                 "example": example})
                if task == "nli":
                    share = 0.3 + 0.2 * size / 100 + (0.1 if model == "dec" else 0)
                    rows.append({**common, "metric": "hypothesis_share", "value": share, "ci_low": share - 0.05,
                                 "ci_high": share + 0.05, "n_items": 32})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return study_table()


@pytest.fixture(scope="module")
def report_dir(table, tmp_path_factory):
    """A runs dir whose only results are the merged table, and its report (figures drawn in worker processes)."""
    from bioprobe.report import write_report

    runs = tmp_path_factory.mktemp("runs")
    (runs / "results").mkdir()
    # NLI everywhere and NER fine-tuning: every kind of figure and table, in half the drawing time of both tasks.
    table[(table["task"] == "nli") | (table["analysis"] == "finetune")].to_parquet(runs / "results" /
                                                                                   "study.parquet")
    (runs / "figures").mkdir()
    from PIL import Image

    Image.new("RGB", (40, 20), "white").save(runs / "figures" / "old_figure.png")  # not drawn from the tables
    write_report(runs, title="figures test", notes="Notes passed in: **seven** runs.")
    return runs


def figure_functions():
    """Figure name -> (function, the rows it is given): one figure each, so that every function is tried quickly."""
    from bioprobe.figures import attention, attribution, depth, finetune, probing

    def only(**equal):
        return lambda t: t[np.logical_and.reduce([t[c] == v for c, v in equal.items()])]

    every = lambda t: t  # noqa: E731
    return {
        "finetune_curves": (finetune.score_curves, every), "finetune_entity_types": (finetune.entity_types, every),
        "finetune_generative": (finetune.generative, every),
        "probing_accuracy_layers": (probing.layer_curves, every),
        "probing_selectivity_depth": (lambda t, o: probing.depth_curves(t, o, "selectivity"), every),
        "probing_cka_heatmap": (probing.cka_heatmap, every),
        "probing_cka_matrix_ner_enc": (probing.cka_matrices, only(task="ner", model="enc")),
        "attention_cosine_ner_enc": (lambda t, o: attention.head_heatmaps(t, o, ["cosine"]),
                                     only(task="ner", model="enc")),
        "attention_importance_nli_dec_instruct": (lambda t, o: attention.head_heatmaps(t, o, ["importance"]),
                                                  only(task="nli", model="dec", objective="instruct")),
        "attention_layer_means": (attention.layer_change, every),
        "attention_importance_change": (attention.importance_change, every),
        "attention_depth": (attention.depth_change, every), "depth_comparison": (depth.depth_comparison, every),
        "attribution_share": (attribution.segment_share, every),
        "attribution_nli_enc_size100": (attribution.examples_from_rows, only(task="nli", model="enc",
                                                                              training_size=100)),
    }


@pytest.mark.parametrize("name", list(figure_functions()))
def test_every_figure_function_writes_png_and_pdf_with_its_data(name, table, tmp_path):
    function, rows = figure_functions()[name]
    drawn = function(rows(table), tmp_path)
    assert [d.name for d in drawn] == [name]
    for drawing in drawn:
        assert sorted(p.suffix for p in drawing.files) == [".pdf", ".png"]
        assert all(p.is_file() and p.stat().st_size > 2000 for p in drawing.files)
        assert len(drawing.data) > 0 and drawing.caption
    from PIL import Image

    width, _ = Image.open(tmp_path / f"{name}.png").size  # laid out at a paper width: 3.3 or 6.9 in at 200 dpi
    assert width in (660, 1380)


def test_figures_of_one_analysis_keep_their_names(table, tmp_path):
    from bioprobe import figures

    nli = table[table["task"] == "nli"]
    probing = figures.probing_figures(nli[nli["analysis"] == "probing"], tmp_path)
    for metric in ("accuracy", "selectivity", "mdl_compression", "cka"):
        for axis in ("layers", "depth"):
            assert tmp_path / f"probing_{metric}_{axis}.png" in probing
    attention = figures.attention_figures(nli[(nli["analysis"] == "attention") & (nli["model"] == "enc")], tmp_path)
    assert tmp_path / "attention_js_nli_enc.pdf" in attention and tmp_path / "attention_depth.png" in attention
    assert figures.finetune_curves(table.iloc[:0], tmp_path) == []
    assert {p.name for p in figures.entity_type_f1(table, tmp_path)} == {"finetune_entity_types.png",
                                                                        "finetune_entity_types.pdf"}


def test_drawing_in_processes_gives_the_same_figures_as_drawing_here(table, tmp_path):
    from bioprobe.figures import draw_all

    part = table[table["analysis"].isin(["finetune", "attribution"])]
    here = draw_all(part, tmp_path / "here", workers=1)
    there = draw_all(part, tmp_path / "there", workers=2)
    assert [d.name for d in here] == [d.name for d in there] and len(here) == 10  # 3 + share + 6 runs
    assert all(d.data.equals(e.data) for d, e in zip(here, there))
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == sorted(p.name for p in
                                                                           (tmp_path / "there").iterdir())


def test_the_report_shows_every_figure_in_figures_and_keeps_its_headings(report_dir):
    markdown = (report_dir / "report.md").read_text()
    page = (report_dir / "report.html").read_text()
    pngs = sorted((report_dir / "figures").glob("*.png"))
    assert len(pngs) > 25
    for png in pngs:
        assert f"![{png.stem}](figures/{png.name})" in markdown
        assert f'id="figure-{png.stem}"' in page
        assert png.with_suffix(".pdf").is_file() or png.stem == "old_figure"
    for heading in ("## Fine-tuning", "## Probing", "## Attention", "## Attribution",
                    "## Encoder vs decoder on normalised depth", "## Other figures"):
        assert heading in markdown
    assert "Notes passed in: **seven** runs." in markdown and "hypothesis share" in markdown


def _markdown_tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_every_table_of_the_report_has_rows_and_every_latex_table_is_booktabs(report_dir):
    markdown = (report_dir / "report.md").read_text()
    found = _markdown_tables(markdown)
    assert len(found) == 9  # the runs' regimes, fine-tuning x 2, generative x 2, probing, similarity, attention,
    #                         attribution
    for lines in found:
        assert re.fullmatch(r"\|(---:?\|)+", lines[1]) and len(lines) >= 3
    tex = sorted((report_dir / "tables").glob("*.tex"))
    assert {p.stem for p in tex} == {"finetune_ner", "finetune_nli", "generative_ner", "generative_nli",
                                     "probing_nli", "similarity_nli", "attention_nli", "attribution"}
    for path in tex:
        text = path.read_text()
        body = text[text.index(r"\midrule"):text.index(r"\bottomrule")]
        assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text and body.count(r"\\") >= 1
        assert text.startswith(r"% Needs \usepackage{booktabs}")  # the packages it needs, named in a comment
        table = "".join(line + "\n" for line in text.splitlines() if not line.startswith("% "))
        assert "usepackage" not in table and "%" not in table.replace(r"\%", "")  # every percent sign escaped
    page = (report_dir / "report.html").read_text()
    for table_html in re.findall(r'<div id="table-[^"]+">(.*?)</div>', page, flags=re.S):
        assert table_html.count("<tr>") >= 2  # header and at least one row


def test_the_html_report_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page and "<script src" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    inline = page.count("<svg ")  # heatmaps: inline SVG with a hover title per cell, instead of their PNG
    svgs = list((report_dir / "figures").glob("*.svg"))
    assert inline == len(svgs) > 0 and len(images) + inline == len(list((report_dir / "figures").glob("*.png")))
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("<details>") == len(images) + inline - 1  # every drawn figure has its data; the stale one none
    assert "<p>Notes passed in: <strong>seven</strong> runs.</p>" in page


def test_the_probing_table_shows_the_validation_best_layer_and_its_test_score(table):
    from bioprobe import tables

    ner = next(t for t in tables.probing_tables(table) if t.name == "probing_ner")
    row = next(r for r in ner.rows if r[:2] == ["enc", "100 %"])
    probing = table[(table["analysis"] == "probing") & (table["task"] == "ner") & (table["model"] == "enc") &
                    (table["training_size"] == 100) & (table["baseline"] == "")]
    test = probing[probing["metric"] == "accuracy"].set_index("layer")
    assert int(test["value"].idxmax()) == 4  # the test-best layer; the validation-best one is layer 2
    best = 2
    assert row[3] == str(best)
    value, low, high = test.loc[best, ["value", "ci_low", "ci_high"]]
    assert row[4] == f"{value:.3f} [{low:.3f}, {high:.3f}]"
    assert row[2].startswith(f"{test.loc[0, 'value']:.3f} [")


def test_a_run_with_several_seeds_shows_mean_and_sd_of_its_test_accuracy(table):
    """The 100 % NER run of "enc" measured again with a second seed whose accuracy is 0.1 higher everywhere: its
    test-accuracy cells are the mean ± s.d. over the two seeds (not the mean of their interval bounds), and the
    caption says so; other runs keep their intervals."""
    from bioprobe import tables

    run = (table["analysis"] == "probing") & (table["task"] == "ner") & (table["model"] == "enc") & \
        (table["training_size"] == 100) & (table["baseline"] == "")
    again = table[run].assign(seed=7)
    again.loc[again["metric"] == "accuracy", "value"] += 0.1
    ner = next(t for t in tables.probing_tables(pd.concat([table, again], ignore_index=True))
               if t.name == "probing_ner")
    row = next(r for r in ner.rows if r[:2] == ["enc", "100 %"])
    test = table[run & (table["metric"] == "accuracy")].set_index("layer")["value"]
    assert row[4] == f"{test.loc[2] + 0.05:.3f} ± {0.1 / 2 ** 0.5:.3f}"
    assert "mean ± s.d. over seeds" in ner.caption
    assert next(r for r in ner.rows if r[:2] == ["enc", "pretrained"])[2].endswith("]")


def test_latex_escapes_and_numbers_align_right():
    from bioprobe.tables import Table, latex

    text = latex(Table("x_y", "100 % of a_b & c", ["model", "10 %"], [["m_1", "0.5 ± 0.1"]], "finetune"))
    assert r"100 \% of a\_b \& c" in text and r"m\_1 & 0.5 $\pm$ 0.1 \\" in text
    assert r"\begin{tabular}{lr}" in text and r"\label{tab:x-y}" in text


def test_load_results_prefers_a_fresh_study_table_and_otherwise_reads_every_analysis(tmp_path):
    import os

    from bioprobe import runstore
    from bioprobe.report import load_results

    rows = [{"analysis": "finetune", "task": "ner", "model": "m", "training_size": 10, "seed": 1, "metric": "f1",
             "value": 0.5, "label": "all"}]
    runstore.write_table(runstore.results_path(tmp_path, "finetune", "ner", "m", 10, 1), rows)
    runstore.write_table(runstore.results_path(tmp_path, "attribution", "nli", "m", 10, 1),
                         [{**rows[0], "analysis": "attribution", "metric": "hypothesis_share", "value": 0.4}])
    loaded = load_results(tmp_path)
    assert sorted(loaded["analysis"]) == ["attribution", "finetune"] and set(loaded["objective"]) == {"classifier"}
    study = tmp_path / "results" / "study.parquet"
    merged = pd.DataFrame([{**rows[0], "value": 0.9, "cell_id": "c1", "stale": False},
                           {**rows[0], "value": 0.1, "cell_id": "c0", "stale": True}])
    merged.to_parquet(study)
    fresh = load_results(tmp_path)
    assert list(fresh["value"]) == [0.9] and "cell_id" in fresh  # the merged table, without its stale rows
    old = study.stat().st_mtime - 100
    os.utime(study, (old, old))  # a table written after the merge: the per-run tables win
    assert sorted(load_results(tmp_path)["value"]) == [0.4, 0.5]


def test_an_empty_runs_dir_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from bioprobe.cli import main

    for command in ("figures", "report"):
        result = CliRunner().invoke(main, [command, "--runs-dir", str(tmp_path)])
        assert result.exit_code != 0 and "No result tables" in result.output and "Traceback" not in result.output


def test_the_figures_command_says_how_many_and_how_long(table, tmp_path):
    from click.testing import CliRunner

    from bioprobe.cli import main

    (tmp_path / "results").mkdir()
    table[table["analysis"] == "finetune"].to_parquet(tmp_path / "results" / "study.parquet")
    result = CliRunner().invoke(main, ["figures", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert re.match(r"3 figures \(PNG \+ PDF\) in .*figures, \d+\.\d s", result.output)


def test_the_released_instruction_model_is_the_pretrained_row_unless_the_classifier_shows_it():
    """An instruction run's size 0 is the pretrained model: shown once, as "pretrained", and shown at all where the
    plan probes no classifier of that task and model (the quick demo's smollm2 on NLI lost its pretrained row)."""
    from bioprobe import tables

    def probe(task, objective, size, accuracy):
        return [{"analysis": "probing", "task": task, "model": "dec", "training_size": size, "seed": 1,
                 "objective": objective, "layer": layer, "metric": metric, "value": value, "baseline": "",
                 "probe": "logistic", "pooling": "mean", "label": "all"}
                for layer in (0, 1) for metric, value in (("accuracy", accuracy + layer / 10),
                                                         ("validation_accuracy", accuracy + layer / 10))]

    rows = pd.DataFrame(probe("ner", "classifier", 0, 0.5) + probe("ner", "instruct", 0, 0.5)
                        + probe("ner", "instruct", 100, 0.6) + probe("nli", "instruct", 0, 0.3)
                        + probe("nli", "instruct", 100, 0.4))
    shown = {t.name: [(row[0], row[1], row[4]) for row in t.rows] for t in tables.probing_tables(rows)}
    assert shown == {"probing_ner": [("dec", "pretrained", "0.600"), ("dec", "100 % instruct", "0.700")],
                     "probing_nli": [("dec", "pretrained", "0.400"), ("dec", "100 % instruct", "0.500")]}


def test_the_relation_attention_table_shows_the_mass_between_the_entities():
    from bioprobe import tables

    common = {"analysis": "attention", "task": "re", "model": "enc", "training_size": 100, "seed": 1,
              "objective": "classifier", "label": "all"}
    rows = [{**common, "layer": layer, "head": head, "metric": "cosine", "value": 0.9 - layer / 10}
            for layer in (0, 1) for head in (0, 1)]
    mass = {"e1_to_e2_a": (0.1, 0.3), "e1_to_e2_b": (0.2, 0.6), "e2_to_e1_a": (0.05, 0.05), "e2_to_e1_b": (0.0, 0.1)}
    rows += [{**common, "layer": layer, "head": 0, "metric": metric, "value": values[layer]}
             for metric, values in mass.items() for layer in (0, 1)]
    found = tables.attention_tables(pd.DataFrame(rows))
    assert [t.name for t in found] == ["attention_re"]
    assert found[0].columns[-2:] == ["entity 1 -> 2 mass", "entity 2 -> 1 mass"]
    assert found[0].rows[0][-2:] == ["0.200 -> 0.400", "0.050 -> 0.050"]  # means over layers and heads


def test_the_uniform_reference_of_the_attribution_share_is_the_segments_share_of_the_tokens():
    from bioprobe.figures.attribution import uniform_share

    rows = pd.DataFrame({"metric": ["attribution"] * 6 + ["entity_share"],
                         "segment": [-1, 1, 0, 0, 1, -1, None], "value": [0.1] * 7})
    assert uniform_share(rows) == pytest.approx(2 / 4)  # special tokens (-1) and summary rows left out
    assert uniform_share(rows.drop(columns="segment")) is None


def test_every_figure_has_a_one_column_version_at_3_3_inches_with_nothing_below_6_pt(table, tmp_path, monkeypatch):
    """`bioprobe figures --one-column`: every figure of the study table drawn again 3.3 in wide (two panels a row at
    most, the key below) into figures/one-column/, no text smaller than 6 pt."""
    from click.testing import CliRunner
    from matplotlib.text import Text
    from PIL import Image

    from bioprobe.cli import main
    from bioprobe.figures import draw_all, style

    (tmp_path / "results").mkdir()
    table.to_parquet(tmp_path / "results" / "study.parquet")
    result = CliRunner().invoke(main, ["figures", "--runs-dir", str(tmp_path), "--one-column"])
    assert result.exit_code == 0, result.output
    two = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    one = sorted((tmp_path / "figures" / "one-column").glob("*.png"))
    assert [p.name for p in one] == two and re.search(r"\d+ one-column figures in .*one-column", result.output)
    for path in one:
        assert Image.open(path).size[0] == round(style.ONE_COLUMN * style.DPI), path.name
    smallest, save = [], style.save

    def keep(figure, path):
        written = save(figure, path)
        smallest.append(min(t.get_fontsize() for t in figure.findobj(Text) if t.get_visible() and t.get_text()))
        return written

    monkeypatch.setattr(style, "save", keep)  # drawn here (one process) to read the fonts the files were saved with
    part = table[table["analysis"].isin(["finetune", "probing", "attention"])]
    drawn = draw_all(part, tmp_path / "here", workers=1, width=style.ONE_COLUMN)
    assert len(smallest) == len(drawn) > 10 and min(smallest) >= 6
