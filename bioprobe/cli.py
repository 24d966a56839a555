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


# Options shared by several commands, defined once.
TASK = click.option("--task", type=click.Choice(["ner", "nli"], case_sensitive=False), required=True,
                    help="Biomedical NER (token classification) or NLI (sentence-pair classification).")
MODEL = click.option("--model_name", "--model-name", "model_name", default="bert", show_default=True,
                     help="Registry name (bert, biobert, gpt2, gpt2-small, biogpt, tinyllama, mistral, "
                          "llama2-medtuned, minilm, smollm2), a hub id or a local model folder.")
SIZE = click.option("--training_size", "--training-size", "training_size", type=int, default=100, show_default=True,
                    callback=_training_size, help="Percent of the training split (0 = pretrained baseline).")
DATA = click.option("--data", default=None,
                    help="Hub dataset id, local data folder, MedNLI folder, or 'demo' (default: tner/bionlp2004 for "
                         "NER, $MEDNLI_DIR for NLI; for an analysis of a fine-tuned model, the data it was tuned on).")
LABELS = click.option("--labels", callback=_labels, default=None,
                      help="Comma-separated tag names for integer NER tags without names in the data.")
SEED = click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True)
MAX_LENGTH = click.option("--max_length", "--max-length", "max_length", type=click.IntRange(min=8), default=128,
                          show_default=True, help="Longest input in subwords; longer inputs are truncated and counted.")
DEVICE = click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
RUNS_DIR = click.option("--runs_dir", "--runs-dir", "runs_dir", envvar="BIOPROBE_RUNS", default="runs",
                        show_default=True, type=click.Path(file_okay=False),
                        help="Where checkpoints, caches and result tables go (env BIOPROBE_RUNS).")


def _analysis_options(function):
    """Options every analysis of a model shares: which model, data, items and where."""
    for option in reversed((TASK, MODEL, SIZE, DATA, LABELS, SEED, MAX_LENGTH, DEVICE, RUNS_DIR)):
        function = option(function)
    return function


POOLING = click.option("--pooling", default=None,
                       help="NER: first (default), mean or last subword of each word. NLI: joint-mean (default), cls "
                            "(encoders), last, or separate-mean (premise and hypothesis apart, concatenated).")
LIMIT = click.option("--limit", type=click.IntRange(min=1), default=None,
                     help="Use a seeded sample of this many sentences / pairs of each split.")
BATCH_TOKENS = click.option("--batch_tokens", "--batch-tokens", "batch_tokens", type=click.IntRange(min=16),
                            default=None, help="Padded tokens per forward pass [default: 2048 on a CPU, 8192 on a "
                            "GPU].")
BASELINE = click.option("--baseline", type=click.Choice(["random-init"]), default=None,
                        help="random-init: the same architecture with fresh weights (with --training_size 0).")


@click.command(cls=_Command, name="finetune")
@TASK
@MODEL
@SIZE
@DATA
@LABELS
@SEED
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate [default: 5e-5, or 2e-4 with LoRA].")
@click.option("--batch_size", "--batch-size", "batch_size", type=click.IntRange(min=1), default=16,
              show_default=True, help="Items per step and process (DDP multiplies it by the process count).")
@MAX_LENGTH
@click.option("--lora/--no-lora", default=None, help="Train LoRA adapters [default: decoders of 1B+ parameters].")
@click.option("--4bit/--no-4bit", "four_bit", default=None,
              help="Load the base model in 4-bit NF4 (QLoRA) [default: mistral, llama2-medtuned].")
@click.option("--save_steps", "--save-steps", "save_steps", type=click.IntRange(min=1), default=500,
              show_default=True, help="Trainer checkpoint interval, what an interrupted run resumes from.")
@click.option("--train_limit", "--train-limit", "train_limit", type=click.IntRange(min=1), default=None,
              help="Draw a seeded pool of this many training items first; sizes are percentages of the pool.")
@click.option("--test_limit", "--test-limit", "test_limit", type=click.IntRange(min=1), default=None,
              help="Evaluate on the first this many test items only.")
@DEVICE
@RUNS_DIR
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


@click.command(cls=_Command, name="extract")
@_analysis_options
@click.option("--split", type=click.Choice(["train", "validation", "test", "all"]), default="all", show_default=True,
              help="Split to extract; all = train and test (what probing uses).")
@POOLING
@LIMIT
@BATCH_TOKENS
@BASELINE
@click.option("--overwrite", is_flag=True, help="Extract again even when the cache is current.")
def extract_cmd(split, **options):
    """Cache the pooled vectors of every layer (fp16, memory-mapped) for later analyses."""
    from probing.activations import get_activations

    options["task"] = options["task"].lower()
    for name in ("train", "test") if split == "all" else (split,):
        acts = get_activations(split=name, **options)
        meta = acts.meta
        click.echo(f"{name}: {meta['items']} items x {meta['layers']} layers x {meta['dim']} dims, "
                   f"{meta['truncated']} {meta['truncated_unit']} truncated -> {acts.folder}")


@click.command(cls=_Command, name="probe")
@_analysis_options
@click.option("--layers", default=None, help="Layers to probe, e.g. 0,3,5-6 [default: all; 0 = embeddings].")
@POOLING
@click.option("--probe", type=click.Choice(["logistic", "svc", "mlp"]), default="logistic", show_default=True,
              help="Probe: multinomial logistic regression, linear SVC (the study's NLI probe) or a one-layer MLP.")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Control task (Hewitt & Liang) and selectivity per layer.")
@click.option("--mdl/--no-mdl", default=True, show_default=True, help="MDL online codelength (Voita & Titov).")
@click.option("--cka/--no-cka", default=True, show_default=True,
              help="CKA with the pretrained model's layers (fine-tuned models and baselines).")
@click.option("--cka-estimator", "--cka_estimator", "cka_estimator", type=click.Choice(["debiased", "standard"]),
              default="debiased", show_default=True)
@click.option("--bio", is_flag=True, help="NER: probe BIO tags instead of entity types (B and I merged).")
@BASELINE
@LIMIT
@BATCH_TOKENS
@click.option("--overwrite", is_flag=True, help="Probe again even when the table for these settings exists.")
def probe_cmd(cka_estimator, **options):
    """Probe every layer (control task, MDL, bootstrap CI) and compare with the pretrained model (CKA)."""
    from probing.run import run_probing

    options["task"] = options["task"].lower()
    result = run_probing(debiased=cka_estimator == "debiased", **options)
    by_layer = {row["layer"]: row["value"] for row in result.rows if row["metric"] == "accuracy"}
    best = max(by_layer, key=by_layer.get)
    click.echo(f"probe accuracy: layer 0 {by_layer.get(min(by_layer)):.3f}, best layer {best} {by_layer[best]:.3f}")
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


@click.command(cls=_Command, name="attention")
@TASK
@MODEL
@click.option("--training_sizes", "--training-sizes", "training_sizes", default=None,
              help="Fine-tuned sizes to compare with the pretrained model, e.g. 10,30,50,100.")
@click.option("--training_size", "--training-size", "training_size", type=int, default=None, callback=_training_size,
              help="One fine-tuned size (instead of --training_sizes).")
@DATA
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True)
@LIMIT
@click.option("--metrics", default=None,
              help="Comma-separated subset of cosine, js, entropy_a, entropy_b, entropy_change, special_a, special_b, "
                   "self_a, self_b, prev_a, prev_b, next_a, next_b [default: all].")
@click.option("--importance/--no-importance", default=True, show_default=True,
              help="Michel et al. head importance of each fine-tuned model.")
@SEED
@MAX_LENGTH
@click.option("--batch_tokens", "--batch-tokens", "batch_tokens", type=click.IntRange(min=16), default=4096,
              show_default=True, help="Padded tokens per forward pass.")
@DEVICE
@RUNS_DIR
@click.option("--overwrite", is_flag=True, help="Compare again even when the tables for these settings exist.")
def attention_cmd(training_sizes, training_size, metrics, **options):
    """Compare each fine-tuned model's attention with the pretrained model's, layer by layer and head by head."""
    from attention.compare import compare_attention

    if training_sizes is None and training_size is None:
        raise click.UsageError("Give --training_sizes 10,30,50,100 or --training_size N.")
    options["task"] = options["task"].lower()
    sizes = training_sizes if training_sizes is not None else str(training_size)
    chosen = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    result = compare_attention(training_sizes=sizes, metrics=chosen, **options)
    stats = result.statistics
    if stats is not None:
        click.echo(f"{stats.n_sentences} sentences, {result.rows[0]['truncated']} truncated at --max-length; "
                   f"{stats.forward_s:.1f} s forward passes, {stats.stats_s:.1f} s statistics")
    for path in result.tables:
        click.echo(f"{'reused' if result.reused else 'wrote'} {path}")


@click.command(cls=_Command, name="attribute")
@_analysis_options
@click.option("--examples", type=click.IntRange(min=1), default=5, show_default=True,
              help="Items whose per-token attributions are stored and drawn.")
@LIMIT
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True)
@click.option("--steps", type=click.IntRange(min=2), default=50, show_default=True, help="Integration steps.")
@click.option("--overwrite", is_flag=True, help="Attribute again even when the table for these settings exists.")
def attribute_cmd(labels, **options):
    """Integrated Gradients of a fine-tuned model's predictions (per token; NLI: premise vs hypothesis share)."""
    from attention.attribute import run_attribution

    options["task"] = options["task"].lower()
    result = run_attribution(**options)
    if result.attributions:
        deltas = [abs(a.delta) for a in result.attributions]
        click.echo(f"{len(result.attributions)} examples, largest |convergence delta| {max(deltas):.4f}"
                   + (f"; hypothesis share of attribution {result.share:.3f}" if result.share is not None else ""))
    click.echo(f"{'reused' if result.reused else 'wrote'} {result.table}")


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
main.add_command(extract_cmd)
main.add_command(probe_cmd)
main.add_command(attention_cmd)
main.add_command(attribute_cmd)
main.add_command(demo_cmd)
main.add_command(report_cmd)


if __name__ == "__main__":
    main()
