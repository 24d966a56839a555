"""Run a plan's cells: skip finished ones, lock running ones, wait for the fine-tuning cells an analysis needs,
record failures without stopping, and end with a summary; `--dry-run` and `--status` only look."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.stages import STAGES, numbers
from bioprobe.study.cells import Cell, expand, shard
from bioprobe.study.plan import Plan
from bioprobe.study.store import Store

POLL_S = 5.0
"""How often a worker looks again at cells that wait for another worker."""


@dataclass
class Summary:
    """What one worker did.

    Attributes:
        done: Cells this worker ran to the end.
        skipped: Cells that were already finished.
        failed: Cell id -> one-sentence error (its log is in `RUNS/study/logs/`).
        blocked: Cell id -> why it could not run (a cell it needs failed).
        elsewhere: Cells another live worker holds.
        seconds: Cell id -> seconds inside the cell.
        stages: Stage -> seconds inside its cells.
        wall_s: Seconds of the whole run.
    """

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def overhead_s(self) -> float:
        """Seconds of orchestration per cell this worker looked at (wall time outside the cells)."""
        n = len(self.done) + len(self.skipped) + len(self.failed) + len(self.blocked)
        return (self.wall_s - sum(self.seconds.values())) / n if n else 0.0

    def lines(self) -> list[str]:
        out = [f"{len(self.done)} cells run, {len(self.skipped)} already finished, {len(self.failed)} failed, "
               f"{len(self.blocked)} blocked, {len(self.elsewhere)} running elsewhere; {self.wall_s / 60:.1f} min "
               f"({self.overhead_s:.2f} s orchestration per cell)"]
        out += [f"failed: {cell}: {error}" for cell, error in self.failed.items()]
        out += [f"blocked: {cell}: {why}" for cell, why in self.blocked.items()]
        return out

    def problem(self, runs_dir) -> str | None:
        """One sentence on the cells that failed or could not run (None when there are none)."""
        if not self.failed and not self.blocked:
            return None
        counts = " and ".join(part for part in (f"{len(self.failed)} cells failed" if self.failed else "",
                                                f"{len(self.blocked)} could not run" if self.blocked else "")
                              if part)
        return (f"{counts} (errors and logs in {runs_dir}/study/failed/ and study/logs/); every other cell "
                "finished and is kept.")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """"i/n" -> (i, n); None -> the Slurm array's task (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`, counted
    from `SLURM_ARRAY_TASK_MIN`) when there is one, else None (every cell).

    Raises:
        BioprobeError: for text that is not i/n.
    """
    if text is None:
        task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if task is None or count is None:
            return None
        return int(task) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", 0)), int(count)
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BioprobeError(f"--shard '{text}' is not i/n (e.g. 0/4).") from None
    return index, count


def cells_of(plan: Plan, shard_spec: tuple[int, int] | None = None) -> list[Cell]:
    cells = expand(plan)
    return shard(cells, *shard_spec) if shard_spec else cells


def state(store: Store, cell: Cell) -> str:
    """done, running (a live worker holds it), stale (its worker died), failed or missing."""
    if store.done(cell.id):
        return "done"
    held = store.holder(cell.id)
    if held is not None:
        return "stale" if held["stale"] else "running"
    return "failed" if store.failed(cell.id) else "missing"


def run_cell(cell: Cell, log: Path, echo: bool = False) -> dict:
    """Run one cell in this process (its output to its log) and return what its record keeps.

    A fine-tuning cell with `processes` > 1 (the plan's resources) runs under `torchrun` instead.
    """
    with open(log, "a") as handle:
        handle.write(f"=== {cell.describe()} ({cell.id}) at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        stream = handle if not echo else _Tee(handle, sys.stderr)
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            stage = STAGES[cell.stage]
            return stage.kept(cell.settings, stage(cell.settings))


def run_torchrun(cell: Cell, log: Path, processes: int) -> dict:
    """A fine-tuning cell on several processes (GPUs) through `torchrun` and the existing DDP path."""
    import subprocess

    from bioprobe.settings import to_args

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "bioprobe.cli", "finetune", *to_args(cell.settings)]
    with open(log, "a") as handle:
        handle.write(f"=== {cell.describe()} ({cell.id}): {' '.join(command)}\n")
        handle.flush()
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BioprobeError(f"torchrun exited with code {done.returncode}; see {log}.")
    folder = runstore.checkpoint_dir(cell.settings.runs_dir, cell.settings.task, _stored(cell),
                                     cell.settings.training_size, cell.settings.seed, cell.settings.objective)
    return {"outputs": [str(folder)], "metrics": numbers(runstore.read_run(folder).metrics), "processes": processes}


def _stored(cell: Cell) -> str:
    from bioprobe.registry import resolve_model

    return resolve_model(cell.settings.model_name).name


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def run_study(plan: Plan, shard_spec: tuple[int, int] | None = None, echo=print, verbose: bool = False,
              wait: bool = True, only: set[str] | None = None, overwrite: bool = False) -> Summary:
    """Run this worker's cells of a plan.

    Finished cells (their record exists) are skipped; a cell another live worker holds is left to it; an analysis
    waits until the fine-tuning cells it needs are finished (run here when they are in this worker's cells, or by
    another worker) and is blocked when one of them failed. A failing cell is recorded with its error and log and
    the others go on. A fine-tuning cell whose model has `processes` > 1 in the plan's resources runs under
    torchrun.

    Args:
        plan: The plan.
        shard_spec: `(i, n)`: only the i-th of n partitions (see `bioprobe.study.cells.shard`).
        echo: Where one line per cell goes.
        verbose: Also show each cell's own output (it always goes to its log).
        wait: Wait for cells other workers hold that this worker's analyses need (else leave them).
        only: Run only these cell ids (a submitted job's group).
        overwrite: Run every cell again (its stage recomputing instead of reusing), finished or not.

    Returns:
        The summary.
    """
    started = time.perf_counter()
    store = Store.of(plan.runs_dir)
    cells = cells_of(plan, shard_spec)
    if only is not None:
        cells = [cell for cell in cells if cell.id in only]
    if overwrite:
        import dataclasses

        for cell in cells:
            store.path("cells", cell.id).unlink(missing_ok=True)
        cells = [dataclasses.replace(cell, settings=cell.settings.replace(overwrite=True)) for cell in cells]
    by_id = {cell.id: cell for cell in cells}
    summary = Summary()
    pending = list(cells)
    total = len(cells)
    while pending:
        progressed, waiting = False, []
        for cell in pending:
            if store.done(cell.id):
                summary.skipped.append(cell.id)
                progressed = True
                continue
            failed_need = next((n for n in cell.needs if n in summary.failed or n in summary.blocked
                                or (n not in by_id and store.failed(n) and not store.done(n))), None)
            if failed_need is not None:
                summary.blocked[cell.id] = f"needs {failed_need}, which failed"
                progressed = True
                continue
            if any(not store.done(n) for n in cell.needs):
                waiting.append(cell)
                continue
            if not store.acquire(cell.id):
                waiting.append(cell)
                continue
            if store.done(cell.id):  # finished by another worker between the check and the lock
                store.release(cell.id)
                summary.skipped.append(cell.id)
                progressed = True
                continue
            _run_one(plan, store, cell, summary, echo, verbose, position=f"{len(summary.done) + 1}/{total}")
            progressed = True
        pending = waiting
        if not waiting:
            break
        if not progressed:  # everything left waits for other workers
            def live(cell_id: str) -> bool:
                held = store.holder(cell_id)
                return held is not None and not held["stale"]

            if wait and any(live(cell.id) or any(live(n) for n in cell.needs) for cell in waiting):
                time.sleep(POLL_S)
                continue
            for cell in waiting:
                if live(cell.id):
                    summary.elsewhere.append(cell.id)
                else:
                    summary.blocked[cell.id] = "needs a cell that is neither finished nor running anywhere"
            break
    summary.wall_s = time.perf_counter() - started
    return summary


def _run_one(plan: Plan, store: Store, cell: Cell, summary: Summary, echo, verbose: bool, position: str) -> None:
    log = store.log(cell.id)
    store.journal("start", cell.id)
    echo(f"[{position}] {cell.describe()} ...")
    began = time.perf_counter()
    try:
        with store.holding(cell.id):
            processes = int(plan.resources_of(cell.model).get("processes", 1))
            if cell.stage == "finetune" and processes > 1 and "LOCAL_RANK" not in os.environ:
                outcome = run_torchrun(cell, log, processes)
            else:
                outcome = run_cell(cell, log, echo=verbose)
            seconds = time.perf_counter() - began
            store.finish(cell.id, {"cell": cell.id, "stage": cell.stage, "describe": cell.describe(),
                                   "needs": list(cell.needs), "seconds": round(seconds, 2), **outcome,
                                   "settings": _jsonable(cell.settings), "worker": _worker(),
                                   "environment": runstore.environment()})
    except KeyboardInterrupt:
        store.journal("interrupted", cell.id)
        raise
    except Exception as err:  # one failing cell must not stop the others: record it, log the traceback
        seconds = time.perf_counter() - began
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        with open(log, "a") as handle:
            handle.write(traceback.format_exc())
        store.fail(cell.id, {"cell": cell.id, "error": message, "type": type(err).__name__, "log": str(log),
                             "seconds": round(seconds, 2), "worker": _worker(),
                             "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        store.journal("failed", cell.id, error=message)
        summary.failed[cell.id] = message
        echo(f"    failed after {seconds:.1f} s: {message} (log: {log})")
        return
    store.journal("finish", cell.id, seconds=round(seconds, 2))
    summary.done.append(cell.id)
    summary.seconds[cell.id] = seconds
    summary.stages[cell.stage] = summary.stages.get(cell.stage, 0.0) + seconds
    reused = " (reused)" if outcome.get("reused") else ""
    scores = ", ".join(f"{k} {v:.3f}" for k, v in list(outcome.get("metrics", {}).items())[:3])
    echo(f"    {seconds:.1f} s{': ' + scores if scores else ''}{reused}")


def _worker() -> dict:
    from bioprobe.study.store import owner

    return owner()


def _jsonable(settings) -> dict:
    from bioprobe.settings import values

    return values(settings)


def status_lines(plan: Plan, shard_spec: tuple[int, int] | None = None, every: bool = False) -> list[str]:
    """`--status` (counts, a progress bar, the time left estimated from finished cells) and `--dry-run` (`every`:
    one line per cell with its state)."""
    store = Store.of(plan.runs_dir)
    cells = cells_of(plan, shard_spec)
    states = {cell.id: state(store, cell) for cell in cells}
    counts = {name: sum(1 for s in states.values() if s == name) for name in
              ("done", "running", "stale", "failed", "missing")}
    lines = []
    if every:
        width = max((len(cell.id) for cell in cells), default=0)
        for cell in cells:
            needs = f"  needs {', '.join(cell.needs)}" if cell.needs else ""
            lines.append(f"{states[cell.id]:8s} {cell.id:{width}s}  {cell.describe()}{needs}")
    bar_width = 30
    filled = round(bar_width * counts["done"] / len(cells)) if cells else bar_width
    lines.append(f"[{'#' * filled}{'.' * (bar_width - filled)}] {counts['done']}/{len(cells)} done, "
                 f"{counts['running']} running, {counts['stale']} stale, {counts['failed']} failed, "
                 f"{counts['missing']} missing")
    left = _time_left(store, cells, states)
    if left is not None:
        lines.append(f"about {left / 60:.0f} min of work left (from the mean time of finished cells per stage)")
    for cell in cells:
        if states[cell.id] == "failed":
            lines.append(f"failed: {cell.id}: {store.failed(cell.id).get('error')}")
    return lines


def _time_left(store: Store, cells: list[Cell], states: dict) -> float | None:
    spent: dict[str, list[float]] = {}
    for cell in cells:
        record = store.done(cell.id)
        if record is not None and record.get("seconds") is not None:
            spent.setdefault(cell.stage, []).append(record["seconds"])
    if not spent:
        return None
    overall = [s for values_ in spent.values() for s in values_]
    mean = {stage: sum(v) / len(v) for stage, v in spent.items()}
    fallback = sum(overall) / len(overall)
    return sum(mean.get(cell.stage, fallback) for cell in cells if states[cell.id] != "done")


def notes(plan: Plan, summary: Summary) -> str:
    """The report's opening: what the plan is and how this run went (time by stage, what was reused)."""
    parts = [plan.description or f"Study plan {plan.name} ({plan.source}).",
             f"Plan `{plan.name}`: tasks {', '.join(plan.tasks)}; models {', '.join(plan.models)}; training sizes "
             f"{', '.join(map(str, plan.sizes))} %; seeds {', '.join(map(str, plan.seeds))}; objectives "
             f"{', '.join(plan.objectives)}; analyses {', '.join(plan.analyses)}; the settings of every cell are in "
             f"`study/cells/` and each run's `run.json`."]
    if not summary.done:
        parts.append("Every cell was already finished; nothing was recomputed.")
    else:
        stages = ", ".join(f"{stage} {seconds / 60:.1f}" for stage, seconds in summary.stages.items())
        skipped = f" ({len(summary.skipped)} cells were already finished)" if summary.skipped else ""
        parts.append(f"This run took {summary.wall_s / 60:.1f} minutes ({stages}){skipped}.")
    if summary.failed:
        parts.append(f"{len(summary.failed)} cells failed: " + "; ".join(f"{c}: {e}" for c, e in
                                                                          summary.failed.items()))
    return "\n\n".join(parts) + "\n"


def complete(plan: Plan, summary: Summary, title: str | None = None, echo=print) -> Path | None:
    """After a run: merge every table (`bioprobe collect`) and write the report and figures — once for the study,
    however many workers finish at once. A worker whose plan still has cells running in other (live) workers leaves
    the report to them; of the workers finishing together, one writes it (`Store.write_report`).

    Returns:
        Path of the report, or None when another worker writes it (said in one line through `echo`).
    """
    from bioprobe.report import write_report
    from bioprobe.study.collect import collect

    store = Store.of(plan.runs_dir)
    running = [cell.id for cell in expand(plan) if store.done(cell.id) is None
               and (held := store.holder(cell.id)) is not None and not held["stale"]]
    if running:
        echo(f"{len(running)} cells still run in other workers ({', '.join(running[:3])}"
             f"{', ...' if len(running) > 3 else ''}); the last of them to finish writes the report.")
        return None
    report = runstore.runs_dir(plan.runs_dir) / "report.md"

    def work():
        collect(plan.runs_dir, plan)
        write_report(plan.runs_dir, title=title or f"bioprobe study {plan.name}", notes=notes(plan, summary))

    if not store.write_report(work):
        echo("Another worker is writing the report; it includes this worker's cells.")
        return None
    return report


def run_demo(runs_dir: str | Path = "runs/demo", quick: bool = False, overwrite: bool = False,
             echo=print) -> tuple[Path | None, Summary]:
    """`bioprobe demo`: the built-in plan `demo` (or `demo-quick`) run to the end, then the report.

    Returns:
        Path of the report (None when a concurrent worker on the same runs dir writes it), and the run's summary
        (its failed and blocked cells).
    """
    from bioprobe.study.plan import load_plan

    plan = load_plan("demo-quick" if quick else "demo", runs_dir=str(runs_dir))
    summary = run_study(plan, echo=echo, overwrite=overwrite)
    for line in summary.lines():
        echo(line)
    return complete(plan, summary, title="bioprobe demo", echo=echo), summary
