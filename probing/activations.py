"""The activation cache: pooled vectors of every layer, per model, checkpoint, task, split and pooling, on disk.

`get_activations(settings)` (an `ExtractSettings`) returns the cached `[layers, items, dim]` float16 array
(memory-mapped), extracting it first when it is missing or stale (the model's files changed since).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.registry import resolve_model
from bioprobe.settings import ExtractSettings
from bioprobe.tasks import get_task
from bioprobe.probing.extract import plan_in_prompt, run_plan

SPLITS = ("train", "validation", "test")
BASELINES = ("random-init",)
FORMAT = 1  # bump when the cache layout changes
_SHARED: dict | None = None
"""Models loaded inside `sharing_models()`, by what they are loaded from (None outside it)."""


@dataclass
class Activations:
    """Cached pooled vectors of one model over one split.

    Attributes:
        folder: The cache folder.
        features: `[layers, items, dim]` float16, memory-mapped; layer 0 is the embeddings.
        unit: `[items]` index in the split of the row each item comes from (NER: its sentence; NLI: its pair).
        word: `[items]` word index in its sentence (NER; 0 where a row has one item).
        text: `[items]` the item's text where the control task keys on it (NER: the word), else empty.
        label: `[items]` gold label (NER: the BIO tag; NLI: the label).
        meta: The cache record (model, source, fingerprint, counts, truncation, timing).
    """

    folder: Path
    features: np.ndarray
    unit: np.ndarray
    word: np.ndarray
    text: np.ndarray
    label: np.ndarray
    meta: dict

    @property
    def n_layers(self) -> int:
        """Transformer layers (hidden states minus the embeddings)."""
        return self.features.shape[0] - 1


@dataclass(frozen=True)
class Source:
    """Which weights to run: the pretrained model, a fine-tuned checkpoint or a random-init baseline.

    Attributes:
        name: Model name in the runs dir and tables.
        key: Cache folder part: `pretrained`, `size{N}-seed{S}` or `random-init-seed{S}`.
        kind: "encoder" or "decoder".
        training_size: 0 for pretrained and random-init.
        checkpoint: Folder of the fine-tuning run (N > 0).
        record: That run's record (`run.json`).
    """

    name: str
    key: str
    kind: str
    training_size: int
    checkpoint: Path | None = None
    record: runstore.RunRecord | None = None


def find_source(task: str, model_name: str, training_size: int, seed: int, runs_dir, baseline: str | None,
                objective: str = "classifier") -> Source:
    """Resolve what `model_name` at `training_size` means, checking that a tuned checkpoint exists.

    Size 0 is the pretrained model (the same for both objectives: an instruction run at size 0 is the released
    model itself).

    Raises:
        BioprobeError: for an unknown baseline, a baseline with N > 0, or a missing checkpoint (naming the command
            that makes it).
    """
    if baseline is not None and baseline not in BASELINES:
        raise BioprobeError(f"Unknown baseline '{baseline}'; the one baseline is random-init.")
    if baseline and training_size:
        raise BioprobeError("The random-init baseline is an untrained model; use it with --training_size 0.")
    stored = runstore.runs_dir(runs_dir) / "checkpoints" / task / model_name
    if training_size > 0 and "/" not in model_name and stored.is_dir():
        name = model_name  # a run stored under its name (e.g. a local folder's name)
    else:
        resolved = resolve_model(model_name)
        name = resolved.name
    if training_size == 0:
        return Source(name, f"random-init-seed{seed}" if baseline else "pretrained", resolved.spec.kind, 0)
    folder = runstore.require_checkpoint(runs_dir, task, name, training_size, seed, objective)
    record = runstore.read_run(folder)
    return Source(name, runstore.run_label(training_size, seed, objective), record.model_kind, training_size,
                  folder, record)


def run_data(source: Source, data: str | None) -> str | None:
    """The task data an analysis of `source` reads: `data` when given, else the data its run was tuned on.

    Raises:
        BioprobeError: when the run was tuned on instruction data (not task data) and no `data` is given.
    """
    if data is not None or source.record is None:
        return data
    record = source.record
    if record.objective == "instruct" and not record.data.get("built", True):
        raise BioprobeError(f"{source.name} {source.key} was tuned on instruction data ({record.data['source']}), "
                            f"not {get_task(record.task).title} data; pass --data with the task data to analyse it on.")
    return record.request.get("data")


def get_activations(settings: ExtractSettings | None = None, /, *, split: str | None = None,
                    template: str | None = None, **fields) -> Activations:
    """Pooled vectors of every layer for one split, from the cache or extracted now.

    Args:
        settings: What to extract (`bioprobe.settings.ExtractSettings`: the run, its data and item sample, pooling,
            length, device, `overwrite`), as `bioprobe extract` and `run_probing` pass it down; or None and its
            fields as keyword arguments (`task=`, `model_name=`, `training_size=`, ...).
        split: "train", "validation" or "test" [default: the settings' split, which must then be one].
        template: Prompt format with `in_prompt` (default: the run's, else medtuned).
        **fields: Settings fields (when `settings` is None, or as changes to it).

    Returns:
        The activations (memory-mapped).

    Raises:
        BioprobeError: for settings that do not fit the run (pooling, in-prompt on an encoder, an unknown split).
    """
    from bioprobe.settings import build

    s = build(ExtractSettings, fields, "get_activations") if settings is None else settings.replace(**fields)
    split = split or s.split
    if split not in SPLITS:
        raise BioprobeError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    spec = get_task(s.task)
    pooling = s.pooling or spec.default_pooling
    source = find_source(spec.name, s.model_name, s.training_size, s.seed, s.runs_dir, s.baseline, s.objective)
    spec.check_pooling(pooling, source.kind, source.name)
    if s.in_prompt and source.kind != "decoder":
        raise BioprobeError(f"--in-prompt encodes items inside an instruction prompt for a decoder; {source.name} is "
                            "an encoder.")
    if s.in_prompt and pooling not in spec.prompt_poolings:
        raise BioprobeError(f"Pooling '{pooling}' cannot be used inside one prompt; use "
                            f"{' or '.join(spec.prompt_poolings)} with --in-prompt.")
    labels = s.labels
    if source.record is not None:
        request = source.record.request
        labels = labels or (tuple(request["labels"]) if request.get("labels") else None)
    if s.in_prompt:
        template = template or (source.record.template if source.record is not None else None) or "medtuned"
    s = s.replace(split=split, pooling=pooling, data=run_data(source, s.data), labels=labels)
    from bioprobe.data import data_key

    key = {"format": FORMAT, "data": data_key(spec.name, s.data), "split": split, "pooling": pooling,
           "limit": s.limit, "limit_seed": s.seed if s.limit else None, "max_length": s.length, "labels": labels}
    if s.in_prompt:
        key.update(in_prompt=True, template=template, prompt_seed=s.seed)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    folder = (runstore.runs_dir(s.runs_dir) / "activations" / spec.name / source.name / source.key
              / f"{split}-{pooling}{'-in-prompt' if s.in_prompt else ''}-len{s.length}-{digest}")
    fingerprint = _fingerprint(source, s.model_name, s.seed)
    if not s.overwrite and fingerprint is not None:
        cached = _open(folder)
        if cached is not None and cached.meta["fingerprint"] == fingerprint:
            return cached
    return _extract(s, source, folder, key, template if s.in_prompt else None)


def _open(folder: Path) -> Activations | None:
    """A complete cache folder, or None."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        items = np.load(folder / "items.npz")
        features = np.load(folder / "features.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    return Activations(folder, features, items["unit"], items["word"], items["text"], items["label"], meta)


def _file_stamps(folder: Path) -> list:
    suffixes = {".json", ".safetensors", ".bin", ".gguf", ".model", ".txt", ".pt", ".pth"}
    return [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(Path(folder).iterdir())
            if f.is_file() and f.suffix in suffixes]


def _fingerprint(source: Source, model_name: str, seed: int) -> str | None:
    """A hash of what the weights are made of: the checkpoint's (and base model's) files, or the hub revision.

    None when it cannot be told without loading the model (a hub model not in the local hub cache yet).
    """
    import transformers

    parts: list = [source.key]
    if source.checkpoint is not None:
        parts.append(_file_stamps(source.checkpoint))
        if source.record.lora:
            base = source.record.model_source
            parts.append(_file_stamps(base) if Path(base).is_dir() else _hub_revision(base))
    else:
        resolved = resolve_model(model_name)
        where = Path(resolved.source)
        parts.append(_file_stamps(where) if where.is_dir() else _hub_revision(resolved.source))
        if source.key.startswith("random-init"):  # initialisers can change between versions
            parts.append(("transformers", transformers.__version__, seed))
    if any(part is None for part in parts):
        return None
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _hub_revision(repo: str) -> str | None:
    """The locally cached snapshot (its path names the commit) of a hub model, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "config.json")
    except Exception:  # an odd repo name: treat as not cached
        return None
    return str(Path(found).parent) if isinstance(found, str) else None


def _select(n: int, limit: int | None, seed: int) -> list[int]:
    if limit is None or limit >= n:
        return list(range(n))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=limit, replace=False).tolist())


@contextlib.contextmanager
def sharing_models():
    """Within the block, each model is loaded once and reused by every split extracted from it (a probing run
    extracts train, validation and test from the same weights); the models are dropped when it ends."""
    global _SHARED
    outer = _SHARED
    if outer is None:
        _SHARED = {}
    try:
        yield
    finally:
        if outer is None:
            _SHARED = None


def _load(task: str, source: Source, model_name: str, seed: int, device: str | None):
    """The model to run for a source, with its tokenizer (loaded once per source inside `sharing_models()`)."""
    key = (task, source.name, source.key, str(source.checkpoint), model_name, seed, device)
    if _SHARED is not None and key in _SHARED:
        return _SHARED[key]
    loaded = _load_now(task, source, model_name, seed, device)
    if _SHARED is not None:
        _SHARED[key] = loaded
    return loaded


def _load_now(task: str, source: Source, model_name: str, seed: int, device: str | None):
    import transformers

    from bioprobe.models import load_model, wants_four_bit

    if source.checkpoint is not None:
        from bioprobe.finetune.checkpoints import load_finetuned

        return load_finetuned(source.checkpoint.parents[3], task, source.name, source.training_size,
                              seed, device=device, merge=True, objective=source.record.objective)
    resolved = resolve_model(model_name)
    if source.key.startswith("random-init"):
        transformers.set_seed(seed)
        return load_model(resolved, head="base", random_init=True, device=device)
    return load_model(resolved, head="base", four_bit=wants_four_bit(resolved), device=device)


def _extract(s: ExtractSettings, source: Source, folder: Path, key: dict, template: str | None) -> Activations:
    """Extract one split (`s.split`) into `folder` (written aside first, so an old cache survives a failed run)."""
    from bioprobe.data import load_task_data

    task, split, pooling, seed, max_length = s.task, s.split, s.pooling, s.seed, s.length
    spec = get_task(task)
    task_data = load_task_data(task, s.data, s.labels)
    rows = task_data.splits[split]
    if len(rows) == 0:
        raise BioprobeError(f"The {split} split of {task_data.source} is empty; there is nothing to probe.")
    chosen = _select(len(rows), s.limit, seed)
    rows = rows.select(chosen)
    columns = rows[:]  # every column as Python lists, read once: indexing a Dataset column is an Arrow lookup each
    loaded = _load(task, source, s.model_name, seed, s.device)
    tokenizer = loaded.tokenizer
    if template is not None:
        plan = plan_in_prompt(task, columns, chosen, tokenizer, pooling, max_length, template, seed, task_data.labels)
    else:
        plan = spec.probe_plan(columns, tokenizer, pooling, source.kind, max_length)
    # Written aside under a name of this process's own: two workers of one study may extract the same activations
    # (the pretrained model's, for probes of several sizes) at once; each writes its own copy, the first to finish
    # installs it and the other's is dropped (the same numbers).
    partial = folder.with_name(f"{folder.name}.{os.getpid()}-{time.time_ns()}.partial")
    partial.mkdir(parents=True)
    started = time.perf_counter()
    stats = run_plan(loaded.model, plan, partial / "features.npy", tokenizer.pad_token_id, s.batch_tokens,
                     desc=f"Extracting {source.name} {source.key} {task} {split}")
    seconds = time.perf_counter() - started
    keys = plan.items
    unit = np.array([chosen[s] for s, _ in keys], dtype=np.int64)
    word = np.array([w for _, w in keys], dtype=np.int64)
    texts, gold = spec.item_labels(columns, keys)
    text, label = np.array(texts, dtype=str), np.array(gold, dtype=str)
    np.savez(partial / "items.npz", unit=unit, word=word, text=text, label=label)
    meta = {
        **key, "task": task, "model": source.name, "source": source.key, "kind": source.kind,
        "training_size": source.training_size, "seed": seed, "data_source": task_data.source,
        "fingerprint": _fingerprint(source, s.model_name, seed), "layers": stats["layers"], "items": stats["items"],
        "dim": stats["dim"], "units": len(chosen), "tokens": stats["tokens"], "truncated": plan.n_truncated,
        "truncated_unit": spec.items, "clipped_values": stats["clipped"],
        "seconds": round(seconds, 2), "environment": runstore.environment(),
    }
    runstore.write_json(partial / "meta.json", meta)
    _install(partial, folder, meta["fingerprint"], s.overwrite)
    return _open(folder)


def _install(partial: Path, folder: Path, fingerprint: str | None, overwrite: bool) -> None:
    """Put a finished extraction in place of the folder's cache, unless a concurrent worker has just installed the
    same one (same fingerprint, no `overwrite`): then this copy is dropped."""
    present = _open(folder)
    if present is not None and not overwrite and fingerprint is not None and present.meta["fingerprint"] == fingerprint:
        shutil.rmtree(partial, ignore_errors=True)
        return
    if folder.exists():
        old = folder.with_name(f"{folder.name}.{os.getpid()}-{time.time_ns()}.old")
        try:
            folder.rename(old)
        except FileNotFoundError:
            pass
        else:
            shutil.rmtree(old, ignore_errors=True)
    try:
        partial.rename(folder)
    except OSError:  # a concurrent worker installed its copy first
        shutil.rmtree(partial, ignore_errors=True)
