"""Speed, memory and model-FLOPs utilisation of every stage on the study's real-size architectures, built from their
configs with random weights (speed and memory do not depend on the weights), so nothing is downloaded.

    .venv/bin/python benchmarks/scale.py [--device cpu|cuda] [--models bert,gpt2] [--stages finetune,extract,...]
                                         [--steps 2] [--items 16] [--json OUT]

On a GPU (all six architectures, every stage; Mistral-7B in its default 4-bit QLoRA; the random weights are saved as
bf16 files to the temporary folder, about 15 GB of disk for Mistral):

    .venv/bin/python benchmarks/scale.py --device cuda --json scale-cuda.json
    .venv/bin/python benchmarks/scale.py --device cuda --models mistral --stages finetune,generate   # a subset

(not yet run on a GPU: the session that wrote it had none).

Each architecture (`ARCHS`: BERT-base, BioBERT, GPT-2 Medium, BioGPT, TinyLlama-1.1B, Mistral-7B, at their published
sizes) is instantiated from its config with random weights and saved, with a tokenizer built in-process at the
architecture's vocabulary size (a WordPiece vocabulary learned from the demo corpus, padded with unused entries), to a
temporary model folder; from there bioprobe's own loader (`bioprobe.models.load_model`, `load_for_training`: the
registry's default regime, eager attention, 4-bit NF4) and each stage's own function run on demo items joined to
biomedical length (25-40 words; instruction prompts of about 150 tokens):

- finetune: Trainer steps of classifier (NER token) fine-tuning, `finetune.train.load_for_training` +
  `training_arguments` (batch 16, the regime full / LoRA / 4-bit QLoRA the registry gives the model); the first step
  is a warm-up and is not timed;
- importance: `attention.importance.head_importance` (forward and backward to the head gates);
- attention: `attention.compare.attention_statistics` on two models (both eager; every statistic);
- extract: `probing.extract.run_plan` over the NER probe plan, every layer pooled and written;
- attribute: `attention.attribute.attribute_examples` (Integrated Gradients, 50 steps);
- generate: `finetune.generate.generate` (greedy, NER instruction prompts, `--new-tokens` each; decoders only);
- logliks: `finetune.generate.answer_logliks` (NLI instruction prompts, the three label words; decoders only).

Reported per stage: tokens/s (what the unit column says: real tokens trained or read; for attention the tokens of
the items, each read by both models; for attribute the tokens times the integration steps; for generate the new
tokens), timed after an untimed warm-up call on two items (the first pass of a model builds oneDNN primitives and
allocator pools); the peak memory of the stage with its models, each stage loading its own (CPU: the process's peak
resident set, reset before the models load, minus the resident set then; CUDA: `torch.cuda.max_memory_allocated`);
and MFU: model FLOPs / seconds / the device's matmul peak, measured here (a float32 matmul of 2048^2 on the CPU, a
bf16 matmul of 8192^2 on CUDA; measured again after the runs, and a busier start reported). Model FLOPs per token
(`forward_flops`): 2 x the non-embedding parameters + 4 x layers x context x width (attention scores and their
weighted sum) + 2 x width x outputs where a head computes logits; a training step is 3 forward passes, a step that
needs no weight gradients (LoRA's frozen weights, importance, Integrated Gradients) 2.

With few items the length-sorted batches of the analyses are small (16 NER items of 31-74 tokens ran as 5 extraction
batches of 1-7 items), and a CPU multiplies small matrices at a fraction of its peak: `--items 64` or more gives
steady-state numbers. On a shared machine, run nothing else beside it (two processes of 2 threads each on 2 cores
slowed a stage up to 20x in the runs made for issue 22).

Before an architecture loads, its memory is estimated from its config (`estimate_bytes`: weights at the regime's
bytes per parameter, gradients and Adam state for trained weights, activations); a stage whose estimate exceeds the
device's free memory is skipped with one line saying the estimate and the regimes that would fit.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # the stages' progress bars would break the table
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bioprobe.memory import FOUR_BIT_BYTES, available  # noqa: E402  (after the path above)

STAGES = ("finetune", "importance", "attention", "extract", "attribute", "generate", "logliks")
DECODER_STAGES = ("generate", "logliks")
CPU_MODELS = ("bert", "gpt2")
"""What runs by default on a CPU (a few minutes each); `--device cuda` runs every architecture."""


@dataclass(frozen=True)
class Arch:
    """One architecture of the study at its published size.

    Attributes:
        name: The registry name (`bioprobe.registry.MODELS`): its kind, LoRA targets and default regime.
        family: "bert", "gpt2", "biogpt", "llama" or "mistral" (the config class).
        config: Config keyword arguments.
    """

    name: str
    family: str
    config: dict


ARCHS = {arch.name: arch for arch in (
    # bert-base-cased (the registry's bert) and BioBERT v1.1 share the cased vocabulary of 28,996 entries;
    # bert-base-uncased has 30,522.
    Arch("bert", "bert", dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)),
    Arch("biobert", "bert", dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)),
    Arch("gpt2", "gpt2", dict(vocab_size=50257, n_embd=1024, n_layer=24, n_head=16, n_positions=1024)),
    Arch("biogpt", "biogpt", dict(vocab_size=42384, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                  intermediate_size=4096, max_position_embeddings=1024)),
    Arch("tinyllama", "llama", dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                                    num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                                    rms_norm_eps=1e-5, tie_word_embeddings=False)),
    Arch("mistral", "mistral", dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                                    sliding_window=4096, rms_norm_eps=1e-5, tie_word_embeddings=False)),
)}


# --------------------------------------------------------------------------------------------------------------
# Pure helpers: configs, parameter counts, FLOPs, memory estimates.

def make_config(family: str, **kwargs):
    """The transformers config of a family with the given sizes."""
    import transformers as tf

    cls = {"bert": tf.BertConfig, "gpt2": tf.GPT2Config, "biogpt": tf.BioGptConfig, "llama": tf.LlamaConfig,
           "mistral": tf.MistralConfig}[family]
    return cls(**kwargs)


def dims(config) -> dict:
    """`{"layers", "width", "heads", "vocab"}` of a config, whatever the family calls them."""
    return {"layers": config.num_hidden_layers, "width": config.hidden_size, "heads": config.num_attention_heads,
            "vocab": config.vocab_size}


def parameter_counts(config) -> dict:
    """Parameters of the base model (no task or LM head) built from `config` on the meta device (nothing allocated).

    Returns:
        `{"total", "embedding", "linear"}`: every parameter; those of embedding tables (tokens, positions, token
        types), which cost no multiply per token; the weights of `nn.Linear` / GPT-2 `Conv1D` layers (what 4-bit NF4
        quantizes).
    """
    import torch
    import transformers

    with torch.device("meta"):
        model = transformers.AutoModel.from_config(config)
    return _counts(model)


def _counts(model) -> dict:
    import torch

    total = sum(p.numel() for p in model.parameters())
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    linear = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D")
    return {"total": total, "embedding": embedding, "linear": linear}


def forward_flops(non_embedding: int, layers: int, width: int, context: float, outputs: int = 0) -> float:
    """Model FLOPs of one token's forward pass.

    2 per multiply-add of every non-embedding weight, plus attention: the token's scores against `context` positions
    and the weighted sum of as many values, 2 x 2 x context x width per layer (grouped key/value heads change neither),
    plus a head of `outputs` logits (an LM head: the vocabulary) where the token's logits are computed.
    """
    return 2.0 * non_embedding + 4.0 * layers * context * width + 2.0 * width * outputs


def regime_of(spec, n_params: int) -> str:
    """The registry's default fine-tuning regime of a model: "full", "lora" or "qlora" (4-bit + LoRA), by the training
    loader's own rule (`finetune.train.wants_lora`, with no `--lora` given)."""
    from types import SimpleNamespace

    from bioprobe.finetune.train import wants_lora

    if spec.four_bit:
        return "qlora"
    return "lora" if wants_lora(SimpleNamespace(lora=None), spec, False, n_params) else "full"


def weight_bytes(counts: dict, regime: str, vocab_width: int = 0) -> float:
    """Bytes of the weights as bioprobe loads them: float32, or 4-bit NF4 linear weights (0.5 byte, plus the double-
    quantized block scales: `bioprobe.memory.FOUR_BIT_BYTES`) with everything else, an untied LM head (`vocab_width`
    parameters) included, in float32."""
    if regime == "qlora":
        quantized = counts["linear"]
        return quantized * FOUR_BIT_BYTES + (counts["total"] - quantized + vocab_width) * 4.0
    return (counts["total"] + vocab_width) * 4.0


TRAINED_BYTES = 18.0
"""Bytes per trained parameter beside its weight: a float32 gradient (4), Adam's two moments (8), and about 6 of
temporaries in the optimizer step (torch's multi-tensor AdamW; measured on this CPU: full fine-tuning peaked 2,699 MiB
for BERT-base and 9,184 MiB for GPT-2 Medium, about 6 bytes per parameter above weights, gradients and moments)."""


def estimate_bytes(counts: dict, d: dict, regime: str, stage: str, tokens: int, context: int,
                   untied_head: bool) -> float:
    """Rough peak memory of a stage: weights (two models for the attention comparison), `TRAINED_BYTES` per trained
    weight (full fine-tuning: all; LoRA: about 1 %), and activations: about 20 float32
    values per token, layer and width kept for a backward pass; 2 for a forward pass (every layer's hidden state that
    extraction keeps, or the key/value cache of generation); and eager attention maps of `heads x context` per token
    and layer where they are kept (importance, attention comparison)."""
    head = d["vocab"] * d["width"] if untied_head else 0
    weights = weight_bytes(counts, regime, head)
    if stage == "attention":
        weights *= 2
    trained = 0.0
    if stage == "finetune":
        trained = counts["total"] * TRAINED_BYTES * (1.0 if regime == "full" else 0.01)
    backward = stage in ("finetune", "importance", "attribute")
    per_token = d["layers"] * d["width"] * (20 if backward else 2) * 4.0
    maps = d["layers"] * d["heads"] * context * 4.0 * (2 if stage in ("attention", "importance") else 0)
    return weights + trained + tokens * (per_token + maps)


def fits(counts: dict, d: dict, stage: str, tokens: int, context: int, untied_head: bool, free: float) -> list[str]:
    """The regimes whose estimate for `stage` fits in `free` bytes."""
    return [regime for regime in ("full", "lora", "qlora")
            if estimate_bytes(counts, d, regime, stage, tokens, context, untied_head) <= free]


# --------------------------------------------------------------------------------------------------------------
# The device: matmul peak, free memory, peak memory of a stage.

def matmul_peak(device: str) -> dict:
    """The device's measured matmul rate in FLOP/s: float32 (n = 2048) on a CPU; bf16 and float32 (n = 8192) on
    CUDA. The best of a few timed repeats after a warm-up."""
    import torch

    def rate(n: int, dtype, repeats: int) -> float:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(repeats + 1):
            _sync(device)
            started = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - started)
        return 2.0 * n ** 3 / best

    if device == "cpu":
        return {"float32": rate(2048, torch.float32, 10)}
    return {"bfloat16": rate(8192, torch.bfloat16, 10), "float32": rate(8192, torch.float32, 5)}


def _sync(device: str) -> None:
    if device != "cpu":
        import torch

        torch.cuda.synchronize()


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _release() -> None:
    """Free what the previous stage left (Python objects, the CUDA cache, glibc's free lists)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Peak memory while the block runs, above what was in use when it began (bytes in `.peak`).

    CPU: the peak resident set (VmHWM, reset through /proc/self/clear_refs) minus the resident set at the start;
    CUDA: `torch.cuda.max_memory_allocated` minus the allocated memory at the start.
    """

    def __init__(self, device: str):
        self.device, self.peak = device, 0.0

    def __enter__(self):
        import torch

        _release()
        if self.device == "cpu":
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.start = _rss_kib("VmRSS") * 1024.0
        else:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = float(torch.cuda.memory_allocated())
        return self

    def __exit__(self, *exc):
        import torch

        if self.device == "cpu":
            self.peak = _rss_kib("VmHWM") * 1024.0 - self.start
        else:
            torch.cuda.synchronize()
            self.peak = float(torch.cuda.max_memory_allocated()) - self.start
        return False


# --------------------------------------------------------------------------------------------------------------
# Data and a tokenizer, in-process.

def ner_items(n: int, seed: int = 0) -> list[dict]:
    """`n` NER items of biomedical length: consecutive demo sentences joined and cut at a drawn 25-40 words."""
    import numpy as np

    from bioprobe.data import load_task_data

    split = load_task_data("ner", "demo").splits["train"]
    tokens, tags = split["tokens"][:], split["tags"][:]
    rng, k, out = np.random.default_rng(seed), 0, []
    while len(out) < n:
        want, words, labels = int(rng.integers(25, 41)), [], []
        while len(words) < want:
            words += tokens[k % len(tokens)]
            labels += tags[k % len(tags)]
            k += 1
        out.append({"tokens": words[:want], "tags": labels[:want]})
    return out


def nli_items(n: int) -> list[dict]:
    """`n` demo NLI pairs."""
    from bioprobe.data import load_task_data

    return load_task_data("nli", "demo").splits["train"].select(range(n)).to_list()


def build_tokenizer(family: str, vocab_size: int, learned: int = 2000):
    """A fast WordPiece tokenizer of exactly `vocab_size` entries: `learned` of them learned from the demo corpus
    (whole frequent words, `##` pieces for the rest; 1.6 pieces per word on the NER items), the rest unused fillers.
    BERT gets [CLS] x [SEP] (pairs: [CLS] a [SEP] b [SEP]) and [PAD]; Llama and Mistral a BOS; GPT-2 and BioGPT nothing
    around a sequence and no pad token (bioprobe's loader pads decoders with EOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from bioprobe.data import load_task_data

    ner = load_task_data("ner", "demo").splits["train"]
    nli = load_task_data("nli", "demo").splits["train"]
    texts = [" ".join(words) for words in ner["tokens"][:]] + nli["premise"][:] + nli["hypothesis"][:]
    texts += ["### Instruction: ### Input: ### Output: Premise: Hypothesis: Entailment Neutral Contradiction : B I O"]
    if family == "bert":
        specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "mask_token": "[MASK]"}
    else:
        specials = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    tok = Tokenizer(models.WordPiece(unk_token=specials["unk_token"], max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=learned, special_tokens=list(
        specials.values())))
    vocab = tok.get_vocab()
    for i in range(vocab_size - len(vocab)):
        vocab[f"[unused{i}]"] = len(vocab)
    if len(vocab) != vocab_size:
        raise ValueError(f"the learned vocabulary ({len(vocab)}) is larger than {vocab_size}")
    full = Tokenizer(models.WordPiece(vocab, unk_token=specials["unk_token"], max_input_chars_per_word=100))
    full.pre_tokenizer = pre_tokenizers.Whitespace()
    full.decoder = decoders.WordPiece()
    if family == "bert":
        full.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    elif family in ("llama", "mistral"):
        full.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B:1",
                                                            special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=full, model_max_length=512, **specials)


def save_random_model(arch: Arch, folder: Path, device: str) -> None:
    """Write the architecture with random weights (bf16 files) and its tokenizer to `folder`, as a hub checkpoint
    is laid out (the pretraining head: masked LM or causal LM)."""
    import torch
    import transformers

    tokenizer = build_tokenizer(arch.family, arch.config["vocab_size"])
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id}
    config = make_config(arch.family, **arch.config, **{k: v for k, v in ids.items() if v is not None})
    auto = transformers.AutoModelForMaskedLM if arch.family == "bert" else transformers.AutoModelForCausalLM
    torch.manual_seed(0)
    with torch.device("cpu" if device == "cpu" else "cuda"):
        model = auto.from_config(config, dtype=torch.bfloat16 if device != "cpu" else torch.float32)
    model.to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    _release()


# --------------------------------------------------------------------------------------------------------------
# The stages.

@dataclass
class Measured:
    """One stage's measurement."""

    tokens: float
    seconds: float
    flops: float
    unit: str
    note: str = ""


def _context(sequences: list[list[int]]) -> float:
    """Mean number of positions a token attends to, for FLOPs: the mean sequence length, weighted by tokens."""
    total = sum(len(s) for s in sequences)
    return sum(len(s) ** 2 for s in sequences) / max(total, 1)


class Bench:
    """The shared state of one architecture's run: its folder, counts, items, device."""

    def __init__(self, arch: Arch, folder: Path, device: str, args):
        from bioprobe.registry import MODELS, ResolvedModel

        self.arch, self.folder, self.device, self.args = arch, folder, device, args
        self.spec = MODELS[arch.name]
        self.resolved = ResolvedModel(arch.name, str(folder), self.spec)
        self.config = make_config(arch.family, **arch.config)
        self.d = dims(self.config)
        self.counts = parameter_counts(self.config)
        self.non_embedding = self.counts["total"] - self.counts["embedding"]
        self.regime = regime_of(self.spec, self.counts["total"])
        self.ner = ner_items(max(args.items, 16 * (args.steps + 1)))
        self.nli = nli_items(args.items)
        self.four_bit = self.regime == "qlora"

    def fwd(self, context: float, outputs: int = 0) -> float:
        return forward_flops(self.non_embedding, self.d["layers"], self.d["width"], context, outputs)

    def load(self, head: str, eager: bool = False):
        from bioprobe.models import load_model

        labels = None
        if head == "token":
            from bioprobe.data import load_task_data

            labels = load_task_data("ner", "demo").labels
        return load_model(self.resolved, head=head, labels=labels, four_bit=self.four_bit, eager_attention=eager,
                          device=self.device)

    def rows(self, n: int):
        import datasets

        return datasets.Dataset.from_list(self.ner[:n])

    # -- finetune
    def finetune(self) -> Measured:
        import transformers
        from accelerate import PartialState

        from bioprobe.finetune.train import Prepared, load_for_training
        from bioprobe.settings import FinetuneSettings
        from bioprobe.tasks import get_task

        task = get_task("ner")
        steps = self.args.steps + 1
        with tempfile.TemporaryDirectory(prefix="scale-run-") as run:
            settings = FinetuneSettings(task="ner", model_name=str(self.folder), epochs=1, save_steps=10 ** 6)
            prepared = Prepared(settings, task, self.resolved, self.device, Path(run), PartialState(), {})
            setup = load_for_training(prepared, "token", tuple(self.load_labels()))
            regime = "qlora" if setup.four_bit else "lora" if setup.lora else "full"
            encoded = task.encode(self.rows(16 * steps), setup.loaded.tokenizer, tuple(self.load_labels()),
                                  settings.length, self.spec.kind)
            keep = {"input_ids", "attention_mask", "token_type_ids", "labels", "length"}
            encoded = encoded.remove_columns([c for c in encoded.column_names if c not in keep])
            collator, seen = task.collator(setup.loaded.tokenizer), []

            def counting(features):
                batch = collator(features)
                mask = batch["attention_mask"]
                seen.append((int(mask.sum()), _context([[0] * int(n) for n in mask.sum(1)])))
                return batch

            clock = _StepClock(self.device)
            trainer = transformers.Trainer(model=setup.model, args=_args(prepared, setup.lr, steps),
                                           train_dataset=encoded, data_collator=counting, callbacks=[clock])
            trainer.train()
            timed = list(zip(seen, clock.seconds))[1:]  # the first step warms up
        tokens = sum(n for (n, _), _ in timed)
        seconds = sum(s for _, s in timed)
        # full: forward + input and weight gradients (3 passes); LoRA/QLoRA: the frozen weights need no weight gradient
        passes = 3.0 if regime == "full" else 2.0
        flops = sum(n * passes * self.fwd(context, len(self.load_labels())) for (n, context), _ in timed)
        note = "" if regime == self.regime else f"regime {regime}, estimated as {self.regime}"
        self.regime_seen = regime
        return Measured(tokens, seconds, flops, "train tok", note)

    def load_labels(self):
        from bioprobe.data import load_task_data

        return load_task_data("ner", "demo").labels

    # -- the analyses of a tuned classifier; each stage loads its own models inside its measurement
    def importance(self) -> tuple:
        """`head_importance` on the NER items (eager attention, as `compare_attention` loads for it)."""
        from bioprobe.attention.importance import head_importance
        from bioprobe.tasks import get_task

        rows = self.rows(self.args.items)
        with PeakMemory(self.device) as memory:
            tuned = self.load("token", eager=True)
            sequences = get_task("ner").attention_inputs(rows[:], tuned.tokenizer, self.spec.kind, 128)[0]
            head_importance("ner", tuned, rows.select(range(2)), 128, 4096)  # warm-up, untimed
            started = _now(self.device)
            head_importance("ner", tuned, rows, 128, 4096)
            seconds = _now(self.device) - started
            del tuned
        tokens = sum(map(len, sequences))
        # forward, and backward to the activations only (no weight gradients)
        return Measured(tokens, seconds, tokens * 2 * self.fwd(_context(sequences), 7), "real tok"), memory.peak

    def attention(self) -> tuple:
        """`attention_statistics` of a reference and a tuned model (both eager) on the NER items."""
        from bioprobe.align import structural_special_ids
        from bioprobe.attention.compare import attention_statistics
        from bioprobe.tasks import get_task

        rows = self.rows(self.args.items)
        with PeakMemory(self.device) as memory:
            reference, tuned = self.load("token", eager=True), self.load("token", eager=True)
            sequences = get_task("ner").attention_inputs(rows[:], tuned.tokenizer, self.spec.kind, 128)[0]
            special = structural_special_ids(tuned.tokenizer)
            attention_statistics(reference.model, {"tuned": tuned.model}, sequences[:2], tuned.tokenizer.pad_token_id,
                                 special, 4096)  # warm-up, untimed
            started = _now(self.device)
            stats = attention_statistics(reference.model, {"tuned": tuned.model}, sequences,
                                         tuned.tokenizer.pad_token_id, special, 4096)
            seconds = _now(self.device) - started
            del reference, tuned
        share = stats.forward_s / max(seconds, 1e-9)
        return (Measured(stats.tokens, seconds, stats.tokens * 2 * self.fwd(_context(sequences), 7),
                         "item tok x2 models", f"forward passes {share:.0%} of it"), memory.peak)

    def attribute(self) -> tuple:
        """`attribute_examples` (Integrated Gradients, NER) on `--ig-items` items."""
        from bioprobe.attention import attribute as ig
        from bioprobe.tasks import get_task

        n = self.args.ig_items
        rows = self.rows(n)
        with PeakMemory(self.device) as memory:
            loaded = self.load("token")
            sequences = get_task("ner").attention_inputs(rows[:], loaded.tokenizer, self.spec.kind, 128)[0]
            # the batch size `bioprobe attribute` uses (`default_batch_tokens`: sized from the free GPU memory)
            sized = getattr(ig, "default_batch_tokens", None)
            batch_tokens = sized(loaded.model) if sized else ig.BATCH_TOKENS[_kind(self.device)]
            ig.attribute_examples("ner", loaded, rows.select([0]), 2, 128, progress=False,
                                  batch_tokens=batch_tokens)  # warm-up, untimed
            started = _now(self.device)
            found = ig.attribute_examples("ner", loaded, rows, self.args.ig_steps, 128, progress=False,
                                          batch_tokens=batch_tokens)
            seconds = _now(self.device) - started
            del loaded
        tokens = sum(map(len, sequences)) * self.args.ig_steps
        # per step a forward and a backward to the embeddings; plus 3 plain forward passes per item
        flops = sum(len(s) * (2 * self.args.ig_steps + 3) * self.fwd(len(s), 7) for s in sequences)
        delta = max(abs(a.delta) for a in found)
        return Measured(tokens, seconds, flops, "tok x steps", f"|delta| <= {delta:.2g}"), memory.peak

    def extract(self) -> tuple:
        """`run_plan` over the NER probe plan (first subword of every word, every layer) into a temporary file."""
        from bioprobe.probing.extract import run_plan
        from bioprobe.tasks import get_task

        rows = self.rows(self.args.items)
        with PeakMemory(self.device) as memory:
            loaded = self.load("token")
            plan = get_task("ner").probe_plan(rows[:], loaded.tokenizer, "first", self.spec.kind, 128)
            with tempfile.TemporaryDirectory(prefix="scale-extract-") as folder:
                warm = get_task("ner").probe_plan(rows[:2], loaded.tokenizer, "first", self.spec.kind, 128)
                run_plan(loaded.model, warm, Path(folder) / "warm.npy", loaded.tokenizer.pad_token_id)  # untimed
                started = _now(self.device)
                result = run_plan(loaded.model, plan, Path(folder) / "x.npy", loaded.tokenizer.pad_token_id)
                seconds = _now(self.device) - started
            del loaded
        sequences = [unit.sequences[0] for unit in plan.units]
        return (Measured(result["tokens"], seconds, result["tokens"] * self.fwd(_context(sequences)), "real tok",
                         f"{result['layers']} hidden states"), memory.peak)

    # -- generation and log-likelihoods (the causal LM, loaded by each stage inside its measurement)
    def generate(self) -> tuple:
        """`generate` on NER instruction prompts (the medtuned template), `--new-tokens` per prompt (random weights
        never write the stop text, so every answer runs to its cap)."""
        from bioprobe.finetune.decode import stop_rule
        from bioprobe.finetune.generate import generate
        from bioprobe.finetune.prompts import prompt_ids, prompt_text
        from bioprobe.tasks import get_task

        ner, labels = get_task("ner"), self.load_labels()
        with PeakMemory(self.device) as memory:
            loaded = self.load("causal-lm")
            tok = loaded.tokenizer
            prompts = []
            for i, row in enumerate(self.ner[:self.args.items]):
                instruction, _ = ner.analysis_instruction(i, 42, labels)
                prompts.append(prompt_ids(tok, "medtuned", prompt_text(tok, "medtuned", instruction,
                                                                       ner.prompt_input(row))))
            generate(loaded.model, tok, prompts[:2], [2, 2], stop_rule(tok, "medtuned"), progress=False)  # warm-up
            started = _now(self.device)
            answers = generate(loaded.model, tok, prompts, [self.args.new_tokens] * len(prompts),
                               stop_rule(tok, "medtuned"), progress=False)
            seconds = _now(self.device) - started
            del loaded
        new = sum(a.tokens for a in answers)
        vocab = self.d["vocab"]
        # prefill: every prompt token, logits at the last only; then each new token against its context
        flops = sum(len(p) * self.fwd(len(p)) + self.fwd(0, vocab) - self.fwd(0) for p in prompts)
        flops += sum(self.fwd(len(p) + k, vocab) for p, a in zip(prompts, answers) for k in range(a.tokens))
        size = sum(map(len, prompts)) / len(prompts)
        return (Measured(new, seconds, flops, "new tok", f"{size:.0f}-tok prompts, {len(prompts)} x "
                                                         f"{new // len(prompts)} new"), memory.peak)

    def logliks(self) -> tuple:
        """`answer_logliks` of the three NLI label words after NLI instruction prompts."""
        from bioprobe.finetune.generate import answer_logliks
        from bioprobe.finetune.prompts import continuation_ids, prompt_ids, prompt_text
        from bioprobe.tasks import get_task

        nli = get_task("nli")
        with PeakMemory(self.device) as memory:
            loaded = self.load("causal-lm")
            tok = loaded.tokenizer
            prompts, answers = [], None
            for i, row in enumerate(self.nli):
                instruction, _ = nli.analysis_instruction(i, 42)
                before = prompt_text(tok, "medtuned", instruction, nli.prompt_input(row))
                prompts.append(prompt_ids(tok, "medtuned", before))
                answers = answers or [continuation_ids(tok, before, w) for w in ("Entailment", "Neutral",
                                                                                 "Contradiction")]
            answer_logliks(loaded.model, prompts[:2], answers, tok.pad_token_id)  # warm-up, untimed
            started = _now(self.device)
            answer_logliks(loaded.model, prompts, answers, tok.pad_token_id)
            seconds = _now(self.device) - started
            del loaded
        rest = sum(len(a) - 1 for a in answers)
        vocab = self.d["vocab"]
        flops = sum(len(p) * self.fwd(len(p)) + self.fwd(0, vocab) - self.fwd(0) + rest * self.fwd(len(p), vocab)
                    for p in prompts)
        size = sum(map(len, prompts)) / len(prompts)
        return (Measured(sum(map(len, prompts)) + rest * len(prompts), seconds, flops, "scored tok",
                         f"{size:.0f}-tok prompts, {len(prompts)} items"), memory.peak)


def _args(prepared, lr: float, steps: int):
    """bioprobe's Trainer settings (`finetune.train.training_arguments`), run for `steps` steps, without saving or
    a progress bar."""
    from bioprobe.finetune.train import training_arguments

    args = training_arguments(prepared, lr, max_steps=steps)
    args.save_strategy = "no"
    args.disable_tqdm = True
    return args


def _StepClock(device: str):
    """A Trainer callback timing each optimizer step (forward, backward, update) into `.seconds`."""
    import transformers

    class StepClock(transformers.TrainerCallback):
        def __init__(self):
            self.seconds, self.started = [], 0.0

        def on_step_begin(self, *args, **kwargs):
            self.started = _now(device)

        def on_step_end(self, *args, **kwargs):
            self.seconds.append(_now(device) - self.started)

    return StepClock()


def _now(device: str) -> float:
    _sync(device)
    return time.perf_counter()


def _kind(device: str) -> str:
    return "cpu" if device == "cpu" else "cuda"


# --------------------------------------------------------------------------------------------------------------
# The run.

def run_arch(arch: Arch, device: str, args, peak: float, rows: list[dict]) -> None:
    """Measure every asked stage of one architecture; append rows and print them as they come."""
    config = make_config(arch.family, **arch.config)
    d, counts = dims(config), parameter_counts(config)
    from bioprobe.registry import MODELS

    spec = MODELS[arch.name]
    regime = regime_of(spec, counts["total"])
    stages = [s for s in args.stages if s not in DECODER_STAGES or spec.kind == "decoder"]
    untied = not getattr(config, "tie_word_embeddings", True)
    free = available(device) or float("inf")  # unknown: nothing skipped
    wanted = {"finetune": (16 * 45, 64), "importance": (4096, 64), "attention": (4096, 64), "extract": (2048, 64),
              "attribute": (4096, 64), "generate": (32 * 250, 250), "logliks": (16 * 3 * 160, 160)}
    runnable = []
    for stage in stages:
        tokens, context = wanted[stage]
        stage_regime = regime if stage == "finetune" else ("qlora" if regime == "qlora" else "full")
        need = estimate_bytes(counts, d, stage_regime, stage, tokens, context, untied)
        # building the random weights holds the whole model once (bf16 on a GPU, float32 on a CPU)
        build = (counts["total"] + (d["vocab"] * d["width"] if untied else 0)) * (2.0 if device != "cpu" else 4.0)
        gib = 2 ** 30
        if need > free:
            other = [r for r in fits(counts, d, stage, tokens, context, untied, free) if r != stage_regime]
            print(f"skip {arch.name} {stage}: needs about {need / gib:.1f} GiB ({stage_regime}), {free / gib:.1f} GiB "
                  "free; " + (f"{' or '.join(other)} would fit." if other else "no regime would fit."), flush=True)
        elif build > free:
            print(f"skip {arch.name} {stage}: building its random weights needs about {build / gib:.1f} GiB, "
                  f"{free / gib:.1f} GiB free (the stage itself, {stage_regime}, about {need / gib:.1f} GiB).",
                  flush=True)
        if max(need, build) > free:
            rows.append({"model": arch.name, "stage": stage, "regime": stage_regime, "skipped": True,
                         "estimate_gib": round(max(need, build) / gib, 2)})
        else:
            runnable.append(stage)
    if not runnable:
        return
    with tempfile.TemporaryDirectory(prefix=f"scale-{arch.name}-") as folder:
        started = time.perf_counter()
        save_random_model(arch, Path(folder), device)
        print(f"# {arch.name}: {counts['total'] / 1e6:.1f} M parameters ({counts['embedding'] / 1e6:.1f} M in "
              f"embeddings), {d['layers']} layers x {d['width']}, vocabulary {d['vocab']}; default regime {regime}; "
              f"built in {time.perf_counter() - started:.0f} s", flush=True)
        bench = Bench(arch, Path(folder), device, args)
        results: dict = {}
        if "finetune" in runnable:
            with PeakMemory(device) as memory:
                measured = bench.finetune()
            results["finetune"] = (measured, memory.peak)
            _emit(arch, "finetune", bench.regime_seen, results["finetune"], peak, rows)
        _release()
        analysis_regime = "4-bit" if regime == "qlora" else "fp32"
        for stage in ("importance", "attention", "attribute", "extract", *DECODER_STAGES):
            if stage in runnable:
                _emit(arch, stage, analysis_regime, getattr(bench, stage)(), peak, rows)
                _release()


def _emit(arch: Arch, stage: str, regime: str, result, peak: float, rows: list[dict]) -> None:
    measured, memory = result
    row = {"model": arch.name, "stage": stage, "regime": regime, "tokens": int(measured.tokens),
           "unit": measured.unit, "seconds": round(measured.seconds, 3),
           "tokens_per_s": round(measured.tokens / measured.seconds, 1),
           "peak_mib": round(memory / 2 ** 20) if memory is not None else None,
           "gflop_per_s": round(measured.flops / measured.seconds / 1e9, 1),
           "mfu_pct": round(100 * measured.flops / measured.seconds / peak, 1), "note": measured.note}
    rows.append(row)
    print(_line(row), flush=True)


HEADER = f"{'model':<10} {'stage':<11} {'regime':<7} {'tokens/s':>10} {'unit':<19} {'peak MiB':>9} " \
         f"{'GFLOP/s':>8} {'MFU %':>6}  note"


def _line(row: dict) -> str:
    if row.get("skipped"):
        return f"{row['model']:<10} {row['stage']:<11} {row['regime']:<7} skipped (estimate {row['estimate_gib']} GiB)"
    memory = f"{row['peak_mib']:,}" if row["peak_mib"] is not None else "-"
    return (f"{row['model']:<10} {row['stage']:<11} {row['regime']:<7} {row['tokens_per_s']:>10,.1f} "
            f"{row['unit']:<19} {memory:>9} {row['gflop_per_s']:>8.1f} {row['mfu_pct']:>6.1f}  {row['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--models", default=None, help=f"comma-separated, from {', '.join(ARCHS)} [default: cpu "
                                                      f"{','.join(CPU_MODELS)}; cuda all]")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {', '.join(STAGES)}")
    parser.add_argument("--steps", type=int, default=2, help="timed fine-tuning steps (after one warm-up step)")
    parser.add_argument("--items", type=int, default=None, help="items per analysis stage [default: 16 cpu, 64 cuda]")
    parser.add_argument("--ig-items", type=int, default=None, help="items explained [default: 1 cpu, 4 cuda]")
    parser.add_argument("--ig-steps", type=int, default=50, help="integration steps (bioprobe's default)")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens generated per prompt [default: 16 cpu, "
                                                                     "64 cuda]")
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    args = parser.parse_args(argv)
    import torch

    cpu = args.device == "cpu"
    if not cpu and not torch.cuda.is_available():
        print("--device cuda was asked for, but torch sees no CUDA GPU on this machine; use --device cpu.",
              file=sys.stderr)
        return 2
    models = [m.strip() for m in (args.models or ",".join(CPU_MODELS if cpu else ARCHS)).split(",") if m.strip()]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    for name, known, what in ((models, ARCHS, "model"), (stages, STAGES, "stage")):
        unknown = [n for n in name if n not in known]
        if unknown:
            print(f"Unknown {what} '{unknown[0]}'; choose from {', '.join(known)}.", file=sys.stderr)
            return 2
    args.stages = stages
    args.items = args.items or (16 if cpu else 64)
    args.ig_items = args.ig_items or (1 if cpu else 4)
    args.new_tokens = args.new_tokens or (16 if cpu else 64)
    device = "cpu" if cpu else "cuda"
    peaks = matmul_peak(device)
    peak = peaks["float32"] if cpu else peaks["bfloat16"]
    print(f"device {device}" + ("" if cpu else f" ({torch.cuda.get_device_name()})") + f", {torch.get_num_threads()} "
          f"threads; measured matmul peak: " + ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in peaks.items())
          + f"; MFU against {'float32' if cpu else 'bfloat16'}; load {os.getloadavg()[0]:.2f}", flush=True)
    print(HEADER, flush=True)
    rows: list[dict] = []
    import datasets
    from transformers.utils import logging

    logging.set_verbosity_error()
    datasets.disable_progress_bars()
    for name in models:
        run_arch(ARCHS[name], device, args, peak, rows)
    after = matmul_peak(device)
    if max(after.values()) > max(peaks.values()) * 1.1:
        later = ", ".join(f"{k} {v / 1e9:,.0f}" for k, v in after.items())
        print(f"note: the matmul peak measured after the runs is higher ({later} GFLOP/s): the machine was busier at "
              "the start; MFU above is against the first.")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "matmul_peak_flops": peaks, "matmul_peak_after": after,
                                         "rows": rows, "load": os.getloadavg()}, indent=1))
    print()
    print(HEADER)
    for row in rows:
        print(_line(row))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
