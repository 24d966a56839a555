"""The report's attention-map view and run regimes: the maps travel exactly (to 1/255) with their tokens, and the
report says how each run was trained, from hand-made files and tables with the values written out."""

import base64
import json
import re

import numpy as np
import pandas as pd

from bioprobe import mapview, report
from bioprobe.attention.compare import write_maps


def _attention_run(root, task="ner", model="minilm", size=100, objective=None):
    folder = root / "results" / "attention" / task / model
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"size{size}-seed42" + (f"-{objective}" if objective else "") + "-test"
    row = {"analysis": "attention", "task": task, "model": model, "training_size": size, "layer": 0, "head": 0,
           "metric": "cosine", "value": 0.5, "objective": objective or "classifier"}
    pd.DataFrame([row]).to_csv(folder / f"{stem}.csv", index=False)
    pretrained = np.zeros((2, 3, 2, 2), dtype=np.float16)
    pretrained[..., 0] = 1.0  # every query on the first token
    tuned = np.full((2, 3, 2, 2), 0.5, dtype=np.float16)
    tuned[1, 2] = [[0.25, 0.75], [1.0, 0.0]]  # layer 1, head 2
    write_maps(folder / f"{stem}.csv", {"items": [7], "tokens": [["[CLS]", "Ġglucose"]], "reference": [pretrained],
                                        size: [tuned]}, size)
    return tuned


def test_the_view_carries_each_runs_maps_to_one_255th_with_readable_tokens(tmp_path):
    tuned = _attention_run(tmp_path)
    _attention_run(tmp_path, model="smollm2", objective="instruct")
    runs = mapview.collect(tmp_path)
    assert [run["key"] for run in runs] == ["ner · minilm · classifier · 100 %", "ner · smollm2 · instruct · 100 %"]
    assert [run["figure"] for run in runs] == ["ner_minilm", "ner_smollm2_instruct"]  # matches attention_*_<figure>
    item = runs[0]["items"][0]
    assert item["tokens"] == ["[CLS]", "glucose"] and (item["layers"], item["heads"], item["n"]) == (2, 3, 2)
    got = np.frombuffer(base64.b64decode(item["tuned"]), dtype=np.uint8).reshape(2, 3, 2, 2)
    assert got[1, 2].tolist() == [[64, 191], [255, 0]] and got[0, 0].tolist() == [[128, 128], [128, 128]]
    assert np.abs(got / 255 - tuned.astype(np.float32)).max() <= 0.5 / 255
    pre = np.frombuffer(base64.b64decode(item["pretrained"]), dtype=np.uint8).reshape(2, 3, 2, 2)
    assert (pre[..., 0] == 255).all() and (pre[..., 1] == 0).all()


def test_tokens_lose_the_word_markers_of_every_tokenizer_family():
    assert mapview._shown(["ĠThe", "Ġdrug", "Ċ"]) == ["The", "drug", "↵"]  # GPT-2, SmolLM2
    assert mapview._shown(["▁The", "▁dr", "ug"]) == ["The", "dr", "ug"]  # Llama, Mistral
    assert mapview._shown(["the</w>", "dr", "ug</w>"]) == ["the", "dr", "ug"]  # BioGPT
    assert mapview._shown(["[CLS]", "amy", "##loid"]) == ["[CLS]", "amy", "loid"]  # BERT


def test_the_view_is_self_contained_and_its_data_parse(tmp_path):
    assert mapview.view_html(tmp_path) == ""  # no kept maps: no view
    _attention_run(tmp_path)
    page = mapview.view_html(tmp_path)
    data = re.search(r'<script type="application/json" id="mapview-data">(.*?)</script>', page, flags=re.S)
    assert json.loads(data.group(1))[0]["key"] == "ner · minilm · classifier · 100 %"
    assert '<option value="0">ner · minilm · classifier · 100 %</option>' in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_the_report_names_each_runs_regime_and_the_runs_that_barely_moved():
    run = {"task": "ner", "seed": 42, "training_size": 100, "objective": "instruct", "model": "smollm2"}
    table = pd.DataFrame([
        {**run, "analysis": "finetune", "metric": "f1", "value": 0.0, "regime": "LoRA", "steps": 2, "n_train": 8},
        {**run, "analysis": "probing", "metric": "cka", "value": 0.9995, "layer": 0, "reference": "smollm2"}])
    texts = report.section_texts(table)
    assert "| ner | smollm2 | instruct | 100 % | LoRA | 2 | 8 |  | 0.9995 | **barely moved** |" in texts["finetune"]
    for key in ("probing", "attention", "depth", "causal"):
        assert texts[key].startswith("**Barely moved** (see the fine-tuning section): smollm2 instruct on ner at 100 %")
    html = report.markdown_to_html(texts["finetune"])
    assert "<th>regime</th>" in html and "<td>LoRA</td><td>2</td><td>8</td>" in html
