"""The `bioprobe` command line: thin click wrappers over one Python function each, imported lazily."""

from __future__ import annotations

import functools
import sys

import click

from bioprobe.errors import BioprobeError
from bioprobe.settings import (
    AttentionSettings,
    AttributeSettings,
    ExtractSettings,
    FinetuneSettings,
    GenerateSettings,
    ProbeSettings,
    click_options,
    from_options,
)


class _Command(click.Command):
    """A command whose user errors end in one sentence and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BioprobeError as err:
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted; finished runs and Trainer checkpoints are kept, run the command again to "
                       "resume.", err=True)
            sys.exit(130)


def _stage_command(name: str, required: tuple[str, ...] = (), **command):
    """A stage's command (`bioprobe.stages`): its name and flags from the registry's settings class; the decorated
    function receives the settings object and reports the stage's result."""
    from bioprobe.stages import STAGES

    settings_class = STAGES[name].settings

    def decorate(function):
        @functools.wraps(function)
        def run(**options):
            return function(from_options(settings_class, options))

        return click.command(cls=_Command, name=name, **command)(click_options(settings_class, required=required)(run))

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bioprobe")
def main():
    """What does fine-tuning change inside a language model? Fine-tune, probe, compare."""


@_stage_command("finetune")
def finetune_cmd(settings: FinetuneSettings):
    """Fine-tune a model on a task at a training size (a classifier head, or instruction tuning) and evaluate it on
    the test split."""
    from bioprobe.finetune.train import run_finetune

    result = run_finetune(settings)
    state = "reused" if result.reused else "wrote"
    scores = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if "/" not in k)
    selection = result.record.data.get("selection", {}) if result.record else {}
    if "found" in selection:  # instruction data read as it is: how its rows were cut to the task
        from bioprobe.instructions import describe_selection

        left_out = result.folder / "left_out.jsonl"
        click.echo(describe_selection(result.record.task, selection) +
                   (f" (each listed in {left_out})" if left_out.is_file() else ""))
    elif "kept" in selection:  # conversations: the medical filter
        from bioprobe.conversations import describe_selection

        click.echo(describe_selection(selection))
    if result.record or result.reused:
        click.echo(f"{state} {result.folder}: {scores}")


@click.command(cls=_Command, name="extract")
@click_options(ExtractSettings, required=("task",))
def extract_cmd(**options):
    """Cache the pooled vectors of every layer (fp16, memory-mapped) for later analyses."""
    from bioprobe.probing.activations import get_activations, sharing_models

    settings = from_options(ExtractSettings, options)
    with sharing_models():  # --split all: one load of the weights for the three splits
        for name in ("train", "validation", "test") if settings.split == "all" else (settings.split,):
            acts = get_activations(settings, split=name)
            meta = acts.meta
            click.echo(f"{name}: {meta['items']} items x {meta['layers']} layers x {meta['dim']} dims, "
                       f"{meta['truncated']} {meta['truncated_unit']} truncated -> {acts.folder}")


@_stage_command("probe", required=("task",))
def probe_cmd(settings: ProbeSettings):
    """Probe every layer (control task, MDL, bootstrap CI) and compare with the pretrained model (CKA)."""
    from bioprobe.report import SELECTION_METRIC, best_layer
    from bioprobe.probing.run import run_probing

    result = run_probing(settings)
    by_layer = {row["layer"]: row["value"] for row in result.rows if row["metric"] == "accuracy"}
    best = best_layer({row["layer"]: row["value"] for row in result.rows if row["metric"] == SELECTION_METRIC})
    click.echo(f"probe accuracy (test): layer 0 {by_layer.get(min(by_layer)):.3f}, best layer on validation {best}: "
               f"test {by_layer[best]:.3f}")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("attention", required=("task",))
def attention_cmd(settings: AttentionSettings):
    """Compare each tuned model's attention with the pretrained model's, layer by layer and head by head."""
    from bioprobe.attention.compare import compare_attention

    result = compare_attention(settings)
    stats = result.statistics
    if stats is not None:
        click.echo(f"{stats.n_sentences} sentences, {result.rows[0]['truncated']} truncated at --max-length; "
                   f"{stats.forward_s:.1f} s forward passes, {stats.stats_s:.1f} s statistics")
    for path in result.tables:
        click.echo(f"{'reused' if result.reused else 'wrote'} {path}")


@_stage_command("attribute", required=("task",))
def attribute_cmd(settings: AttributeSettings):
    """Integrated Gradients of a tuned model's predictions (per token; NLI: hypothesis share, RE: entity share)."""
    from bioprobe.attention.attribute import run_attribution
    from bioprobe.tasks import get_task

    result = run_attribution(settings)
    if result.attributions:
        deltas = [abs(a.delta) for a in result.attributions]
        click.echo(f"{len(result.attributions)} examples, largest |convergence delta| {max(deltas):.4f}"
                   + (f"; {get_task(settings.task).share_title} of attribution {result.share:.3f}"
                      if result.share is not None else ""))
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("diff", required=("task",))
def diff_cmd(settings):
    """The weight-space difference of a tuned run: relative change per weight, block and module kind, and the
    spectrum of each change (a LoRA run's from its adapter); says so when the weights equal the pretrained ones."""
    from bioprobe.causal.weights import run_diff

    result = run_diff(settings)
    if result.unchanged:
        click.echo(f"The tuned weights of {settings.model_name} {settings.task} at {settings.training_size} % equal "
                   "the pretrained ones: nothing was trained into them (an adapter never applied, or a checkpoint "
                   "saved before training); its other analyses describe the pretrained model.")
    else:
        click.echo(f"relative weight change of the body: {result.relative_change:.4g}")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("revert", required=("task",))
def revert_cmd(settings):
    """Score a tuned run with parts of its update taken back to the pretrained weights: each block, blocks from the
    bottom and from the top, each attention head; the share of the fine-tuning gain each loses."""
    from bioprobe.causal.revert import run_revert

    result = run_revert(settings)
    rows = [row for row in result.rows if row["metric"] == "gain_lost" and row["mode"] == "single"
            and row["head"] is None and row["value"] == row["value"]]
    first = result.rows[0]
    click.echo(f"{first['score_name']} of the tuned run on {first['n_items']} items: {result.tuned_score:.4f}")
    if rows:
        worst = max(rows, key=lambda row: row["value"])
        click.echo(f"reverting block {worst['layer']} alone loses the most: {worst['value']:.1%} of the fine-tuning "
                   "gain")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("amnesic", required=("task",))
def amnesic_cmd(settings):
    """Erase the probed concept (LEACE) from the tuned model's hidden states at each layer and score the test items,
    against erasing a random subspace of the same rank: where the model relies on what the probes find."""
    from bioprobe.causal.amnesic import run_amnesic

    result = run_amnesic(settings)
    beyond = [row for row in result.rows if row["metric"] == "drop_beyond_control"]
    first = result.rows[0]
    click.echo(f"{first['score_name']} on {first['n_items']} items: {result.tuned_score:.4f}")
    if beyond:
        top = max(beyond, key=lambda row: row["value"])
        click.echo(f"largest drop beyond the control: layer {top['layer']}, {top['value']:.4f} "
                   f"[{top['ci_low']:.4f}, {top['ci_high']:.4f}]")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("divergence", required=("task",))
def divergence_cmd(settings):
    """KL(tuned || reference) of the next-token distributions on the test prompts with their gold answers, at prompt
    and at answer positions apart: per item, the mean with a bootstrap interval, the items that changed most token by
    token (decoders with a language-model head)."""
    from bioprobe.diffing.divergence import run_divergence

    result = run_divergence(settings)
    first = result.rows[0]
    means = ", ".join(f"{position} {value:.4g}" for position, value in result.kl.items())
    click.echo(f"KL({first['model']} || {first['reference']}) on {first['n_items']} items, nats per token: {means}")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@_stage_command("lens", required=("task",))
def lens_cmd(settings):
    """Logit lens: each layer read through the final norm and the unembedding as a prediction of the gold answer
    token (probability and rank), for the run and its reference; encoders with a masked-LM head at masked tokens."""
    from bioprobe.diffing.lens import run_lens

    result = run_lens(settings)
    first = result.rows[0] if result.rows else {}
    for reading, layer in result.decodable.items():
        where = f"from layer {int(layer)} of {first.get('n_layers')}" if layer == layer else "at no layer"
        click.echo(f"{reading}: the gold answer token is ranked first for half the answer tokens {where}")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


def _templates_epilog() -> str:
    from bioprobe.finetune.clinical import TEMPLATES

    shown = "\n\n".join(f"{name}:\n\b\n" + text for name, text in TEMPLATES.items())
    return f"The templates (replace one with --template FILE, keeping its {{placeholders}}):\n\n{shown}"


@_stage_command("generate", required=("prompt",), epilog=_templates_epilog())
def generate_cmd(settings: GenerateSettings):
    """Ask a model as released or a tuned checkpoint one of the three clinical prompts (extract entities, search a
    document, summarise one) on a seeded sample of items; answers with their parses to generations/, scores to the
    tables."""
    from bioprobe.finetune.clinical import run_generate

    result = run_generate(settings)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}: {scores}")


@click.command(cls=_Command, name="demo")
@click.option("--runs_dir", "--runs-dir", "runs_dir", default="runs/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo's checkpoints, tables, figures and report go.")
@click.option("--quick", is_flag=True, help="The built-in plan demo-quick: small pools and samples (what CI runs).")
@click.option("--overwrite", is_flag=True, help="Recompute cells that already finished.")
def demo_cmd(runs_dir, quick, overwrite):
    """Run the whole study on the embedded default (the built-in plan `demo`): demo corpus, minilm and smollm2, both
    tasks, every size, classifier-, instruction- and conversation-tuned, every analysis and the three clinical
    prompts, then the report."""
    from bioprobe.study.runner import run_demo

    report, summary = run_demo(runs_dir=runs_dir, quick=quick, overwrite=overwrite, echo=click.echo)
    if report:
        click.echo(f"Report: {report}")
    if problem := summary.problem(runs_dir):
        raise BioprobeError(problem)


@click.command(cls=_Command, name="study")
@click.argument("plan")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, help="List the cells and their state; run nothing.")
@click.option("--status", is_flag=True, help="Done / running / failed / missing, a progress bar and the time left.")
@click.option("--shard", default=None, help="Run the i-th of n partitions (i from 0), e.g. 0/4 [default: "
              "SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT when set, else every cell].")
@click.option("--submit", type=click.Choice(["slurm", "local"]), default=None,
              help="Submit one job per group of cells through submitit (local: processes on this machine).")
@click.option("--runs_dir", "--runs-dir", "runs_dir", default=None, help="Overrides the plan's runs_dir.")
@click.option("--overwrite", is_flag=True, help="Run every cell again, finished or not.")
@click.option("--verbose", is_flag=True, help="Show each cell's own output too (it always goes to its log).")
def study_cmd(plan, dry_run, status, shard, submit, runs_dir, overwrite, verbose):
    """Run a study plan (a TOML file or a built-in plan: demo, demo-quick) cell by cell, resumably: finished cells
    are skipped, running ones locked, failures recorded; then collect the tables and write the report."""
    from bioprobe.study.plan import load_plan
    from bioprobe.study.runner import cells_of, complete, parse_shard, run_study, status_lines

    loaded = load_plan(plan, runs_dir=runs_dir)
    part = parse_shard(shard)
    if dry_run or status:
        for line in status_lines(loaded, part, every=dry_run):
            click.echo(line)
        return
    if submit:
        from bioprobe.study.slurm import submit as submit_jobs

        jobs = submit_jobs(loaded, cells_of(loaded, part), executor=submit)
        click.echo(f"submitted {len(jobs)} jobs ({', '.join(job.job_id for job in jobs)}); follow them with "
                   f"`bioprobe study {plan} --status`")
        return
    summary = run_study(loaded, part, echo=click.echo, verbose=verbose, overwrite=overwrite)
    for line in summary.lines():
        click.echo(line)
    if report := complete(loaded, summary, echo=click.echo):
        click.echo(f"Report: {report}")
    if problem := summary.problem(loaded.runs_dir):
        raise BioprobeError(problem)


@click.command(cls=_Command, name="collect")
@click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--plan", default=None, help="The study's plan, to tell stale tables (cells it no longer has) apart.")
def collect_cmd(runs_dir, plan):
    """Merge every result table into one Parquet + CSV file (results/study.parquet) with cell ids and provenance."""
    from bioprobe.study.collect import collect

    loaded = None
    if plan is not None:
        from bioprobe.study.plan import load_plan

        loaded = load_plan(plan, runs_dir=runs_dir)
    for line in collect(runs_dir, loaded).lines():
        click.echo(line)


@click.command(cls=_Command, name="figures")
@click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--one-column", "--one_column", "one_column", is_flag=True,
              help="Also draw every figure one paper column wide (3.3 in, at most two panels a row, nothing below "
                   "6 pt) into figures/one-column/.")
def figures_cmd(runs_dir, one_column):
    """Draw every figure (PNG + PDF under figures/) from the result tables alone (no model is loaded)."""
    import time

    from bioprobe.report import draw_figures
    from bioprobe.runstore import runs_dir as resolve

    started = time.perf_counter()
    drawn = draw_figures(runs_dir)
    click.echo(f"{len(drawn)} figures (PNG + PDF) in {resolve(runs_dir) / 'figures'}, "
               f"{time.perf_counter() - started:.1f} s")
    if one_column:
        started = time.perf_counter()
        drawn = draw_figures(runs_dir, one_column=True)
        click.echo(f"{len(drawn)} one-column figures in {resolve(runs_dir) / 'figures' / 'one-column'}, "
                   f"{time.perf_counter() - started:.1f} s")


@click.command(cls=_Command, name="report")
@click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs", show_default=True,
              type=click.Path(file_okay=False))
def report_cmd(runs_dir):
    """Draw every figure, write the tables (LaTeX under tables/) and report.md + a self-contained report.html from
    the result tables alone (no model is loaded)."""
    from bioprobe.report import write_report

    report = write_report(runs_dir)
    click.echo(f"Report: {report} and {report.with_suffix('.html')}; LaTeX tables in {report.parent / 'tables'}")


main.add_command(finetune_cmd)
main.add_command(extract_cmd)
main.add_command(probe_cmd)
main.add_command(attention_cmd)
main.add_command(attribute_cmd)
main.add_command(diff_cmd)
main.add_command(revert_cmd)
main.add_command(amnesic_cmd)
main.add_command(divergence_cmd)
main.add_command(lens_cmd)
main.add_command(generate_cmd)
main.add_command(demo_cmd)
main.add_command(study_cmd)
main.add_command(collect_cmd)
main.add_command(figures_cmd)
main.add_command(report_cmd)


if __name__ == "__main__":
    main()
