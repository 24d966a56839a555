"""Which change matters: known answers of the weight difference (a hand-made update of known rank and norm; a LoRA
delta equal to merged minus base), of reversion (nothing reverted changes nothing; everything reverted is the
pretrained body with the tuned head; a head's slices in every family), of per-item outcomes (their sums give each
task's metric), of LEACE erasure (a probe at chance afterwards; a direction the head does not read changes nothing),
the three commands end to end, and bad input."""

from __future__ import annotations

import copy
import numpy as np
import pandas as pd
import pytest
import torch

from bioprobe import runstore
from bioprobe.causal import params
from bioprobe.causal.erase import erasing, fit_leace, random_eraser, rank_of
from bioprobe.causal.score import Resamples
from bioprobe.causal.weights import diff_rows, spectrum
from bioprobe.models import load_model
from bioprobe.registry import resolve_model
from bioprobe.tasks import get_task
from cli_checks import assert_one_sentence, cli, ok
from tiny_data import write_cued_ner, write_cued_nli
from tiny_models import FAMILIES

LABELS = ("O", "B-Disease", "I-Disease")


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


def test_spectrum_of_a_hand_made_update_of_rank_two():
    u, _ = torch.linalg.qr(torch.randn(20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(12, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    delta = 3.0 * torch.outer(u[:, 0], v[:, 0]) + 1.0 * torch.outer(u[:, 1], v[:, 1])  # singular values 3 and 1
    found = spectrum(delta)
    assert found["top1_energy"] == pytest.approx(9 / 10)
    assert found["top8_energy"] == pytest.approx(1.0)
    p = np.array([3, 1]) / 4  # Roy & Vetterli: exp of the entropy of the normalised singular values
    assert found["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    equal = torch.outer(u[:, 0], v[:, 0]) + torch.outer(u[:, 1], v[:, 1])
    assert spectrum(equal)["effective_rank"] == pytest.approx(2.0)


def test_relative_change_of_a_known_update_and_an_unchanged_model(tiny_model_dirs):
    pretrained = load_model(str(tiny_model_dirs["bert"]), head="base", device="cpu").model
    tuned = load_model(str(tiny_model_dirs["bert"]), head="token", labels=LABELS, device="cpu").model
    rows = diff_rows(tuned, pretrained)
    whole = [r for r in rows if r["group"] == "model" and r["metric"] == "relative_change"]
    assert whole[0]["value"] == 0.0  # the body as loaded: unchanged, and said so
    query = tuned.bert.encoder.layer[1].attention.self.query.weight
    before = query.detach().clone()
    with torch.no_grad():
        query += 0.5 * torch.outer(torch.ones(query.shape[0]), torch.ones(query.shape[1])) / query.shape[0]
    rows = diff_rows(tuned, pretrained)
    row = next(r for r in rows if r["module"] == "encoder.layer.1.attention.self.query.weight"
               and r["metric"] == "relative_change")
    change = query.detach().double() - before.double()
    expected = float(change.norm() / before.double().norm())
    assert row["value"] == pytest.approx(expected, rel=1e-9) and row["layer"] == 2 and row["group"] == "q"
    rank = next(r for r in rows if r["module"] == "encoder.layer.1.attention.self.query.weight"
                and r["metric"] == "effective_rank")
    assert rank["value"] == pytest.approx(1.0, abs=1e-4)  # a rank-one update (float32 weights)
    others = [r for r in rows if r["module"] != "all" and r["group"] not in ("q", "head")
              and r["metric"] == "relative_change"]
    assert all(r["value"] == 0 or np.isnan(r["value"]) for r in others)
    block = next(r for r in rows if r["group"] == "block" and r["layer"] == 2 and r["metric"] == "delta_norm")
    assert block["value"] == pytest.approx(float(change.norm()), rel=1e-9)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_lora_delta_equals_merged_minus_base(family, tiny_model_dirs):
    from peft import LoraConfig, get_peft_model

    targets = ["c_attn", "c_proj"] if family == "gpt2" else ["q_proj", "v_proj", "o_proj"]
    base = load_model(str(tiny_model_dirs[family]), head="causal-lm", device="cpu").model
    pristine = copy.deepcopy(base)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets,
                                            fan_in_fan_out=family == "gpt2"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02, generator=torch.Generator().manual_seed(len(name)))
    before = {n: t.detach().double().clone() for n, t in params.state(model).items()}
    from_adapter = diff_rows(model)
    lora = {r["module"]: r for r in from_adapter if r["metric"] == "delta_norm" and r["module"] != "all"}
    merged = model.merge_and_unload()
    # blocks, kinds and the whole body over every weight, as for a fully tuned run (the denominators counted only
    # the adapted matrices: GPT-2's block 1 came out at 1.08 against 0.17 merged)
    summed = [{k: r[k] for k in ("layer", "group", "value")} for r in from_adapter
              if r["module"] == "all" and r["metric"] == "relative_change"]
    expected = [{k: r[k] for k in ("layer", "group", "value")} for r in diff_rows(merged, pristine)
                if r["module"] == "all" and r["metric"] == "relative_change"]
    assert [(r["layer"], r["group"]) for r in summed] == [(r["layer"], r["group"]) for r in expected]
    for got, want in zip(summed, expected):
        assert got["value"] == pytest.approx(want["value"], rel=1e-5, abs=1e-9), (got, want)
    assert {r["layer"] for r in summed if r["group"] == "block"} == {0, 1, 2}
    after = {n: t.detach().double() for n, t in params.state(merged).items()}
    for name, row in lora.items():
        plain, _, part = name.partition("[")
        delta = after[plain] - before[plain]
        if part:  # GPT-2's fused projection: its q / k / v third
            delta = delta.chunk(3, dim=-1)["qkv".index(part[0])]
        assert row["value"] == pytest.approx(float(delta.norm()), rel=1e-6, abs=1e-12)
    assert len(lora) >= 2


@pytest.mark.parametrize("family", FAMILIES)
def test_reverting_nothing_changes_nothing_and_everything_gives_the_pretrained_body(family, tiny_model_dirs):
    folder = tiny_model_dirs[family]
    pretrained = load_model(str(folder), head="base", device="cpu").model
    tuned = load_model(str(folder), head="sequence", labels=("a", "b", "c"), device="cpu").model
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    reverter = params.Reverter(tuned, pretrained)
    ids = torch.tensor([[5, 9, 14, 22, 7, 3]])
    before = tuned(input_ids=ids).logits.detach().clone()
    originals = {n: p.detach().clone() for n, p in tuned.named_parameters()}
    with params.swapped([]):
        assert torch.equal(tuned(input_ids=ids).logits, before)
    expected = copy.deepcopy(tuned)  # the pretrained body under the tuned head, built by copying weights over
    with torch.no_grad():
        for name, tensor in params.state(expected).items():
            if not name.startswith("head:"):
                tensor.copy_(params.state(pretrained)[name])
    with params.swapped(reverter.everything()):
        body = {n: t for n, t in params.state(tuned).items() if not n.startswith("head:")}
        assert all(torch.equal(t, params.state(pretrained)[n]) for n, t in body.items())
        reverted = tuned(input_ids=ids).logits
        assert torch.equal(reverted, expected(input_ids=ids).logits)
        assert not torch.allclose(reverted, before)
    for name, p in tuned.named_parameters():  # restored exactly
        assert torch.equal(p, originals[name])
    assert torch.equal(tuned(input_ids=ids).logits, before)


@pytest.mark.parametrize("family", FAMILIES)
def test_reverting_block_0_gives_the_pretrained_embeddings_output_and_the_rest_leaves_it_tuned(family,
                                                                                              tiny_model_dirs):
    """Layer 0 is everything before the first block, BERT's embedding LayerNorm included (it was counted in the last
    block): reverting it gives exactly the pretrained hidden state 0, reverting every other block leaves it tuned."""
    folder = tiny_model_dirs[family]
    pretrained = load_model(str(folder), head="base", device="cpu").model
    tuned = load_model(str(folder), head="base", device="cpu").model
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    reverter = params.Reverter(tuned, pretrained)
    ids = torch.tensor([[5, 9, 14, 22, 7, 3]])

    def first(model):
        return model(input_ids=ids, output_hidden_states=True).hidden_states[0]

    with torch.no_grad():
        own, goal = first(tuned), first(pretrained)
        assert not torch.allclose(own, goal)
        with params.swapped(reverter.blocks([0])):
            assert torch.equal(first(tuned), goal)
        with params.swapped(reverter.blocks(range(1, reverter.n_layers + 1))):
            assert torch.equal(first(tuned), own)
    assert params.locate("embeddings.LayerNorm.weight", 6) == (0, "norm")
    assert params.locate("word_embeddings_layernorm.bias", 6) == (0, "norm")  # BLOOM's
    assert params.locate("norm.weight", 6) == (6, "norm") and params.locate("ln_f.bias", 12) == (12, "norm")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_head_reverts_its_own_slices_only(family, tiny_model_dirs):
    folder = tiny_model_dirs[family]
    pretrained = load_model(str(folder), head="base", device="cpu").model
    tuned = load_model(str(folder), head="base", device="cpu").model
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1.0)
    reverter = params.Reverter(tuned, pretrained)
    dim = reverter.head_dim
    patches = reverter.head(2, 1)
    with params.swapped(patches):
        state, reference = params.state(tuned), params.state(pretrained)
        hidden = reverter.n_heads * dim
        for name, tensor in state.items():
            back = torch.isclose(tensor, reference[name])
            layer, group = params.locate(name, reverter.n_layers)
            if layer != 2 or group not in ("q", "k", "v", "o", "qkv"):
                assert not back.any(), name  # nothing outside the head's projections
                continue
            if tensor.dim() == 1:  # a bias: the head's output positions of q / k / v, none of o's
                reverted = back.nonzero().flatten().tolist()
                out_axis_group = group
            else:
                conv1d = group == "qkv" or (group == "o" and family == "gpt2")
                axis = (1 if conv1d else 0) if group != "o" else (0 if conv1d else 1)
                reverted = back.all(dim=1 - axis).nonzero().flatten().tolist()
                assert back.sum() == len(reverted) * tensor.shape[1 - axis], name  # whole rows / columns only
                out_axis_group = group
            if out_axis_group == "qkv":
                assert reverted == [k * hidden + i for k in range(3) for i in range(dim, 2 * dim)], name
            elif (group in ("k", "v") and reverter.n_kv != reverter.n_heads) or (group == "o" and tensor.dim() == 1):
                assert reverted == [], name  # shared by a group of heads, or o's bias (not a head's): left tuned
            else:
                assert reverted == list(range(dim, 2 * dim)), name


@pytest.mark.parametrize("task", ["ner", "nli", "re", "cls"])
def test_summed_outcomes_give_the_tasks_metric(task):
    spec = get_task(task)
    rng = np.random.default_rng(3)
    if task == "ner":
        names = LABELS
        tags = [["O", "B-Disease", "I-Disease", "O"], ["B-Disease", "O", "O"], ["O", "O"], ["B-Disease", "I-Disease"]]
        labels = [[-100] + [0] * len(t) + [-100] for t in tags]
        for row, t in zip(labels, tags):
            row[1:-1] = [names.index(x) for x in t]
        scores = [rng.normal(size=(len(row), 3)) for row in labels]
        encoded, gold = {"labels": labels}, {"tags": tags}
    elif task == "cls":
        names = ("a", "b", "c")
        truth = rng.integers(0, 2, size=(30, 3)).tolist()
        scores = list(rng.normal(size=(30, 3)))
        encoded, gold = {"labels": truth}, {}
    else:
        names = ("entailment", "neutral", "contradiction") if task == "nli" else ("false", "true")
        truth = rng.integers(0, len(names), size=40).tolist()
        scores = list(rng.normal(size=(40, len(names))))
        encoded, gold = {"labels": truth}, {}
    outcomes = spec.outcomes(scores, encoded, gold, names, {"thresholds": {"a": 0.4, "b": 0.5, "c": 0.6}})
    found = float(spec.outcome_score(outcomes.sum(0), names))
    if task == "cls":
        from bioprobe.tasks.cls import multilabel_metrics

        cut = np.array([0.4, 0.5, 0.6])
        expected = multilabel_metrics(np.array(truth), (1 / (1 + np.exp(-np.stack(scores))) >= cut).astype(int),
                                      names)["micro_f1"]
    else:
        splits = {"test": gold}
        expected = spec.classifier_scores(lambda role: (scores, encoded), splits, names)[0][spec.main_metric]
    assert found == pytest.approx(expected)


def test_paired_resamples_of_the_same_outcomes_give_the_same_scores():
    outcomes = np.array([[1.0], [0.0], [1.0], [1.0]])
    resamples = Resamples.draw(4, 200, seed=1)
    whole, drawn = resamples.scores(outcomes, lambda sums: sums[..., 0] / 4)
    assert whole == 0.75 and drawn.shape == (200,)
    again = resamples.scores(outcomes.copy(), lambda sums: sums[..., 0] / 4)[1]
    np.testing.assert_array_equal(drawn, again)
    assert drawn.min() >= 0 and drawn.max() <= 1


def test_leace_leaves_a_probe_at_chance_and_a_random_control_of_the_same_rank():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=600)
    features = rng.normal(size=(600, 10)) + 3.0 * np.eye(10)[labels]  # separable along three directions
    assert LogisticRegression(max_iter=500).fit(features, labels).score(features, labels) > 0.95
    eraser = fit_leace(features, labels.astype(str))
    erased = (eraser(torch.as_tensor(features))).numpy()
    assert LogisticRegression(max_iter=500).fit(erased, labels).score(erased, labels) < 0.40  # chance: about 1/3
    assert rank_of(eraser) == 2  # three classes span two directions
    control = random_eraser(10, 2, eraser.bias, seed=1)
    assert rank_of(control) == 2


def test_erasing_a_direction_the_head_does_not_read_changes_nothing(tiny_model_dirs):
    from concept_erasure import LeaceEraser

    loaded = load_model(str(tiny_model_dirs["bert"]), head="token", labels=LABELS, device="cpu")
    model = loaded.model
    weight = model.classifier.weight.detach().double()  # [classes, hidden]
    null = torch.linalg.svd(weight, full_matrices=True).Vh[-1]  # a direction the head reads as 0
    eraser = LeaceEraser(null[:, None], null[None, :], torch.zeros(weight.shape[1], dtype=torch.float64))
    ids = torch.tensor([[2, 15, 30, 41, 3]])
    before = model(input_ids=ids).logits
    with erasing(model, params.n_layers_of(model), eraser, model.bert.encoder.layer[-1]):
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    with erasing(model, 1, eraser):  # the same direction at a lower layer does change what follows
        assert not torch.allclose(model(input_ids=ids).logits, before, atol=1e-5)


def test_the_three_commands_end_to_end(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["bert"])
    for size in ("0", "50"):
        ok("finetune", "--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--training_size", size,
           "--epochs", "2", "--runs-dir", str(runs))
    ok("attention", "--task", "ner", "--model_name", model, "--training_size", "50", "--runs-dir", str(runs),
       "--limit", "20")
    name = resolve_model(model).name
    ok("diff", "--task", "ner", "--model_name", model, "--training_size", "50", "--runs-dir", str(runs))
    table = pd.read_csv(runstore.results_path(runs, "diff", "ner", name, 50, 42))
    blocks = table[(table["group"] == "block") & (table["metric"] == "relative_change")]
    assert sorted(blocks["layer"]) == [0, 1, 2] and (blocks["value"] > 0).all()
    ok("revert", "--task", "ner", "--model_name", model, "--training_size", "50", "--runs-dir", str(runs),
       "--limit", "20")
    table = pd.read_csv(runstore.results_path(runs, "revert", "ner", name, 50, 42, "test"))
    tuned = table.loc[table["metric"] == "tuned_score", "value"].item()
    base = table.loc[table["metric"] == "size0_score", "value"].item()
    score = table[table["metric"] == "score"]
    everything = score[(score["mode"] == "bottom_up") & (score["layer"] == 2)]["value"].item()
    same = score[(score["mode"] == "top_down") & (score["layer"] == 0)]["value"].item()
    assert everything == same  # both revert the whole body
    heads = table[(table["metric"] == "gain_lost") & table["head"].notna()]
    assert len(heads) == 4 and set(heads["layer"]) == {1, 2}
    lost = table[(table["metric"] == "gain_lost") & (table["mode"] == "single") & table["head"].isna()]
    row = lost[lost["layer"] == 1].iloc[0]
    reverted = score[(score["mode"] == "single") & (score["layer"] == 1) & score["head"].isna()]["value"].item()
    assert row["value"] == pytest.approx((tuned - reverted) / (tuned - base))
    assert set(table["metric"]) >= {"head_loss_change_spearman", "head_loss_importance_spearman"}
    ok("amnesic", "--task", "ner", "--model_name", model, "--training_size", "50", "--runs-dir", str(runs),
       "--limit", "20", "--layers", "1,2")
    table = pd.read_csv(runstore.results_path(runs, "amnesic", "ner", name, 50, 42, "test"))
    drops = table[table["metric"] == "drop_beyond_control"]
    assert sorted(drops["layer"]) == [1, 2]
    probe = table[table["metric"] == "probe_accuracy_erased"]["value"].to_numpy()
    chance = table[table["metric"] == "probe_chance"]["value"].to_numpy()
    assert (probe <= chance + 0.05).all()


def test_a_lora_instruct_run_is_reverted_and_erased(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    ok("finetune", "--task", "nli", "--objective", "instruct", "--model_name", model, "--data", str(cued["nli"]),
       "--training_size", "30", "--epochs", "1", "--lora", "--test-limit", "4", "--max-new-tokens", "4",
       "--runs-dir", str(runs))
    name = resolve_model(model).name
    ok("diff", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "30",
       "--runs-dir", str(runs))
    table = pd.read_csv(runstore.results_path(runs, "diff", "nli", name, 30, 42, objective="instruct"))
    assert table["lora"].all() and (table["group"] == "q").any()
    ok("revert", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "30",
       "--runs-dir", str(runs), "--limit", "6", "--heads", "0")
    table = pd.read_csv(runstore.results_path(runs, "revert", "nli", name, 30, 42, "test", objective="instruct"))
    assert set(table["score_name"]) == {"answer_loglik"}
    size0 = table.loc[table["metric"] == "size0_score", "value"].item()
    everything = table[(table["metric"] == "score") & (table["mode"] == "bottom_up") & (table["layer"] == 2)]
    assert everything["value"].item() == pytest.approx(size0)  # a LoRA run's body reverted is the released model
    ok("amnesic", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "0",
       "--data", str(cued["nli"]), "--runs-dir", str(runs), "--limit", "6", "--layers", "2")
    table = pd.read_csv(runstore.results_path(runs, "amnesic", "nli", name, 0, 42, "test", objective="instruct"))
    assert set(table["score_name"]) == {"answer_loglik"} and table["released"].all()


@pytest.mark.parametrize("args, fragment", [
    (["diff", "--task", "ner", "--training_size", "0"], "Training size 0 is the pretrained model"),
    (["revert", "--task", "ner", "--training_size", "30"], "No finished fine-tuned checkpoint"),
    (["amnesic", "--task", "ner", "--training_size", "0"], "untrained head"),
])
def test_bad_input_is_one_sentence(args, fragment, tmp_path):
    assert_one_sentence(cli(*args, "--model_name", "minilm", "--runs-dir", str(tmp_path)), fragment)


def test_a_layer_or_head_out_of_range_is_one_sentence(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["gpt2"])
    ok("finetune", "--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--training_size", "30",
       "--epochs", "1", "--runs-dir", str(runs))
    for flag, value, fragment in (("--layers", "5", "Layer 5 is out of range"),
                                  ("--heads", "2", "Head 2 is out of range")):
        assert_one_sentence(cli("revert", "--task", "ner", "--model_name", model, "--training_size", "30",
                                "--runs-dir", str(runs), flag, value), fragment)
    assert not list((runs / "results").rglob("revert/**/*.csv"))


def test_a_pretrained_model_of_another_architecture_is_one_sentence(tiny_model_dirs):
    from bioprobe.errors import BioprobeError

    tuned = load_model(str(tiny_model_dirs["llama"]), head="base", device="cpu").model
    other = load_model(str(tiny_model_dirs["mistral"]), head="base", device="cpu").model  # another vocabulary
    with pytest.raises(BioprobeError, match="cannot be taken back there"):
        params.Reverter(tuned, other)


def test_answer_log_likelihood_is_the_same_with_answer_positions_only(tiny_model_dirs, cued):
    from bioprobe.causal.score import answer_scorer
    from bioprobe.data import load_task_data

    loaded = load_model(str(tiny_model_dirs["llama"]), head="causal-lm", device="cpu")
    data = load_task_data("nli", str(cued["nli"]))
    rows = data.splits["test"].select(range(6))
    scored = [answer_scorer(get_task("nli"), loaded.tokenizer, rows, "medtuned", 42, data.labels, 512, 4096, "cpu",
                            answer_logits).outcomes(loaded.model) for answer_logits in (False, True)]
    np.testing.assert_allclose(scored[0], scored[1], rtol=1e-5, atol=1e-6)
    assert (scored[0] < 0).all()


def test_amnesic_erases_the_relation_from_both_entity_positions(tiny_model_dirs, tmp_path):
    from tiny_data import write_blurb_gad

    runs, model, data = tmp_path / "runs", str(tiny_model_dirs["bert"]), write_blurb_gad(tmp_path / "gad")
    ok("finetune", "--task", "re", "--model_name", model, "--data", str(data), "--training_size", "100",
       "--epochs", "1", "--runs-dir", str(runs))
    ok("amnesic", "--task", "re", "--model_name", model, "--training_size", "100", "--runs-dir", str(runs),
       "--limit", "40", "--layers", "2")  # the entity-pair vector joins two positions, each erased
    table = pd.read_csv(runstore.results_path(runs, "amnesic", "re", resolve_model(model).name, 100, 42, "test"))
    assert table.loc[table["metric"] == "score", "rank"].item() == 1  # two labels: one direction
    probe = table.loc[table["metric"] == "probe_accuracy_erased", "value"].item()
    assert probe <= table.loc[table["metric"] == "probe_chance", "value"].item() + 0.05


def test_size_0_of_a_multilabel_run_is_scored_at_its_own_thresholds(tiny_model_dirs, tmp_path):
    """The gain's size 0 is the size-0 run's own test micro-F1, at the thresholds it chose on validation (it was
    scored at the tuned run's)."""
    from bioprobe.causal.revert import run_revert
    from tiny_data import write_blurb_hoc

    runs, model, data = tmp_path / "runs", str(tiny_model_dirs["bert"]), write_blurb_hoc(tmp_path / "hoc")
    for size in ("0", "100"):
        ok("finetune", "--task", "cls", "--model_name", model, "--data", str(data), "--training_size", size,
           "--epochs", "1", "--runs-dir", str(runs))
    name = resolve_model(model).name
    records = {size: runstore.read_run(runstore.checkpoint_dir(runs, "cls", name, size, 42)) for size in (0, 100)}
    assert records[0].evaluation["thresholds"] != records[100].evaluation["thresholds"]
    result = run_revert(task="cls", model_name=model, training_size=100, runs_dir=str(runs), layers="0",
                        heads="none", n_boot=20)
    get = {row["metric"]: row["value"] for row in result.rows if row["mode"] == "none"}
    assert get["size0_score"] == pytest.approx(records[0].metrics["micro_f1"], abs=1e-9)
    assert get["tuned_score"] == pytest.approx(records[100].metrics["micro_f1"], abs=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_reusing_stored_lower_blocks_gives_exactly_the_recomputed_scores(family, tiny_model_dirs, cued, tmp_path,
                                                                          monkeypatch):
    from bioprobe.causal.revert import run_revert
    from bioprobe.causal.score import BlockCache, Scorer

    runs, model = tmp_path / "runs", str(tiny_model_dirs[family])
    task = "ner" if family in ("bert", "gpt2", "llama") else "nli"
    ok("finetune", "--task", task, "--model_name", model, "--data", str(cued[task]), "--training_size", "50",
       "--epochs", "1", "--runs-dir", str(runs))
    passes, outcomes = [], Scorer.outcomes
    monkeypatch.setattr(Scorer, "outcomes", lambda *args, **kwargs: passes.append(1) or outcomes(*args, **kwargs))
    tables = {}
    for reuse in (True, False):
        monkeypatch.setattr(BlockCache, "fits", staticmethod(lambda *args, reuse=reuse, **kwargs: reuse))
        passes.clear()
        result = run_revert(task=task, model_name=model, training_size=50, runs_dir=str(runs), limit=12,
                            overwrite=True, n_boot=50)
        tables[reuse] = pd.DataFrame(result.rows)
        sidecar = runstore.read_json(runstore.sidecar(result.table))
        assert sidecar["block_cache"] is reuse
        # 13 interventions, 10 distinct models: block 0 alone = from the bottom at 0, block 2 alone = from the top at
        # 2, from the bottom at 2 = from the top at 0; plus the tuned (and with the cache, the pretrained) pass
        assert sidecar["seconds"]["n_interventions"] == 13 and sidecar["seconds"]["n_passes"] == 10
        assert len(passes) == 10 + (2 if reuse else 1)
    columns = ["mode", "layer", "head", "value", "ci_low", "ci_high"]
    scores = [t[t["metric"] == "score"][columns] for t in tables.values()]
    assert len(scores[0]) == 3 * 3 + 2 * 2  # three layers in three modes, two heads in two blocks
    pd.testing.assert_frame_equal(scores[0].reset_index(drop=True), scores[1].reset_index(drop=True))
