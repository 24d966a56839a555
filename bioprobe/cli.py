"""The `bioprobe` command line: thin click wrappers over one Python function each, imported lazily."""

from __future__ import annotations

import sys

import click

from bioprobe.errors import BioprobeError


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


def _training_size(ctx, param, value):
    if value is not None and not 0 <= value <= 100:
        raise click.BadParameter(f"must be a percentage from 0 to 100, not {value}")
    return value


def _labels(ctx, param, value):
    if not value:
        return None
    return tuple(label.strip() for label in value.split(",") if label.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bioprobe")
def main():
    """What does fine-tuning change inside a language model? Fine-tune, probe, compare."""


@click.command(cls=_Command, name="finetune")
@click.option("--task", type=click.Choice(["ner", "nli"], case_sensitive=False), required=True,
              help="Biomedical NER (token classification) or NLI (sentence-pair classification).")
@click.option("--model_name", "--model-name", "model_name", default="bert", show_default=True,
              help="Registry name (bert, biobert, gpt2, gpt2-small, biogpt, tinyllama, mistral, llama2-medtuned, "
                   "minilm, smollm2), a hub id or a local model folder.")
@click.option("--training_size", "--training-size", "training_size", type=int, default=100, show_default=True,
              callback=_training_size, help="Percent of the training split (0 = pretrained baseline, no training).")
@click.option("--data", default=None,
              help="Hub dataset id, local data folder, MedNLI folder, or 'demo' (default: tner/bionlp2004 for NER, "
                   "$MEDNLI_DIR for NLI).")
@click.option("--labels", callback=_labels, default=None,
              help="Comma-separated tag names for integer NER tags without names in the data.")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate [default: 5e-5, or 2e-4 with LoRA].")
@click.option("--batch_size", "--batch-size", "batch_size", type=click.IntRange(min=1), default=16,
              show_default=True, help="Items per step and process (DDP multiplies it by the process count).")
@click.option("--max_length", "--max-length", "max_length", type=click.IntRange(min=8), default=128,
              show_default=True, help="Longest input in subwords; longer inputs are truncated and counted.")
@click.option("--lora/--no-lora", default=None, help="Train LoRA adapters [default: decoders of 1B+ parameters].")
@click.option("--4bit/--no-4bit", "four_bit", default=None,
              help="Load the base model in 4-bit NF4 (QLoRA) [default: mistral, llama2-medtuned].")
@click.option("--save_steps", "--save-steps", "save_steps", type=click.IntRange(min=1), default=500,
              show_default=True, help="Trainer checkpoint interval, what an interrupted run resumes from.")
@click.option("--train_limit", "--train-limit", "train_limit", type=click.IntRange(min=1), default=None,
              help="Draw a seeded pool of this many training items first; sizes are percentages of the pool.")
@click.option("--test_limit", "--test-limit", "test_limit", type=click.IntRange(min=1), default=None,
              help="Evaluate on the first this many test items only.")
@click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
@click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs", show_default=True,
              type=click.Path(file_okay=False), help="Where checkpoints and result tables go (env BIOPROBE_RUNS).")
@click.option("--overwrite", is_flag=True, help="Recompute a finished run instead of reusing it.")
def finetune_cmd(**options):
    """Fine-tune a model on a task at a training size and evaluate it on the test split."""
    from finetune.train import run_finetune

    options["task"] = options["task"].lower()
    result = run_finetune(**options)
    state = "reused" if result.reused else "wrote"
    scores = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if "/" not in k)
    if result.record or result.reused:
        click.echo(f"{state} {result.folder}: {scores}")


@click.command(cls=_Command, name="demo")
@click.option("--runs_dir", "--runs-dir", "runs_dir", default="runs/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo's checkpoints, tables, figures and report go.")
@click.option("--quick", is_flag=True, help="A few minutes: smaller training pools and test sets (used by CI).")
@click.option("--overwrite", is_flag=True, help="Recompute runs that already finished.")
def demo_cmd(runs_dir, quick, overwrite):
    """Run the whole study on the embedded default: demo corpus, minilm and smollm2, both tasks, all sizes."""
    from bioprobe.demo import run_demo

    report = run_demo(runs_dir=runs_dir, quick=quick, overwrite=overwrite)
    click.echo(f"Report: {report}")


@click.command(cls=_Command, name="report")
@click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs", show_default=True,
              type=click.Path(file_okay=False))
def report_cmd(runs_dir):
    """Draw the figures and write the report from the result tables (no model is loaded)."""
    from bioprobe.report import write_report

    click.echo(f"Report: {write_report(runs_dir)}")


main.add_command(finetune_cmd)
main.add_command(demo_cmd)
main.add_command(report_cmd)


if __name__ == "__main__":
    main()
