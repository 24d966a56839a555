"""Known-answer tests of benchmarks/scale.py's pure helpers: parameter counts, FLOPs per token, memory estimates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_scale", None)


TINY_BERT = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=64, type_vocab_size=2)


def test_bert_parameter_count_by_hand(scale):
    # embeddings: words 100*16 + positions 64*16 + types 2*16 + LayerNorm 2*16 = 2688
    # a layer: q,k,v,o 4*(16*16+16) = 1088, LayerNorm 32, up 16*32+32 = 544, down 32*16+16 = 528, LayerNorm 32 = 2224
    # pooler 16*16+16 = 272
    counts = scale.parameter_counts(scale.make_config("bert", **TINY_BERT))
    assert counts["total"] == 2688 + 2 * 2224 + 272 == 7408
    assert counts["embedding"] == 1600 + 1024 + 32
    assert counts["linear"] == 2 * (4 * 256 + 512 + 512) + 256


def test_counts_equal_the_instantiated_models(scale):
    import torch
    import transformers

    configs = [scale.make_config("bert", **TINY_BERT),
               scale.make_config("gpt2", vocab_size=90, n_embd=16, n_layer=2, n_head=2, n_positions=32),
               scale.make_config("llama", vocab_size=80, hidden_size=16, intermediate_size=40, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)]
    for config in configs:
        model = transformers.AutoModel.from_config(config)
        counts = scale.parameter_counts(config)
        assert counts["total"] == sum(p.numel() for p in model.parameters())
        assert counts["embedding"] == sum(m.weight.numel() for m in model.modules()
                                          if isinstance(m, torch.nn.Embedding))
    # Llama with grouped keys and values, by hand: q 16x16, k and v 16x8 (2 of 4 heads), o 16x16, gate/up/down 3x16x40,
    # two RMS norms of 16 per layer, a final norm, an embedding of 80x16
    llama = scale.parameter_counts(configs[2])
    assert llama["total"] == 80 * 16 + 2 * (256 + 2 * 128 + 256 + 3 * 640 + 32) + 16 == 6736


def test_forward_flops_by_hand(scale):
    counts = scale.parameter_counts(scale.make_config("bert", **TINY_BERT))
    non_embedding = counts["total"] - counts["embedding"]
    assert non_embedding == 4752
    # 2 x 4752 weights + 4 x 2 layers x 10 positions x 16 wide; no head
    assert scale.forward_flops(non_embedding, 2, 16, 10) == 9504 + 1280
    # with an LM head of 100 logits: + 2 x 16 x 100
    assert scale.forward_flops(non_embedding, 2, 16, 10, outputs=100) == 9504 + 1280 + 3200


def test_regimes_follow_the_registry(scale):
    from bioprobe.registry import MODELS

    assert scale.regime_of(MODELS["bert"], 108_000_000) == "full"
    assert scale.regime_of(MODELS["gpt2"], 355_000_000) == "full"
    assert scale.regime_of(MODELS["tinyllama"], 1_100_000_000) == "lora"
    assert scale.regime_of(MODELS["mistral"], 7_200_000_000) == "qlora"
    assert scale.regime_of(MODELS["biogpt"], 1_500_000_000) == "lora"  # a decoder of 1B+ would train LoRA


def test_memory_estimate_by_hand(scale):
    counts = {"total": 1000, "embedding": 200, "linear": 600}
    d = {"layers": 2, "width": 8, "heads": 2, "vocab": 50}
    # full fine-tuning: 4 bytes of weights + 18 of gradient, two Adam moments and step temporaries per parameter
    assert scale.estimate_bytes(counts, d, "full", "finetune", 0, 0, untied_head=False) == 22_000
    # LoRA: the weights, and about 1 % of them trained
    assert scale.estimate_bytes(counts, d, "lora", "finetune", 0, 0, untied_head=False) == 4000 + 10 * 18
    # 4-bit: 600 linear weights at 0.5 + 1 / 64 + 4 / (64 x 256) bytes, 400 others and an untied head of 50 x 8 in
    # float32
    assert scale.weight_bytes(counts, "qlora", 400) == pytest.approx(600 * (0.5 + 1 / 64 + 4 / (64 * 256)) + 800 * 4)
    # the attention comparison holds two models; 10 tokens of forward activations (2 floats x layers x width) and
    # both models' maps (heads x context x layers)
    assert scale.estimate_bytes(counts, d, "full", "attention", 10, 5, False) == \
        2 * 4000 + 10 * (2 * 8 * 2 * 4 + 2 * 2 * 5 * 4 * 2)
    # a backward pass keeps 20 floats per token, layer and width
    assert scale.estimate_bytes(counts, d, "full", "importance", 10, 5, False) == \
        4000 + 10 * (2 * 8 * 20 * 4 + 2 * 2 * 5 * 4 * 2)
    assert scale.fits(counts, d, "finetune", 0, 0, False, 5000) == ["lora", "qlora"]
    assert scale.fits(counts, d, "finetune", 0, 0, False, 22_000) == ["full", "lora", "qlora"]
