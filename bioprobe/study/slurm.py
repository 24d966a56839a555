"""`bioprobe study PLAN --submit slurm`: one submitit job per group of cells (a fine-tuning cell and the analyses that
need it stay together), with the model's resources from the plan; a preempted or timed-out job is requeued and
resumes (finished cells are skipped, an interrupted fine-tuning resumes from its last Trainer checkpoint).
`--submit local` runs the same jobs as local processes (submitit's local executor), e.g. to test a plan."""

from __future__ import annotations

from pathlib import Path

from bioprobe.errors import BioprobeError
from bioprobe.study.cells import components
from bioprobe.study.plan import Plan

EXECUTORS = ("slurm", "local")


def _submitit():
    try:
        import submitit
    except ImportError:
        raise BioprobeError("--submit needs submitit: pip install 'bioprobe[slurm]'.") from None
    return submitit


class Worker:
    """The job: run one group of a plan's cells (`bioprobe.study.runner.run_study` restricted to them).

    submitit calls `checkpoint` on preemption or timeout: the job is requeued with the same arguments, and the
    rerun skips what finished.
    """

    def __init__(self, plan_source: str, runs_dir: str, cells: list[str]):
        self.plan_source, self.runs_dir, self.cells = plan_source, runs_dir, list(cells)

    def __call__(self) -> list[str]:
        from bioprobe.study.plan import load_plan
        from bioprobe.study.runner import run_study

        plan = load_plan(self.plan_source, runs_dir=self.runs_dir)
        return run_study(plan, only=set(self.cells)).lines()

    def checkpoint(self, *args, **kwargs):
        return _submitit().helpers.DelayedSubmission(Worker(self.plan_source, self.runs_dir, self.cells))


def submit(plan: Plan, cells: list, executor: str = "slurm", folder: str | Path | None = None) -> list:
    """Submit one job per group of cells, each with its model's resources (`[resources.MODEL]`: gpus, cpus, mem_gb,
    timeout_min, partition, account, qos).

    Args:
        plan: The plan (its source file is what each job reads back).
        cells: The cells to run (all of the plan's, or a shard's).
        executor: "slurm" or "local" (real processes on this machine, for testing a plan).
        folder: submitit's folder for job scripts and logs (default `RUNS/study/submitit`).

    Returns:
        The submitit jobs.
    """
    from bioprobe.study.store import Store

    submitit = _submitit()
    if executor not in EXECUTORS:
        raise BioprobeError(f"Unknown executor '{executor}'; use {' or '.join(EXECUTORS)}.")
    folder = Path(folder or Store.of(plan.runs_dir).root / "submitit")
    jobs = []
    for group in components(cells):
        resources = plan.resources_of(group[0].model)
        runner = submitit.AutoExecutor(folder=folder, cluster=executor)
        parameters = {"timeout_min": int(resources.get("timeout_min", 240)), "name": f"bioprobe-{group[0].id}",
                      "gpus_per_node": int(resources.get("gpus", 0)), "tasks_per_node": 1,
                      "cpus_per_task": int(resources.get("cpus", 4)), "mem_gb": float(resources.get("mem_gb", 16))}
        if executor == "slurm":
            for key in ("partition", "account", "qos"):
                if resources.get(key):
                    parameters[f"slurm_{key}"] = resources[key]
        runner.update_parameters(**parameters)
        jobs.append(runner.submit(Worker(plan.source, plan.runs_dir, [cell.id for cell in group])))
    return jobs
