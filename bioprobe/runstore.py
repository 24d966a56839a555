"""The run store: where checkpoints and tidy result tables live, and what `run.json` records.

Layout under the runs dir (`--runs-dir`, env `BIOPROBE_RUNS`, default `./runs`):
`checkpoints/{task}/{model}/size{N}-seed{S}[-instruct]/`, `results/{analysis}/{task}/{model}/size{N}-seed{S}[-instruct]
[-variant].csv`, `generations/{task}/{model}/size{N}-seed{S}-instruct-{variant}.jsonl` and the activation cache
`activations/{task}/{model}/{pretrained|size{N}-seed{S}[-instruct]|random-init-seed{S}}/...`.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bioprobe.errors import BioprobeError

TIDY_COLUMNS = ("analysis", "task", "model", "training_size", "seed", "layer", "head", "metric", "value")
PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "datasets", "accelerate", "scikit-learn", "seqeval",
            "numpy", "captum", "bioprobe")


def runs_dir(path: str | Path | None = None) -> Path:
    """The runs dir: the argument, else `BIOPROBE_RUNS`, else `./runs`."""
    return Path(path or os.environ.get("BIOPROBE_RUNS") or "runs").expanduser().resolve()


def run_label(training_size: int, seed: int, objective: str = "classifier") -> str:
    """`size{N}-seed{S}` (classifier fine-tuning) or `size{N}-seed{S}-instruct`: the folder and file stem of one run,
    so the two objectives' runs of a model sit side by side."""
    return f"size{training_size}-seed{seed}" + ("" if objective == "classifier" else f"-{objective}")


def checkpoint_dir(root: str | Path | None, task: str, model: str, training_size: int, seed: int,
                   objective: str = "classifier") -> Path:
    """Folder of one fine-tuning run."""
    return runs_dir(root) / "checkpoints" / task / model / run_label(training_size, seed, objective)


def results_path(root: str | Path | None, analysis: str, task: str, model: str, training_size: int,
                 seed: int, variant: str | None = None, objective: str = "classifier") -> Path:
    """Tidy table of one analysis run; `variant` (e.g. `logistic-first`) keeps runs with other settings apart."""
    stem = run_label(training_size, seed, objective) + (f"-{variant}" if variant else "")
    return runs_dir(root) / "results" / analysis / task / model / f"{stem}.csv"


def generations_path(root: str | Path | None, task: str, model: str, training_size: int, seed: int,
                     variant: str, objective: str = "instruct") -> Path:
    """JSONL of every generation of one evaluation (prompt, output, parse, gold), what `--rescore` reads."""
    stem = run_label(training_size, seed, objective) + f"-{variant}"
    return runs_dir(root) / "generations" / task / model / f"{stem}.jsonl"


def is_complete(folder: Path) -> bool:
    """A run is complete when its run.json says so (written last)."""
    try:
        return json.loads((folder / "run.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


@dataclass
class RunRecord:
    """What a tuned run's `run.json` records (classifier, instruction or conversation tuning), written by `write_run`
    once the weights are saved and read by `read_run`, by attribute. A field a kind of run does not have stays None
    and out of the file; keys of a file that this version does not know are kept in `extra` (and written back).

    Attributes:
        status: "complete" (written last: a folder without it is an unfinished run).
        request: The settings that decide the weights; the same run asked with others is refused.
        task, objective, training_size, seed: Which run.
        model, model_source, model_kind: Its name (registry or folder name), what it was loaded from, encoder or
            decoder.
        head: "token", "sequence", "multilabel" or "causal-lm".
        lora, four_bit: Whether a LoRA adapter was trained, on a 4-bit base.
        parameters: Parameter counts, total and trainable.
        settings: Optimiser, lengths, device and processes as used; defaults: the objective's defaults and which
            settings were given.
        weights: Instruction and conversation runs: "trained", or "released" at size 0 (the model untouched).
        template: Their prompt format.
        labels: The label names (classifier heads, instruction answers).
        added_tokens: Tokens added to the tokenizer (RE entity markers as tokens).
        data: Source, split sizes, limits and the exact training subset (`subset_indices`).
        truncated: Inputs cut at the length limit, per split.
        training: What training did (steps, loss, resumption, time).
        metrics: Test scores; evaluation: how they were obtained where that needs saying (CLS thresholds).
        environment: Package versions, commit, platform, time.
    """

    status: str = "complete"
    request: dict = field(default_factory=dict)
    task: str = ""
    objective: str = "classifier"
    model: str = ""
    model_source: str = ""
    model_kind: str = ""
    training_size: int = 0
    seed: int = 0
    head: str = ""
    lora: bool = False
    four_bit: bool = False
    parameters: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    weights: str | None = None
    template: str | None = None
    labels: list[str] = field(default_factory=list)
    added_tokens: list[str] | None = None
    data: dict = field(default_factory=dict)
    truncated: dict | None = None
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    evaluation: dict | None = None
    environment: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The record as `run.json` holds it (None fields left out)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    @classmethod
    def from_dict(cls, stored: dict) -> RunRecord:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in stored.items() if k in known},
                   extra={k: v for k, v in stored.items() if k not in known})


def write_run(folder: Path, record: RunRecord) -> None:
    """Write a run's `run.json` (atomically, after its weights: its status marks the run complete)."""
    write_json(Path(folder) / "run.json", record.as_dict())


def read_run(folder: Path) -> RunRecord:
    """A run's `run.json` as a `RunRecord`."""
    return RunRecord.from_dict(read_json(Path(folder) / "run.json"))


def require_checkpoint(root: str | Path | None, task: str, model: str, training_size: int, seed: int,
                       objective: str = "classifier") -> Path:
    """The folder of a finished fine-tuning run, or a clear error naming the command that makes it."""
    folder = checkpoint_dir(root, task, model, training_size, seed, objective)
    if not is_complete(folder):
        what = "fine-tuned" if objective == "classifier" else f"{objective}-tuned"
        flag = "" if objective == "classifier" else f" --objective {objective}"
        raise BioprobeError(
            f"No finished {what} checkpoint for {task}/{model} at training size {training_size} seed {seed} "
            f"in {folder.parent}; make it with `bioprobe finetune --task {task}{flag} --model_name {model} "
            f"--training_size {training_size} --seed {seed} --runs-dir {runs_dir(root)}`."
        )
    return folder


def git_commit() -> str | None:
    """The commit of the bioprobe checkout, with `+dirty` when it has local changes; None outside git."""
    here = Path(__file__).resolve().parent.parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if not top or Path(top).resolve() != here:  # installed inside somebody else's repository
            return None
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict:
    """Package versions, Python, platform and git commit, for run.json."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "packages": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@contextmanager
def atomic(path: str | Path):
    """Write `path` atomically: the block writes the yielded temporary file (beside `path`, its name unique to this
    host, process and moment, ending in `.partial` so no glob for results matches it), which then replaces `path` in
    one rename. A reader sees the old file or the new one, never half of one; writers running at once (workers of one
    study finishing together) never share a temporary name, and the last rename wins with a whole file. When the
    block raises, the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{socket.gethostname()}-{os.getpid()}-{time.time_ns()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (`atomic`)."""
    with atomic(path) as partial:
        partial.write_text(text)


def write_json(path: Path, record: dict) -> None:
    """Write JSON atomically (`atomic`: a crash or a concurrent writer never leaves half a file)."""
    write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict:
    """Read a JSON record."""
    return json.loads(Path(path).read_text())


def read_table(path: Path, **options):
    """One tidy table as `write_table` wrote it: an empty cell is missing, and nothing else is (pandas would read a
    token or label written `NA`, `None`, `null` or `nan`, e.g. an RE label "None", as missing)."""
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False, na_values=[""], **options)


def write_table(path: Path, rows: list[dict]) -> None:
    """Write a tidy table (CSV) atomically; the tidy columns come first."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in TIDY_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    extra = [c for c in frame.columns if c not in TIDY_COLUMNS]
    frame = frame[list(TIDY_COLUMNS) + extra]
    with atomic(path) as partial:
        frame.to_csv(partial, index=False)


def sidecar(table: Path) -> Path:
    """The record written beside a result table (`TABLE.json`): the settings it was made with, and what else its
    analysis keeps (metrics, item counts, timings)."""
    return Path(table).with_suffix(".json")


def reusable(table: Path, settings: dict, overwrite: bool = False) -> dict | None:
    """The sidecar record of a table made with exactly these settings, to reuse instead of computing the table
    again; None when the table or its record is missing, its settings differ or `overwrite` is set."""
    record_path = sidecar(table)
    if overwrite or not Path(table).is_file() or not record_path.is_file():
        return None
    record = read_json(record_path)
    return record if record.get("settings") == settings else None


def write_sidecar(table: Path, settings: dict, /, **kept) -> None:
    """Record the settings a table was made with (what `reusable` compares) and what else its analysis keeps."""
    write_json(sidecar(table), {"settings": settings, **kept})


def read_tables(root: str | Path | None, analysis: str):
    """All tidy tables of one analysis under the runs dir, concatenated (an empty frame when there are none)."""
    import pandas as pd

    files = sorted((runs_dir(root) / "results" / analysis).rglob("*.csv"))
    if not files:
        return pd.DataFrame(columns=[*TIDY_COLUMNS, "objective"])
    frame = pd.concat([read_table(f) for f in files], ignore_index=True)
    # Tables written before instruction tuning existed are classifier runs.
    frame["objective"] = frame["objective"].fillna("classifier") if "objective" in frame else "classifier"
    return frame
