"""The study as one command: plan validation, deterministic cell ids and shards, a tiny plan end to end, a worker
killed with SIGKILL and run again, two concurrent workers, collect, multi-process fine-tuning cells, and submitit's
local executor with a preempted job that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe.cli import main
from bioprobe.stages import STAGES
from bioprobe.study import expand, load_plan, shard
from bioprobe.study.store import Store
from test_cli import assert_one_sentence
from tiny_data import write_cued_ner

BIOPROBE = str(Path(sys.executable).with_name("bioprobe"))


def write_plan(folder: Path, models: list[str], data: Path, extra: str = "", sizes=(0, 50),
               analyses=("finetune", "probe", "attention")) -> Path:
    """A tiny plan: NER on the cued data, one epoch, probes without control and MDL."""
    lines = ['name = "tiny"', 'tasks = ["ner"]', f"models = {json.dumps(models)}", f"sizes = {list(sizes)}",
             "seeds = [42]", f"analyses = {json.dumps(list(analyses))}", f'data = {{ ner = "{data}" }}',
             f'runs_dir = "{folder / "runs"}"', '[settings."*"]', "epochs = 1", "batch_size = 8",
             '[settings."*".probe]', "control = false", "mdl = false", "limit = 20", '[settings."*".attention]',
             "limit = 6", 'metrics = "cosine"', "importance = false", extra]
    path = folder / "plan.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    return write_cued_ner(tmp_path_factory.mktemp("cued") / "ner")


def journal(runs: Path) -> list[dict]:
    return Store.of(runs).events()


# --- the plan and its cells ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, fragments", [
    ('tasks = ["ner"]\nmodels = ["minilm"]\nepochs = 2', ["Unknown key 'epochs'", "settings"]),
    ('tasks = ["ner"]\nmodels = ["gpt5"]', ["Unknown model 'gpt5'"]),
    ('tasks = ["ner"]\nmodels = ["minilm"]\nsizes = [0, 150]', ["Training size 150", "0 to 100"]),
    ('tasks = ["ner"]\nmodels = ["minilm"]\nanalyses = ["probing"]', ["Unknown analysis 'probing'", "attention"]),
    ('tasks = ["ner"]\nmodels = ["minilm"]\n[settings.minilm]\nepoch = 2', ["Unknown key 'epoch'", "epochs"]),
    ('tasks = ["ner"]\nmodels = ["minilm"]\n[settings.minilm]\nepochs = 0', ["epochs 0", "above 0"]),
    ('tasks = ["ner"]\nmodels = ["minilm"]\n[settings.smollm2]\nepochs = 1', ["[settings.smollm2]", "minilm"]),
    ('tasks = ["ner"\nmodels', ["not valid TOML"]),
])
def test_a_bad_plan_is_one_sentence_before_anything_runs(tmp_path, text, fragments):
    (tmp_path / "plan.toml").write_text(text + "\n")
    result = CliRunner().invoke(main, ["study", str(tmp_path / "plan.toml"), "--dry-run"])
    assert_one_sentence(result, *fragments)


def test_cell_ids_are_deterministic_and_change_with_what_decides_the_result(tmp_path, cued):
    plan = load_plan(write_plan(tmp_path, ["minilm", "smollm2"], cued))
    first, again = expand(plan), expand(plan)
    assert [c.id for c in first] == [c.id for c in again] and len({c.id for c in first}) == len(first)
    assert Counter(c.stage for c in first) == {"finetune": 4, "probe": 4, "attention": 2}
    probe_50 = next(c for c in first if c.stage == "probe" and c.settings.training_size == 50
                    and c.model == "minilm")
    assert probe_50.needs == (next(c.id for c in first if c.stage == "finetune" and c.model == "minilm"
                                   and c.settings.training_size == 50),)
    changed = load_plan(write_plan(tmp_path, ["minilm", "smollm2"], cued, extra="[settings.minilm]\nepochs = 2"))
    moved = {c.id for c in expand(changed)} ^ {c.id for c in first}
    # minilm's fine-tuning cells change, and so do the analyses that read their checkpoints (not its size-0 probe)
    assert {c.describe() for c in first if c.id in moved} == {
        "finetune ner minilm classifier 0 % seed 42", "finetune ner minilm classifier 50 % seed 42",
        "probe ner minilm classifier 50 % seed 42", "attention ner minilm classifier 50 seed 42"}
    runs_moved = {c.id for c in expand(plan.replace(runs_dir=str(tmp_path / "elsewhere")))}
    assert runs_moved == {c.id for c in first}  # where it runs is not what it is


def test_shards_partition_the_cells_and_keep_each_finetune_with_its_analyses(tmp_path, cued):
    plan = load_plan("demo")
    cells = expand(plan)
    parts = [shard(cells, i, 4) for i in range(4)]
    assert sorted(c.id for part in parts for c in part) == sorted(c.id for c in cells)
    for part in parts:
        ids = {c.id for c in part}
        assert all(need in ids for c in part for need in c.needs)
    assert [c.id for c in shard(cells, 1, 4)] == [c.id for c in parts[1]]
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 12  # whole (model, task, objective) groups of at most 12 cells
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"}
    listed = subprocess.run([BIOPROBE, "study", "demo", "--dry-run", "--runs-dir", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1] for line in listed.stdout.splitlines()[:-1]] == [c.id for c in parts[3]]


def test_the_demo_is_a_built_in_plan():
    demo, quick = load_plan("demo"), load_plan("demo-quick")
    for plan, sizes in ((demo, {0, 100}), (quick, {0, 100})):  # smollm2 answers and converses at 0 and 100 %
        cells = expand(plan)
        assert {c.stage for c in cells} == set(STAGES)  # every stage kept
        for stage in ("diff", "revert", "amnesic"):  # which change matters, on the encoder and the decoder
            assert {c.model for c in cells if c.stage == stage} == {"minilm", "smollm2"}, stage
        released = [c for c in cells if c.stage == "amnesic" and c.settings.training_size == 0]
        assert released and {c.settings.objective for c in released} == {"instruct"}  # the released model
        tuned_ids = {c.id for c in cells if c.stage == "finetune" and c.settings.training_size == 0}
        assert all(set(c.needs) & tuned_ids for c in cells if c.stage == "revert" and c.model == "minilm")
        for objective in ("instruct", "conversation"):
            tuned = [c for c in cells if c.settings.objective == objective]
            assert tuned and {c.model for c in tuned} == {"smollm2"}  # an encoder is not tuned to answer
            assert {c.settings.training_size for c in tuned if c.stage == "finetune"} == sizes
        talked = {(c.stage, c.settings.task): c for c in cells if c.settings.objective == "conversation" and
                  c.stage in ("divergence", "lens")}
        assert set(talked) == {("divergence", "ner"), ("lens", "ner")}  # the conversation run on the NER prompts
        assert all(c.settings.training_size == 100 and len(c.needs) == 1 and "finetune-conversation" in c.needs[0]
                   for c in talked.values())
        asked = [c for c in cells if c.stage == "generate"]
        assert {c.settings.prompt for c in asked} == {"extract", "search", "summarise"}
        assert sum(c.settings.training_size == 0 for c in asked) == 3  # the released model, once per prompt
    result = CliRunner().invoke(main, ["study", "demo", "--status", "--runs-dir", "/nonexistent/demo"])
    assert result.exit_code == 0 and "0/" in result.output and "missing" in result.output


def test_a_conversation_run_is_read_on_the_tasks_test_prompts_where_its_analyses_list_it(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('name = "talk"\ntasks = ["ner", "nli"]\nmodels = ["smollm2"]\nsizes = [0, 50, 100]\n'
                    'objectives = ["instruct", "conversation"]\nanalyses = ["finetune", "divergence", "lens"]\n'
                    '[settings.smollm2.conversation.analyses]\nnli = ["lens"]\n')
    cells = expand(load_plan(path))
    tuned = {c.settings.training_size: c.id for c in cells if c.stage == "finetune" and
             c.settings.objective == "conversation"}
    talked = sorted((c.stage, c.settings.task, c.settings.training_size, c.needs) for c in cells
                    if c.settings.objective == "conversation" and c.stage != "finetune")
    assert talked == [("divergence", "ner", 50, (tuned[50],)), ("divergence", "ner", 100, (tuned[100],)),
                      ("lens", "ner", 50, (tuned[50],)), ("lens", "ner", 100, (tuned[100],)),
                      ("lens", "nli", 50, (tuned[50],)), ("lens", "nli", 100, (tuned[100],))]  # none at 0: released
    assert len({c.id for c in cells}) == len(cells)


# --- running ---------------------------------------------------------------------------------------------------------


def test_a_tiny_plan_runs_end_to_end_then_skips_everything(tiny_model_dirs, cued, tmp_path):
    plan = write_plan(tmp_path, [str(tiny_model_dirs["gpt2"]), str(tiny_model_dirs["bert"])], cued)
    first = CliRunner().invoke(main, ["study", str(plan)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    runs = tmp_path / "runs"
    events = journal(runs)
    assert Counter(e["event"] for e in events) == {"start": 10, "finish": 10}
    assert (runs / "report.md").is_file()
    merged = pd.read_parquet(runs / "results" / "study.parquet")
    assert set(merged["analysis"]) == {"finetune", "probing", "attention"} and (merged["cell_id"] != "").all()
    again = CliRunner().invoke(main, ["study", str(plan)], catch_exceptions=False)
    assert again.exit_code == 0 and "0 cells run, 10 already finished" in again.output
    assert len(journal(runs)) == len(events)
    status = CliRunner().invoke(main, ["study", str(plan), "--status"])
    assert "10/10 done" in status.output


def test_a_failing_cell_is_recorded_and_the_others_go_on(tiny_model_dirs, cued, tmp_path):
    plan = write_plan(tmp_path, [str(tiny_model_dirs["gpt2"])], cued, sizes=(0, 50),
                      extra=f'[settings."{tiny_model_dirs["gpt2"]}".finetune]\nmax_length = 4096')
    result = CliRunner().invoke(main, ["study", str(plan)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    failed = list((tmp_path / "runs" / "study" / "failed").glob("*.json"))
    assert len(failed) == 2  # both fine-tuning cells: --max-length 4096 is longer than the model reads
    record = json.loads(failed[0].read_text())
    assert "longer than" in record["error"] and Path(record["log"]).is_file()
    assert "blocked" in result.output  # the analyses that need them; the size-0 probe still ran
    assert any(e["event"] == "finish" and e["cell"].startswith("probe") for e in journal(tmp_path / "runs"))


def test_a_worker_killed_mid_way_resumes_without_redoing_finished_cells(tiny_model_dirs, cued, tmp_path):
    plan = write_plan(tmp_path, [str(tiny_model_dirs["gpt2"]), str(tiny_model_dirs["llama"])], cued,
                      sizes=(0, 30, 100))
    runs = tmp_path / "runs"
    worker = subprocess.Popen([BIOPROBE, "study", str(plan)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and sum(e["event"] == "finish" for e in journal(runs)) < 3:
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = journal(runs)
    finished = {e["cell"] for e in before if e["event"] == "finish"}
    assert 3 <= len(finished) < 14
    again = subprocess.run([BIOPROBE, "study", str(plan)], capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = journal(runs)[len(before):]
    assert not {e["cell"] for e in after if e["event"] == "start"} & finished  # nothing finished ran again
    assert {e["cell"] for e in journal(runs) if e["event"] == "finish"} == {c.id for c in expand(load_plan(plan))}


def test_a_lock_just_created_by_another_worker_is_held_not_broken(tmp_path):
    """A lock created with O_EXCL and written after: a second worker reading it empty in between took it for a dead
    worker's, broke it and ran the cell too (seen once in two concurrent workers). Locks now appear with their
    content (hard link); an unreadable fresh one counts as held, an old one as stale."""
    from bioprobe.study.store import STALE_S, Store

    store = Store.of(tmp_path)
    lock = store.path("locks", "cell-a", ".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text("")                      # another worker's, mid-write
    assert not store.acquire("cell-a") and lock.read_text() == ""
    old = time.time() - STALE_S - 10         # the same lock long untouched: its worker is gone
    os.utime(lock, (old, old))
    assert store.acquire("cell-a")
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not store.acquire("cell-a")       # now held by a live worker: this one
    assert sorted(p.name for p in lock.parent.iterdir() if not p.name.count(".stale-")) == ["cell-a.lock"]


def test_two_concurrent_workers_never_run_one_cell_twice(tiny_model_dirs, cued, tmp_path):
    plan = write_plan(tmp_path, [str(tiny_model_dirs["gpt2"]), str(tiny_model_dirs["bert"])], cued,
                      sizes=(0, 30, 100))
    workers = [subprocess.Popen([BIOPROBE, "study", str(plan)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=900)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    events = journal(tmp_path / "runs")
    starts = Counter(e["cell"] for e in events if e["event"] == "start")
    assert len(starts) == 14 and set(starts.values()) == {1}
    assert len({e["pid"] for e in events}) == 2  # both workers took part
    ends = ("Report: ", "the last of them to finish writes the report.", "Another worker is writing the report")
    assert any("Report: " in out for out in outputs)  # whoever finished last wrote it, the other said why not
    assert all(any(end in out for end in ends) for out in outputs), outputs
    assert (tmp_path / "runs" / "report.html").read_text().rstrip().endswith("</html>")


def _finished_study(tmp_path: Path, cued: Path) -> tuple[Path, Path]:
    """A plan whose cells are all recorded finished, each with its fine-tuning table: what workers of a study see
    when they reach its end."""
    from bioprobe import runstore

    plan = write_plan(tmp_path, ["minilm"], cued, sizes=(0, 30, 100), analyses=("finetune",))
    runs, store = tmp_path / "runs", Store.of(tmp_path / "runs")
    for cell in expand(load_plan(plan)):
        size = cell.settings.training_size
        table = runstore.results_path(runs, "finetune", "ner", "minilm", size, 42)
        runstore.write_table(table, [{"analysis": "finetune", "task": "ner", "model": "minilm", "training_size": size,
                                      "seed": 42, "metric": "f1", "value": 0.5 + size / 1000}])
        store.finish(cell.id, {"cell": cell.id, "tables": [str(table)], "seconds": 1.0})
    return plan, runs


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial" in p.name]


def test_workers_collecting_at_once_never_collide(cued, tmp_path):
    """Four `bioprobe collect` at once, five times: each used to write `study.parquet.partial` under one name, and 10
    of 20 failed with a traceback. Temporary names are now the writer's own and the replace atomic."""
    _, runs = _finished_study(tmp_path, cued)
    for _ in range(5):
        workers = [subprocess.Popen([BIOPROBE, "collect", "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outputs = [w.communicate(timeout=300)[0] for w in workers]
        assert [w.returncode for w in workers] == [0] * 4, outputs
        assert not any("Traceback" in out for out in outputs)
        merged = pd.read_parquet(runs / "results" / "study.parquet")
        assert sorted(merged["training_size"]) == [0, 30, 100]
        assert len(pd.read_csv(runs / "results" / "study.csv")) == 3
    assert _partials(runs) == []


def test_workers_finishing_together_write_one_whole_report(cued, tmp_path):
    """Three workers reach the end of a study at once: each exits 0, one (or, one after another, more) writes the
    report and the others say in one line that it includes their cells; the page is never half written."""
    plan, runs = _finished_study(tmp_path, cued)
    code = ("import sys; from bioprobe.study import load_plan; from bioprobe.study.runner import Summary, complete; "
            "print('Report:', complete(load_plan(sys.argv[1]), Summary()))")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(plan)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * 3, outputs
    wrote = [out for out in outputs if f"Report: {runs / 'report.md'}" in out]
    left = [out for out in outputs if "Another worker is writing the report; it includes this worker's cells." in out]
    assert wrote and len(wrote) + len(left) == 3, outputs
    assert (runs / "report.html").read_text().rstrip().endswith("</html>")
    assert "f1" in (runs / "report.md").read_text() or "F1" in (runs / "report.md").read_text()
    assert _partials(runs) == [] and not Store.of(runs).path("locks", "_report", ".lock").exists()


def test_the_report_writer_runs_again_for_a_worker_that_finished_during_its_run(tmp_path):
    """Worker B finishes while A writes the report and finds the lock taken: B leaves, and A, seeing B's request
    after its run, writes again so the report has B's results (B is played here from inside A's run)."""
    store, runs = Store.of(tmp_path), []

    def a():
        runs.append("a")
        if len(runs) == 1:
            assert store.write_report(lambda: runs.append("b")) is False  # the lock is A's: B leaves it to A

    assert store.write_report(a) is True
    assert runs == ["a", "a"]
    assert store.write_report(lambda: runs.append("c")) is True and runs[-1] == "c"


def test_a_worker_leaves_the_report_to_workers_still_running_cells(cued, tmp_path):
    from bioprobe.study.runner import Summary, complete

    plan, runs = _finished_study(tmp_path, cued)
    loaded, store = load_plan(plan), Store.of(runs)
    busy = expand(loaded)[-1].id
    store.path("cells", busy).unlink()
    assert store.acquire(busy)  # held by a live worker: this process
    lines = []
    assert complete(loaded, Summary(), echo=lines.append) is None
    assert lines == [f"1 cells still run in other workers ({busy}); the last of them to finish writes the report."]
    assert not (runs / "report.md").exists()


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_partial(tmp_path):
    from bioprobe import runstore

    path = tmp_path / "table.csv"
    runstore.write_text(path, "old\n")
    with pytest.raises(RuntimeError), runstore.atomic(path) as partial:
        partial.write_text("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n" and _partials(tmp_path) == []


def test_collect_reports_stale_tables_after_the_plan_changed(tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["bert"])
    plan = write_plan(tmp_path, [model], cued, sizes=(0,), analyses=("finetune",))
    assert CliRunner().invoke(main, ["study", str(plan)]).exit_code == 0
    changed = write_plan(tmp_path, [model], cued, sizes=(0,), analyses=("finetune",),
                         extra=f'[settings."{model}"]\nseed = 42\ntest_limit = 10')
    result = CliRunner().invoke(main, ["collect", "--runs-dir", str(tmp_path / "runs"), "--plan", str(changed)])
    assert result.exit_code == 0 and "1 stale tables" in result.output
    merged = pd.read_csv(tmp_path / "runs" / "results" / "study.csv")
    assert merged["stale"].all() and merged["cell_id"].str.startswith("finetune-ner").all()


def test_the_merged_table_keeps_flags_as_booleans_and_the_clinical_prompts(tmp_path):
    """A flag only probing tables have (`bio`, `in_prompt`) must not become the text "False" in the merged table,
    which reads as true and dropped every probing row from the study's report; the clinical prompts' tables are
    merged too and reach the report."""
    from bioprobe import runstore
    from bioprobe.report import load_results, write_tables
    from bioprobe.rows import main_probing_rows
    from bioprobe.study.collect import collect

    common = {"task": "ner", "model": "m", "training_size": 0, "seed": 1, "label": "all", "objective": "classifier"}
    probing = [{**common, "analysis": "probing", "layer": layer, "metric": metric, "value": value, "bio": False,
                "in_prompt": False, "probe": "logistic", "pooling": "first"}
               for layer in (0, 1) for metric, value in (("accuracy", 0.8 + layer / 10),
                                                         ("validation_accuracy", 0.7 + layer / 10))]
    runstore.write_table(runstore.results_path(tmp_path, "probing", "ner", "m", 0, 1), probing)
    runstore.write_table(runstore.results_path(tmp_path, "finetune", "ner", "m", 0, 1),
                         [{**common, "analysis": "finetune", "metric": "f1", "value": 0.5}])
    runstore.write_table(runstore.results_path(tmp_path, "generate", "extract", "m", 0, 1, objective="released"),
                         [{**common, "analysis": "generate", "task": "extract", "objective": "released",
                           "metric": "f1", "value": 0.25, "n_test": 4}])
    collect(tmp_path)
    merged = load_results(tmp_path)
    assert str(merged["bio"].dtype) == "boolean" and not merged["bio"].fillna(False).astype(bool).any()
    assert len(main_probing_rows(merged)) == 4
    built = {t.name: t for t in write_tables(tmp_path, merged)}
    assert built["probing_ner"].rows[0][3] == "1"  # the validation-best layer
    assert built["clinical_extract"].rows == [["m", "released", "0 %", "0.250", "4"]]


def test_words_pandas_would_read_as_missing_survive_the_tables(tmp_path):
    """An RE label "None", a token "NA" or "null" are text: read back and merged as written, and only an empty cell
    is missing."""
    from bioprobe import runstore
    from bioprobe.report import load_results
    from bioprobe.study.collect import collect

    common = {"task": "re", "model": "m", "training_size": 100, "seed": 1, "objective": "classifier"}
    rows = [{**common, "analysis": "finetune", "metric": "f1", "value": 0.5, "label": label, "layer": None}
            for label in ("None", "all")]
    rows += [{**common, "analysis": "attribution", "metric": "attribution", "value": 0.1, "label": None,
              "token": token, "example": 0} for token in ("NA", "null", "nan", "aspirin")]
    runstore.write_table(runstore.results_path(tmp_path, "finetune", "re", "m", 100, 1), rows[:2])
    runstore.write_table(runstore.results_path(tmp_path, "attribution", "re", "m", 100, 1), rows[2:])
    finetune = runstore.read_tables(tmp_path, "finetune")
    assert finetune["label"].tolist() == ["None", "all"] and finetune["layer"].isna().all()
    assert runstore.read_tables(tmp_path, "attribution")["token"].tolist() == ["NA", "null", "nan", "aspirin"]
    collect(tmp_path)
    merged = load_results(tmp_path)
    assert merged.loc[merged["analysis"] == "attribution", "token"].tolist() == ["NA", "null", "nan", "aspirin"]
    assert set(merged.loc[merged["analysis"] == "finetune", "label"]) == {"None", "all"}


def test_a_multi_process_finetune_cell_runs_under_torchrun(tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["bert"])
    plan = write_plan(tmp_path, [model], cued, sizes=(50,), analyses=("finetune",),
                      extra=f'[settings."{model}".finetune]\ndevice = "cpu"\n[resources."{model}"]\nprocesses = 2')
    result = subprocess.run([BIOPROBE, "study", str(plan)], capture_output=True, text=True, timeout=900,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads(next((tmp_path / "runs" / "checkpoints").rglob("run.json")).read_text())
    assert record["settings"]["processes"] == 2


def preempt(job) -> None:
    """Send the job's task process the signal Slurm sends on preemption (submitit's USR signal): submitit calls the
    worker's `checkpoint` and requeues it. (The local job's own `_interrupt` signals its controller, which dies of
    it, so the task is found among the controller's children.)"""
    from submitit.local.local import LocalJobEnvironment

    def children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            found += [int(child) for child in task.read_text().split()]
        return found + [grand for child in found for grand in children(child)]

    tasks = [pid for pid in children(job._process.pid)
             if b"submitit.core._submit" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert tasks, "no submitit task process found"
    os.kill(tasks[0], LocalJobEnvironment._usr_sig())


def test_a_preempted_submitit_job_is_requeued_and_resumes(tiny_model_dirs, cued, tmp_path):
    pytest.importorskip("submitit", reason="submitit is part of the dev extra")  # installed by install.sh --dev
    from bioprobe.study.runner import cells_of
    from bioprobe.study.slurm import submit

    model = str(tiny_model_dirs["gpt2"])
    plan_path = write_plan(tmp_path, [model], cued, sizes=(100,), analyses=("finetune", "probe"),
                           extra=f'[settings."{model}".finetune]\ntrain_limit = 16\nepochs = 60\nsave_steps = 5')
    plan = load_plan(plan_path)
    (job,) = submit(plan, cells_of(plan), executor="local")
    trainer = tmp_path / "runs" / "checkpoints"
    deadline = time.time() + 300  # preempted once a checkpoint is complete (an interrupted save is not resumed from)
    while time.time() < deadline and not list(trainer.rglob("trainer/checkpoint-*/trainer_state.json")):
        time.sleep(0.5)
    assert list(trainer.rglob("trainer/checkpoint-*/trainer_state.json")), job.stderr()
    preempt(job)
    lines = job.result()
    assert "2 cells run" in lines[0] or "1 cells run, 1 already finished" in lines[0], lines
    record = json.loads(next(trainer.rglob("run.json")).read_text())
    assert record["training"]["resumed_from"] is not None  # the requeued job went on from the Trainer checkpoint
    assert all(Store.of(plan.runs_dir).done(c.id) for c in expand(plan))


def test_the_demo_exits_non_zero_when_a_cell_failed_or_could_not_run(monkeypatch, tmp_path):
    from bioprobe.study import runner
    from bioprobe.study.runner import Summary

    summary = Summary(done=["a"], failed={"finetune-x": "out of memory"}, blocked={"probe-x": "needs finetune-x"})
    monkeypatch.setattr(runner, "run_study", lambda plan, **kwargs: summary)
    monkeypatch.setattr(runner, "complete", lambda plan, summary, title=None, echo=print: tmp_path / "report.md")
    result = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "1 cells failed and 1 could not run" in result.output and "report.md" in result.output
    summary.failed.clear()
    result = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1 and "1 could not run" in result.output
    summary.blocked.clear()
    assert CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(tmp_path)]).exit_code == 0


def test_a_table_is_reused_only_when_made_with_the_same_settings(tmp_path):
    from bioprobe import runstore

    table = runstore.results_path(tmp_path, "probing", "ner", "m", 30, 1)
    settings = {"limit": 40, "layers": [0, 3, 6], "fingerprints": ["a1"]}
    assert runstore.reusable(table, settings) is None  # nothing stored yet
    runstore.write_table(table, [{"analysis": "probing", "metric": "accuracy", "value": 0.8}])
    assert runstore.reusable(table, settings) is None  # a table without its record is not trusted
    runstore.write_sidecar(table, settings, seconds=2.5, table=table.name)
    assert runstore.read_json(runstore.sidecar(table)) == {"settings": settings, "seconds": 2.5, "table": table.name}
    assert runstore.reusable(table, settings)["seconds"] == 2.5
    assert runstore.reusable(table, {**settings, "limit": 120}) is None  # other settings: made again
    assert runstore.reusable(table, {**settings, "fingerprints": ["b2"]}) is None  # other weights: made again
    assert runstore.reusable(table, settings, overwrite=True) is None


def test_a_run_record_is_read_by_attribute_and_written_back_unchanged(tmp_path):
    from bioprobe import runstore

    stored = {"status": "complete", "task": "cls", "objective": "classifier", "model": "minilm", "head": "multilabel",
              "lora": False, "labels": ["a", "b"], "metrics": {"micro_f1": 0.5},
              "evaluation": {"thresholds": {"a": 0.3, "b": 0.7}}, "written_by": "an older version"}
    runstore.write_json(tmp_path / "run.json", stored)
    record = runstore.read_run(tmp_path)
    assert (record.task, record.head, record.labels, record.metrics["micro_f1"]) == ("cls", "multilabel", ["a", "b"],
                                                                                     0.5)
    assert record.evaluation["thresholds"]["b"] == 0.7 and record.weights is None and record.template is None
    assert record.extra == {"written_by": "an older version"}  # a key this version does not know is kept
    runstore.write_run(tmp_path / "again", record)
    again = runstore.read_json(tmp_path / "again" / "run.json")
    assert "weights" not in again and "template" not in again  # what a kind of run lacks stays out of the file
    assert {k: again[k] for k in stored} == stored


@pytest.mark.parametrize("classifier, released_probe", [
    ('analyses = ["finetune", "probe"]', False),   # the classifier's size-0 probe shows the released model
    ('analyses = ["finetune"]', True),             # no classifier probe: the instruction run probes it itself
    ('analyses = []', True),
])
def test_the_released_model_is_probed_once_whatever_objective_probes_it(tmp_path, classifier, released_probe):
    plan = tmp_path / "plan.toml"
    plan.write_text('\n'.join(['name = "released"', 'tasks = ["nli"]', 'models = ["smollm2"]', "sizes = [0, 100]",
                               "seeds = [42]", 'objectives = ["classifier", "instruct"]',
                               'analyses = ["finetune", "probe"]', 'data = { nli = "demo" }', "baselines = []",
                               "[settings.smollm2.classifier]", classifier]) + "\n")
    probes = {(c.settings.objective, c.settings.training_size) for c in expand(load_plan(plan)) if c.stage == "probe"}
    expected = {("instruct", 100)} | ({("classifier", 0), ("classifier", 100)} if "probe" in classifier else set())
    assert probes == expected | ({("instruct", 0)} if released_probe else set())
