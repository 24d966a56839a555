"""The activation cache: pooled vectors of every layer, per model, checkpoint, task, split and pooling, on disk.

`get_activations(...)` returns the cached `[layers, items, dim]` float16 array (memory-mapped), extracting it first
when it is missing or stale (the model's files changed since).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.registry import resolve_model
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
        record: That run's run.json.
    """

    name: str
    key: str
    kind: str
    training_size: int
    checkpoint: Path | None = None
    record: dict | None = None


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
    record = runstore.read_json(folder / "run.json")
    return Source(name, runstore.run_label(training_size, seed, objective), record["model_kind"], training_size,
                  folder, record)


def run_data(source: Source, data: str | None) -> str | None:
    """The NER / NLI data an analysis of `source` reads: `data` when given, else the data its run was tuned on.

    Raises:
        BioprobeError: when the run was tuned on instruction data (not NER / NLI) and no `data` is given.
    """
    if data is not None or source.record is None:
        return data
    record = source.record
    if record.get("objective") == "instruct" and not record.get("data", {}).get("built", True):
        raise BioprobeError(f"{source.name} {source.key} was tuned on instruction data ({record['data']['source']}), "
                            "not NER / NLI data; pass --data with the NER / NLI data to analyse it on.")
    return record.get("request", {}).get("data")


def get_activations(task: str, model_name: str, training_size: int = 0, split: str = "test",
                    pooling: str | None = None, limit: int | None = None, data: str | None = None, seed: int = 42,
                    max_length: int = 128, batch_tokens: int | None = None, runs_dir=None, baseline: str | None = None,
                    device: str | None = None, labels: tuple[str, ...] | None = None, overwrite: bool = False,
                    objective: str = "classifier", in_prompt: bool = False,
                    template: str | None = None) -> Activations:
    """Pooled vectors of every layer for one split, from the cache or extracted now.

    Args:
        task: The task's name.
        model_name: Registry name, hub id or local folder (as given to `bioprobe finetune`).
        training_size: 0 for the pretrained model (shared by every training size), N for the tuned checkpoint.
        split: "train", "validation" or "test".
        pooling: One of the task's poolings (`Task.poolings`; default its first: NER "first", NLI "joint-mean").
        limit: Use a seeded sample of this many sentences / pairs of the split (the same for every model).
        data: Data source; default: the tuning run's data for N > 0, else the task default.
        seed: Seed of the tuning run (and of the random-init weights, the `limit` sample and in-prompt
            instructions).
        max_length: Longest input in subwords (longer inputs are truncated and counted).
        batch_tokens: Padded tokens per forward pass (default: by device, see `bioprobe.probing.extract.BATCH_TOKENS`).
        runs_dir: The runs dir; the cache lives in `RUNS/activations/`.
        baseline: "random-init" for freshly initialised weights of the same architecture.
        device: cpu or cuda.
        labels: Label names for integer labels (`--labels`).
        overwrite: Extract again even when the cache is current.
        objective: Which tuned run of size N: "classifier" or "instruct".
        in_prompt: Encode each item inside an instruction prompt (`bioprobe.probing.extract.plan_in_prompt`).
        template: Prompt format with `in_prompt` (default: the run's, else medtuned).

    Returns:
        The activations (memory-mapped).
    """
    spec = get_task(task)
    if split not in SPLITS:
        raise BioprobeError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    pooling = pooling or spec.default_pooling
    source = find_source(spec.name, model_name, training_size, seed, runs_dir, baseline, objective)
    spec.check_pooling(pooling, source.kind, source.name)
    if in_prompt and source.kind != "decoder":
        raise BioprobeError(f"--in-prompt encodes items inside an instruction prompt for a decoder; {source.name} is "
                            "an encoder.")
    if in_prompt and pooling not in spec.prompt_poolings:
        raise BioprobeError(f"Pooling '{pooling}' cannot be used inside one prompt; use "
                            f"{' or '.join(spec.prompt_poolings)} with --in-prompt.")
    data = run_data(source, data)
    if source.record is not None:
        request = source.record.get("request", {})
        labels = labels or (tuple(request["labels"]) if request.get("labels") else None)
    if in_prompt:
        template = template or (source.record or {}).get("template") or "medtuned"
    from bioprobe.data import data_key

    key = {"format": FORMAT, "data": data_key(spec.name, data), "split": split, "pooling": pooling, "limit": limit,
           "limit_seed": seed if limit else None, "max_length": max_length, "labels": labels}
    if in_prompt:
        key.update(in_prompt=True, template=template, prompt_seed=seed)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    folder = (runstore.runs_dir(runs_dir) / "activations" / spec.name / source.name / source.key
              / f"{split}-{pooling}{'-in-prompt' if in_prompt else ''}-len{max_length}-{digest}")
    fingerprint = _fingerprint(source, model_name, seed)
    if not overwrite and fingerprint is not None:
        cached = _open(folder)
        if cached is not None and cached.meta["fingerprint"] == fingerprint:
            return cached
    return _extract(spec.name, source, model_name, folder, key, split=split, pooling=pooling, limit=limit,
                    data=data, seed=seed, max_length=max_length, batch_tokens=batch_tokens, device=device,
                    labels=labels, template=template if in_prompt else None)


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
        if source.record.get("lora"):
            base = source.record["model_source"]
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
                              seed, device=device, merge=True, objective=source.record.get("objective", "classifier"))
    resolved = resolve_model(model_name)
    if source.key.startswith("random-init"):
        transformers.set_seed(seed)
        return load_model(resolved, head="base", random_init=True, device=device)
    return load_model(resolved, head="base", four_bit=wants_four_bit(resolved), device=device)


def _extract(task: str, source: Source, model_name: str, folder: Path, key: dict, *, split, pooling, limit, data,
             seed, max_length, batch_tokens, device, labels, template=None) -> Activations:
    """Extract one split into `folder` (written aside first, so an old cache survives a failed run)."""
    import time

    from bioprobe.data import load_task_data

    spec = get_task(task)
    task_data = load_task_data(task, data, labels)
    rows = task_data.splits[split]
    if len(rows) == 0:
        raise BioprobeError(f"The {split} split of {task_data.source} is empty; there is nothing to probe.")
    chosen = _select(len(rows), limit, seed)
    rows = rows.select(chosen)
    columns = rows[:]  # every column as Python lists, read once: indexing a Dataset column is an Arrow lookup each
    loaded = _load(task, source, model_name, seed, device)
    tokenizer = loaded.tokenizer
    if template is not None:
        plan = plan_in_prompt(task, columns, chosen, tokenizer, pooling, max_length, template, seed, task_data.labels)
    else:
        plan = spec.probe_plan(columns, tokenizer, pooling, source.kind, max_length)
    partial = folder.with_name(f"{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.perf_counter()
    stats = run_plan(loaded.model, plan, partial / "features.npy", tokenizer.pad_token_id, batch_tokens,
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
        "fingerprint": _fingerprint(source, model_name, seed), "layers": stats["layers"], "items": stats["items"],
        "dim": stats["dim"], "units": len(chosen), "tokens": stats["tokens"], "truncated": plan.n_truncated,
        "truncated_unit": spec.items, "clipped_values": stats["clipped"],
        "seconds": round(seconds, 2), "environment": runstore.environment(),
    }
    runstore.write_json(partial / "meta.json", meta)
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)
    return _open(folder)
