"""Will a model fit: the parameter count from a config alone (exact against the built model and a published size),
the bytes of each regime written out, and a model too large for the device refused in one sentence before it loads;
a device that is not there, likewise."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from bioprobe import memory
from bioprobe.cli import main
from bioprobe.errors import BioprobeError
from bioprobe.models import count_parameters, load_model
from test_cli import assert_one_sentence


@pytest.mark.parametrize("head", ["base", "token"])
def test_the_estimate_counts_the_parameters_the_load_has(tiny_model_dir, head):
    labels = ("O", "B-Disease", "I-Disease")
    need = memory.estimate(str(tiny_model_dir), head, labels if head == "token" else None)
    loaded = load_model(str(tiny_model_dir), head=head, labels=labels if head == "token" else None, device="cpu")
    assert need.parameters == count_parameters(loaded.model)
    body = [m for n, m in loaded.model.named_modules() if isinstance(m, torch.nn.Linear)
            and n.split(".")[-1] not in ("classifier", "score", "lm_head")]
    assert need.quantizable == sum(m.weight.numel() for m in body)


def test_mistral_7b_is_counted_from_its_config_without_weights(tmp_path):
    """Mistral-7B-v0.1's published size: 7,241,732,096 parameters (32 layers, 4096 wide, MLP 14336, 8 key/value
    heads, vocabulary 32,000, untied output embedding)."""
    import transformers

    transformers.MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                               num_attention_heads=32, num_key_value_heads=8,
                               tie_word_embeddings=False).save_pretrained(tmp_path)
    need = memory.estimate(str(tmp_path), "causal-lm")
    assert need.parameters == 7_241_732_096
    assert need.weights() == 7_241_732_096 * 4


def test_the_bytes_of_each_regime():
    need = memory.Estimate(parameters=1000, quantizable=800)
    assert need.need() == 4000
    assert need.need(training="lora") == 4000
    assert need.need(training="full") == 4000 + 1000 * (4 + 4 + 8)  # gradient and two AdamW moments
    assert need.need(four_bit=True) == pytest.approx(800 * (0.5 + 1 / 64 + 4 / (64 * 256)) + 200 * 4)
    assert memory.Estimate(1000, 800, "bfloat16").need() == 2000


def test_too_large_for_the_device_names_the_estimate_and_what_would_fit():
    need = memory.Estimate(parameters=7_000_000_000, quantizable=6_800_000_000)
    with pytest.raises(BioprobeError) as caught:
        memory.check_fits("mistral", need, "cuda:0", training="full", free=40 * memory.GIB)
    message = str(caught.value)
    assert "7.00 B parameters" in message and "about 130.4 GiB" in message and "40.0 GiB free" in message
    assert "LoRA (--lora: 26.1 GiB)" in message and "4-bit weights (--4bit with LoRA: 4.0 GiB)" in message
    memory.check_fits("mistral", need, "cuda:0", training="lora", free=40 * memory.GIB)  # fits: no error
    with pytest.raises(BioprobeError, match="needs a device with more free memory"):
        memory.check_fits("mistral", need, "cpu", four_bit=True, free=2 * memory.GIB)


def test_a_command_refuses_a_model_too_large_before_loading_it(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: 1000.0)  # a device with 1 kB free
    loads = []
    monkeypatch.setattr("transformers.AutoModelForTokenClassification.from_pretrained",
                        lambda *a, **k: loads.append(a))
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", "demo", "--training_size", "10", "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "needs about", "for fine-tuning all its weights", "GiB free")
    assert loads == []
    monkeypatch.setenv("BIOPROBE_NO_MEMORY_CHECK", "1")
    assert memory.skip_check()


def test_cuda_on_a_machine_without_one_is_one_sentence(tiny_model_dirs, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    result = CliRunner().invoke(main, ["extract", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", "demo", "--training_size", "0", "--device", "cuda",
                                       "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "Device 'cuda'", "no CUDA GPU", "--device cpu")


def test_batch_tokens_follow_the_memory_the_device_has():
    """BERT-base: a token costs 4 x (13 x 768 kept hidden states + 2 x 3072 + 4 x 768 + 12 x 512 transient) bytes in
    an extraction pass = 101,376 bytes; with gradients (Integrated Gradients, one hidden state kept) 4 x (768 +
    12 x 15,360) = 740,352."""
    import transformers

    config = transformers.BertConfig()  # 12 layers, 768 wide, 12 heads, MLP 3072
    assert memory.token_bytes(config) == 4 * (13 * 768 + 2 * 3072 + 4 * 768 + 12 * 512) == 101_376
    assert memory.token_bytes(config, gradients=True, keep_hidden=False) == 740_352

    class Model(torch.nn.Module):  # a loaded model as the function reads it: config, dtype, device
        def __init__(self):
            super().__init__()
            self.config, self.weight = config, torch.nn.Parameter(torch.zeros(1))

    model = Model()
    # 70 GiB free: half of it over 101,376 bytes a token is 370,727 tokens -> the ceiling
    assert memory.batch_tokens(model, 8192, free=70 * memory.GIB) == 65536
    # 2 GiB free: 1 GiB / 101,376 = 10,591.7 -> 10,496 (a multiple of 256)
    assert memory.batch_tokens(model, 8192, free=2 * memory.GIB) == 10496
    # 4 GiB free for Integrated Gradients: 2 GiB / 740,352 = 2,900.6 -> 2,816; never under the least given
    assert memory.batch_tokens(model, 2048, gradients=True, keep_hidden=False, free=4 * memory.GIB) == 2816
    assert memory.batch_tokens(model, 2048, gradients=True, keep_hidden=False, free=1 * memory.GIB) == 2048


def test_integrated_gradients_on_a_cpu_take_fewer_tokens_when_memory_is_short(monkeypatch):
    """GPT-2 Medium: 4 x (1,024 + 24 x (2 x 4,096 + 4 x 1,024 + 16 x 512)) = 1,970,176 bytes a token with gradients.
    With 20 GiB free the CPU default (4,096) stands; with 6 GiB, 3 GiB / 1,970,176 = 1,635.0 -> 1,536 tokens."""
    import transformers

    from bioprobe.attention.attribute import default_batch_tokens

    config = transformers.GPT2Config(n_layer=24, n_embd=1024, n_head=16)
    assert memory.token_bytes(config, gradients=True, keep_hidden=False) == 1_970_176

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config, self.weight = config, torch.nn.Parameter(torch.zeros(1))

    monkeypatch.setattr(memory, "available", lambda device: 20.0 * memory.GIB)
    assert default_batch_tokens(Model()) == 4096
    monkeypatch.setattr(memory, "available", lambda device: 6.0 * memory.GIB)
    assert default_batch_tokens(Model()) == 1536


def test_the_estimate_reads_the_kind_from_the_config(tiny_model_dirs, monkeypatch):
    """An unregistered hub id whose name does not say "decoder" (stanford-crfm/BioMedLM) is taken for an encoder
    until its config is read: the LoRA rule before loading takes the kind from the config, so a 2.7B decoder is
    counted as a LoRA run, not as a full fine-tune it would never be."""
    import dataclasses
    from types import SimpleNamespace

    from bioprobe.finetune.train import _regime_before_loading
    from bioprobe.registry import resolve_model

    assert memory.estimate(str(tiny_model_dirs["gpt2"])).kind == "decoder"
    assert memory.estimate(str(tiny_model_dirs["bert"])).kind == "encoder"
    resolved = resolve_model(str(tiny_model_dirs["gpt2"]))
    resolved = dataclasses.replace(resolved, spec=dataclasses.replace(resolved.spec, kind="encoder"))
    big = memory.Estimate(parameters=2_700_000_000, quantizable=2_600_000_000, kind="decoder")
    monkeypatch.setattr(memory, "estimate", lambda *args, **kwargs: big)
    assert _regime_before_loading(SimpleNamespace(lora=None), resolved, "token", ("O",), False) == "lora"
    assert _regime_before_loading(SimpleNamespace(lora=False), resolved, "token", ("O",), False) == "full"


def test_generation_batches_on_a_gpu_follow_the_memory_it_has(monkeypatch):
    """Mistral-7B in bf16: a cached token costs 2 x 32 layers x 8 key/value heads x 128 x 2 bytes = 131,072; a row
    of 512 prompt tokens and 64 new ones keeps 2 x 512 + 64 = 1,088 tokens, twice (the answer scores read a copy):
    285,212,672 bytes; reading its prompt 512 x 2 x (4,096 + 2 x 14,336 + 4 x 4,096 + 32 x 1,088) = 85,983,232;
    two logit rows 2 x 4 x 32,000 = 256,000: 371,451,904 bytes a row. Half of 40 GiB holds 57.8 rows -> 57."""
    from types import SimpleNamespace

    import transformers

    from bioprobe.finetune.generate import BATCH, default_batch

    config = transformers.MistralConfig()
    assert memory.cache_bytes(config, 2) == 131_072

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config, self.dtype = config, torch.bfloat16
            self.weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.bfloat16))

    model = Model()
    assert memory.generation_rows(model, 1088, 512, 64, free=40 * memory.GIB) == 57
    assert memory.generation_rows(model, 1088, 512, 64, free=2 * memory.GIB) == 2  # 1 GiB / 371,451,904 = 2.9
    assert memory.generation_rows(model, 1088, 512, 64, free=100 * 1024) == 1  # never none
    assert memory.generation_rows(model, 10, 4, 64, free=80 * memory.GIB) == 256  # the ceiling
    monkeypatch.setattr(memory, "available", lambda device: None)
    assert memory.generation_rows(model, 1088, 512, 64) == 64  # free memory unknown: the fixed default
    monkeypatch.setattr(memory, "available", lambda device: 40.0 * memory.GIB)
    assert default_batch(model, 1088, 512, SimpleNamespace(type="cuda")) == 57
    assert default_batch(model, 1088, 512, torch.device("cpu")) == BATCH["cpu"] == 32  # a CPU is bound by compute
