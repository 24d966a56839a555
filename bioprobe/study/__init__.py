"""The study as one command: a plan (TOML) expanded into cells with deterministic ids, run resumably on one machine,
in shards or on Slurm, collected into one table (`bioprobe study`, `bioprobe collect`)."""

from bioprobe.study.cells import Cell, expand, shard
from bioprobe.study.plan import Plan, builtin_plans, load_plan
from bioprobe.study.runner import Summary, run_study, status_lines

__all__ = ["Cell", "Plan", "Summary", "builtin_plans", "expand", "load_plan", "run_study", "shard", "status_lines"]
