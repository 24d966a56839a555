"""Linear (and MLP) probes on cached features: task and control probes, bootstrap intervals, online-code MDL.

Everything works on numpy arrays `X` `[items, dim]` (float16 memory maps welcome) and integer labels `y` `[items]`;
a multi-label task's labels are `Y` `[items, labels]` 0/1, probed one label against the rest
(`fit_and_score_multilabel`, `mdl_multilabel`).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

PROBES = ("logistic", "svc", "mlp")
MDL_FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0)

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""Candidate inverse regularisation strengths for `choose_C`, in increasing order (warm starts go along it)."""
CV_MAX_ITEMS = 6000
"""Training items (a seeded stratified subsample) on which `choose_C` cross-validates."""
MAX_ITER = {"logistic": 1000, "svc": 2000, "mlp": 200}
"""Solver iteration limit per probe kind (epochs for the MLP); hitting it is reported as `converged=False`
(see `solver_converged`)."""
TOL = {"logistic": 1e-4, "svc": 1e-4, "mlp": 1e-4}
"""Solver stopping tolerance per probe kind (the scikit-learn defaults)."""
MLP_HIDDEN = 256
"""Units in the MLP probe's single hidden layer."""
MLP_BATCH = 200
"""Minibatch size of the MLP probe (sklearn's default)."""
MLP_MIN_VALIDATION = 100
"""The MLP stops early on a stratified 10 % validation split only when that split has this many items."""
MDL_EPS = 1e-6
"""Weight of the uniform distribution mixed into every MDL block coded by a probe: `p = (1 - eps) p + eps / K`."""
CV_FOLDS = 3
"""Folds of `choose_C`; a label set allows them when at least two classes have this many items."""
PARALLEL_MIN_VALUES = 1_000_000
"""Probes run on several threads (one fit per thread) only when their features hold this many values (`items x dim`).
Below it the solvers' Python and NumPy call overhead, serialised by the GIL, outweighs the arithmetic and threads
lose. On 2 cores, minilm's 7 layers with control task and MDL: 40 demo sentences a split (~600 words x 384) took 9.5 s
on two threads and 5 s on one; 250 sentences (~3,700 words x 384) 29 s on two and 34 s on one; 250 NLI pairs (x 384)
4.9 s on two and 3.5 s on one."""


@dataclass
class ProbeResult:
    """One probe's test-set scores.

    Attributes:
        accuracy: Test accuracy.
        macro_f1: F1 averaged over the classes that occur in the test labels.
        accuracy_ci: 95 % bootstrap percentile interval of `accuracy`.
        macro_f1_ci: 95 % bootstrap percentile interval of `macro_f1`.
        converged: False when the solver stopped at its iteration limit (see `solver_converged`).
        C: Inverse regularisation strength used. For "mlp" the L2 weight is `alpha = batch / (C * n_train)`,
            the same penalty per item as logistic regression's `C`. None when no probe was fitted (one class).
        predictions: `[n_test]` predicted class ids.
        note: Why a result needs care ("did not converge in 1000 iterations", "only one class ..."), else "".
        validation_accuracy: Accuracy of the same probe on the validation items, when they were given; what a
            layer is chosen by, so that the test score of the chosen layer is not a selected maximum.
        validation_macro_f1: Macro-F1 on the validation items (over the classes in their labels), when given.
        validation_predictions: `[n_validation]` predicted class ids, when validation items were given.
    """

    accuracy: float
    macro_f1: float
    accuracy_ci: tuple[float, float]
    macro_f1_ci: tuple[float, float]
    converged: bool
    C: float | None
    predictions: np.ndarray
    note: str = ""
    validation_accuracy: float | None = None
    validation_macro_f1: float | None = None
    validation_predictions: np.ndarray | None = None


@dataclass
class MDLResult:
    """Online codelength of the labels given the features (Voita & Titov, 2020).

    Attributes:
        codelength: Bits to transmit all labels with the online code.
        uniform_codelength: Bits with the uniform code, `n * log2(n_classes)`.
        compression: `uniform_codelength / codelength`; 1 means the features do not help.
        block_ends: Item counts at the block boundaries `[t_1, ..., n]`.
        block_codelengths: Bits spent on each block; the first is `t_1 * log2(n_classes)`.
        converged: False when some block's probe stopped at its iteration limit.
        block_C: Per block, the C of the probe that coded it; None for the first block (uniform code) and for
            blocks coded with the add-one estimate of their prefix's class counts.
    """

    codelength: float
    uniform_codelength: float
    compression: float
    block_ends: list[int]
    block_codelengths: list[float] = field(default_factory=list)
    converged: bool = True
    block_C: list[float | None] = field(default_factory=list)


def one_blas_thread():
    """Context that runs BLAS and OpenMP on one thread.

    The probes' products are skinny (`[n, dim] @ [dim, K]`): inside scikit-learn's solvers two threads were 1.7x
    slower than one on an idle 2-core machine and up to 20x slower on a busy one (measured, OpenBLAS + libgomp);
    `choose_C` uses the cores with one fold per thread instead.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def probe_workers(tasks: int, X) -> int:
    """Threads for `tasks` independent fits on features like `X`: one per core for large features, else one (see
    `PARALLEL_MIN_VALUES`)."""
    if tasks < 2 or X.shape[0] * X.shape[1] < PARALLEL_MIN_VALUES:
        return 1
    return max(1, min(tasks, os.cpu_count() or 1))


@contextmanager
def quiet_solver_warnings():
    """Context that hides the solvers' ConvergenceWarning and StratifiedKFold's "least populated class" warning.

    Convergence is read off each fitted estimator (`solver_converged`) and written to the results, so these
    warnings only repeat it, once per fit and fold. `warnings` filters are one process-wide list: enter this
    once in the thread that starts the worker threads, around the whole pool, never inside a worker (a
    `catch_warnings` entered and left in one thread rewrites the filters every other thread is using).
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        yield


def _as_float32(X) -> np.ndarray:
    """`X` as a float32 `[items, dim]` array; copies only when the dtype differs (e.g. a float16 memory map)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"Features must have shape [items, dim]; got shape {X.shape}.")
    return X if X.dtype == np.float32 else X.astype(np.float32)


def _as_labels(y, n_classes: int | None = None, what: str = "labels") -> np.ndarray:
    """`y` as an int64 `[items]` array, checked to lie in `0..n_classes-1`."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must have shape [items]; got shape {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError(f"{what} must be integer class ids.")
    y = y.astype(np.int64)
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what} must lie in 0..{n_classes - 1}; found {y.min()}..{y.max()}.")
    return y


def _check_kind(kind: str) -> None:
    if kind not in PROBES:
        raise ValueError(f"Unknown probe {kind!r}; available: {', '.join(PROBES)}.")


def _make_probe(kind: str, C: float, seed: int, y_train: np.ndarray, warm_start: bool = False, copy: bool = True):
    """An unfitted `Pipeline(StandardScaler, classifier)` for `kind` with inverse regularisation `C`.

    Args:
        kind: One of `PROBES`.
        C: Inverse regularisation strength (MLP: `alpha = 1 / C`).
        seed: Seed of the solver's randomness.
        y_train: `[n_train]` labels the probe will be fitted on (the MLP stops early only when a stratified 10 %
            validation split of them has `MLP_MIN_VALIDATION` items).
        warm_start: Reuse the previous solution as the starting point (logistic only).
        copy: False lets the scaler standardise the features in place (only for arrays this module owns).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if kind == "logistic":
        # lbfgs fits the multinomial (softmax) model: the default and only multi-class mode in current sklearn.
        clf = LogisticRegression(C=C, solver="lbfgs", max_iter=MAX_ITER[kind], tol=TOL[kind], random_state=seed,
                                 warm_start=warm_start)
    elif kind == "svc":
        clf = LinearSVC(C=C, dual="auto", max_iter=MAX_ITER[kind], tol=TOL[kind], random_state=seed)
    else:
        counts = np.bincount(y_train)
        counts = counts[counts > 0]
        n_val = math.ceil(0.1 * len(y_train))
        # A validation split under 100 items stops on noise (and small data gets few updates per epoch).
        early = bool(n_val >= MLP_MIN_VALIDATION and counts.min() >= 2 and len(y_train) - n_val >= len(counts))
        # sklearn's MLP adds alpha * ||W||^2 / (2 * batch) to each minibatch's mean loss; logistic regression adds
        # ||w||^2 / (2 * C * n) to the mean loss over n items. Equal penalties: alpha = batch / (C * n).
        n_fit = len(y_train) - n_val if early else len(y_train)
        batch = min(MLP_BATCH, n_fit)
        clf = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), alpha=batch / (C * n_fit), batch_size=batch,
                            early_stopping=early, max_iter=MAX_ITER[kind], tol=TOL[kind], random_state=seed)
    return Pipeline([("scale", StandardScaler(copy=copy)), ("probe", clf)])


def solver_converged(clf) -> bool:
    """Whether a fitted probe stopped before its iteration limit: `n_iter_ < max_iter`.

    Read off the estimator, not from warnings (whose filters are shared by every thread): LogisticRegression's
    `n_iter_` `[1]` (lbfgs reports at most `max_iter`), LinearSVC's `n_iter_` (the most liblinear iterations over
    its one-vs-rest problems; liblinear warns exactly when it reaches `max_iter`) and MLPClassifier's `n_iter_`
    (epochs run; it stops earlier when the loss or the early-stopping score stalls). A solver that meets its
    tolerance in exactly its last allowed iteration counts as not converged.

    Args:
        clf: A fitted LogisticRegression, LinearSVC or MLPClassifier.
    """
    return bool(np.max(clf.n_iter_) < clf.max_iter)


def _fit(probe, X: np.ndarray, y: np.ndarray) -> tuple[bool, str]:
    """Fit `probe` in place; returns (converged, note). Touches no warning filter (safe in threads)."""
    probe.fit(X, y)
    if solver_converged(probe[-1]):
        return True, ""
    return False, f"did not converge in {probe[-1].max_iter} iterations"


def folds_possible(y: np.ndarray) -> bool:
    """Whether labels `y` `[items]` allow `choose_C`'s stratified `CV_FOLDS`-fold split (two classes of that many)."""
    return bool((np.bincount(y) >= CV_FOLDS).sum() >= 2) if len(y) else False


def _stratified_subsample(y: np.ndarray, max_items: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subsample of about `max_items` items, every class kept in proportion (>= 1)."""
    if len(y) <= max_items:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    frac = max_items / len(y)
    keep = []
    for c in np.unique(y):
        members = order[y[order] == c]
        keep.append(members[: max(1, int(round(len(members) * frac)))])
    return np.sort(np.concatenate(keep))


def choose_C(kind: str, X, y, seed: int, max_items: int = CV_MAX_ITEMS, criterion: str = "accuracy") -> float:
    """Inverse regularisation strength with the best 3-fold stratified cross-validated accuracy (or log-loss).

    Walks up `C_GRID` on a seeded stratified subsample of at most `max_items` training items, the three folds in
    parallel threads; logistic fits warm-start from the previous C. The walk stops at the first C whose mean
    accuracy falls below the best so far (accuracy is unimodal in C up to noise). Ties in accuracy (common on
    separable data) go to the lower validation log-loss for "logistic" and "mlp", whose probabilities MDL uses,
    and to the smaller C, the simpler probe, for "svc". With `criterion="log_loss"` (what the online code of
    `mdl_online` pays) the walk stops at the first C whose mean log-loss rises above the best so far, and the
    smallest C whose log-loss is within one standard error (over the held-out items) of the lowest wins, the
    one-standard-error rule: on the few items of an early MDL prefix, differences between Cs are mostly noise,
    and picking the noisy minimum gives overconfident probes.

    Args:
        kind: One of `PROBES` ("logistic" or "mlp" with `criterion="log_loss"`).
        X: `[items, dim]` training features (float16 or float32; only the subsample is converted).
        y: `[items]` training labels.
        seed: Seed of the subsample, the folds and the solvers.
        max_items: Most items the cross-validation sees.
        criterion: "accuracy" (default) or "log_loss".

    Returns:
        The chosen C (1.0 when fewer than two classes have three or more items, so no 3-fold split exists).

    Touches no warning filter, so it is safe in threads: a class with fewer than 3 items makes StratifiedKFold
    warn, and a capped fold makes the solver warn (see `quiet_solver_warnings`).
    """
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    _check_kind(kind)
    if criterion not in ("accuracy", "log_loss"):
        raise ValueError(f"Unknown criterion {criterion!r}; use 'accuracy' or 'log_loss'.")
    if criterion == "log_loss" and kind == "svc":
        raise ValueError("Probe 'svc' has no probabilities, so no log-loss: use criterion='accuracy'.")
    y = _as_labels(y)
    if len(y) == 0:
        raise ValueError("Cannot choose C: the training set is empty.")
    if np.asarray(X).shape[0] != len(y):
        raise ValueError(f"Features have {np.asarray(X).shape[0]} items but labels have {len(y)}.")
    if not folds_possible(y):
        return 1.0
    idx = _stratified_subsample(y, max_items, seed)
    X_sub, y_sub = _as_float32(np.asarray(X)[idx]), y[idx]
    splits = list(StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(X_sub, y_sub))
    folds = []
    for train, val in splits:
        X_tr, X_val = X_sub[train], X_sub[val]                # fresh copies: standardised in place
        scaler = StandardScaler(copy=False).fit(X_tr)
        folds.append((scaler.transform(X_tr), y_sub[train], scaler.transform(X_val), y_sub[val]))
    probes: list = [None] * len(folds)

    def score(f: int, C: float) -> tuple[float, float, np.ndarray]:
        """(accuracy, mean log-loss in nats, per-item log-losses `[n_val]`; zeros for "svc") of fold `f` at `C`."""
        X_tr, y_tr, X_val, y_val = folds[f]
        if kind == "logistic" and probes[f] is not None:
            probes[f].set_params(C=C)               # warm start from the previous (more regularised) solution
        else:
            probes[f] = _make_probe(kind, C, seed, y_tr, warm_start=True)[-1]
        probe = probes[f].fit(X_tr, y_tr)
        if kind == "svc":
            return float((probe.predict(X_val) == y_val).mean()), 0.0, np.zeros(len(y_val))
        proba = probe.predict_proba(X_val)
        predicted = probe.classes_[proba.argmax(1)]
        hit = np.zeros(len(y_val))
        seen = np.isin(y_val, probe.classes_)
        hit[seen] = proba[seen, np.searchsorted(probe.classes_, y_val[seen])]
        losses = -np.log(np.clip(hit, 1e-15, None))
        return float((predicted == y_val).mean()), float(losses.mean()), losses

    accuracy = np.full(len(C_GRID), -np.inf)
    log_loss = np.full(len(C_GRID), np.inf)
    log_loss_se = np.full(len(C_GRID), np.inf)
    with one_blas_thread(), ThreadPoolExecutor(probe_workers(len(folds), X_sub)) as pool:
        for i, C in enumerate(C_GRID):
            scores = list(pool.map(score, range(len(folds)), [C] * len(folds)))
            accuracy[i], log_loss[i] = np.mean([sc[:2] for sc in scores], axis=0)
            losses = np.concatenate([sc[2] for sc in scores])    # every subsampled item, held out once
            log_loss_se[i] = losses.std(ddof=1) / math.sqrt(len(losses)) if len(losses) > 1 else np.inf
            if criterion == "log_loss" and i and log_loss[i] > log_loss[:i].min() + 1e-12:
                break
            if criterion == "accuracy" and i and accuracy[i] < accuracy[:i].max() - 1e-12:
                break
    if criterion == "log_loss":
        best = int(np.argmin(log_loss))
        return float(C_GRID[int(np.flatnonzero(log_loss <= log_loss[best] + log_loss_se[best])[0])])
    best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
    return float(C_GRID[best[np.argmin(log_loss[best])]])


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 averaged over the classes that occur in `y_true` `[n]` (sklearn, `zero_division=0`)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))


def bootstrap_ci(y_true, y_pred, n_classes: int, groups=None, n_boot: int = 1000,
                 seed: int = 0) -> dict[str, tuple[float, float]]:
    """95 % percentile bootstrap intervals of accuracy and macro-F1.

    Macro-F1 averages over the classes that occur in `y_true`, the same set in every resample. A class of that set
    with no item at all in a resample (no tp, fp or fn) has nothing to score and is left out of that resample's
    mean, so all-correct predictions give exactly (1, 1); one only predicted there scores 0. Vectorised: per
    resampling unit (item or group) per class counts of tp/fp/fn, resample weights from `bincount`, one matrix
    product per chunk of resamples.

    Args:
        y_true: `[n]` gold class ids.
        y_pred: `[n]` predicted class ids.
        n_classes: Number of classes.
        groups: Optional `[n]` ids of the unit each item belongs to (e.g. its sentence); whole groups are then
            resampled (cluster bootstrap), since items of one group are not independent.
        n_boot: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        `{"accuracy": (low, high), "macro_f1": (low, high)}`.
    """
    y_true = _as_labels(y_true, n_classes, "y_true")
    y_pred = _as_labels(y_pred, n_classes, "y_pred")
    n = len(y_true)
    if n == 0:
        raise ValueError("Cannot bootstrap an empty test set.")
    if len(y_pred) != n:
        raise ValueError(f"y_true has {n} items but y_pred has {len(y_pred)}.")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1; got {n_boot}.")
    if groups is None:
        unit = np.arange(n)
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have shape [{n}]; got {groups.shape}.")
        unit = np.unique(groups, return_inverse=True)[1].ravel()
    n_units = int(unit.max()) + 1
    labels = np.unique(y_true)
    L = len(labels)
    column = np.full(n_classes, -1)
    column[labels] = np.arange(L)
    correct = y_true == y_pred

    # Per unit: [correct, items, tp_1..tp_L, fp_1..fp_L, fn_1..fn_L].
    counts = np.zeros((n_units, 2 + 3 * L))
    counts[:, 0] = np.bincount(unit, weights=correct, minlength=n_units)
    counts[:, 1] = np.bincount(unit, minlength=n_units)
    for offset, rows, cls in ((2, correct, y_true), (2 + 2 * L, ~correct, y_true), (2 + L, ~correct, y_pred)):
        keep = rows & (column[cls] >= 0)
        np.add.at(counts, (unit[keep], offset + column[cls[keep]]), 1)

    return _resampled_scores(counts, L, n_boot, seed)


def _resampled_scores(counts: np.ndarray, L: int, n_boot: int, seed: int) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals of accuracy and macro-F1 from per-unit counts `[correct, items, tp_1..tp_L, fp_1..fp_L,
    fn_1..fn_L]` (units resampled with replacement; a label with no tp, fp or fn in a resample is left out of that
    resample's mean)."""
    n_units = counts.shape[0]
    rng = np.random.default_rng(seed)
    sums = np.empty((n_boot, counts.shape[1]))
    chunk = max(1, min(n_boot, 2_000_000 // n_units))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_units, size=(b, n_units)) + (np.arange(b) * n_units)[:, None]
        weights = np.bincount(draws.ravel(), minlength=b * n_units).reshape(b, n_units)
        with one_blas_thread():
            sums[start:start + b] = weights @ counts
    accuracy = sums[:, 0] / sums[:, 1]
    tp, fp, fn = sums[:, 2:2 + L], sums[:, 2 + L:2 + 2 * L], sums[:, 2 + 2 * L:]
    denom = 2 * tp + fp + fn
    scored = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=scored).sum(axis=1) / np.maximum(scored.sum(axis=1), 1)
    interval = lambda v: tuple(float(q) for q in np.percentile(v, [2.5, 97.5]))  # noqa: E731
    return {"accuracy": interval(accuracy), "macro_f1": interval(f1)}


def multilabel_macro_f1(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
    """F1 of each label (a column of `[items, labels]` 0/1) averaged over the labels that occur in `Y_true`."""
    Y_true, Y_pred = np.asarray(Y_true, dtype=bool), np.asarray(Y_pred, dtype=bool)
    present = Y_true.any(axis=0)
    if not present.any():
        return float("nan")
    tp = (Y_true & Y_pred).sum(0)
    denom = 2 * tp + (~Y_true & Y_pred).sum(0) + (Y_true & ~Y_pred).sum(0)
    return float(np.mean((2 * tp / np.maximum(denom, 1))[present]))


def multilabel_bootstrap_ci(Y_true, Y_pred, n_boot: int = 1000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95 % percentile bootstrap intervals (items resampled) of exact-match accuracy and macro-F1 over the labels
    that occur in `Y_true` (`multilabel_macro_f1`), for `[items, labels]` 0/1 gold and predictions."""
    Y_true, Y_pred = np.asarray(Y_true, dtype=bool), np.asarray(Y_pred, dtype=bool)
    if len(Y_true) == 0:
        raise ValueError("Cannot bootstrap an empty test set.")
    present = Y_true.any(axis=0)
    t, p = Y_true[:, present], Y_pred[:, present]
    counts = np.concatenate([(Y_true == Y_pred).all(1, keepdims=True), np.ones((len(t), 1)), t & p, ~t & p, t & ~p],
                            axis=1).astype(float)
    return _resampled_scores(counts, int(present.sum()), n_boot, seed)


def fit_and_score_multilabel(kind: str, X_train, Y_train, X_test, Y_test, seed: int = 0, C=None, n_boot: int = 1000,
                             X_validation=None, Y_validation=None) -> ProbeResult:
    """One-vs-rest probes of a multi-label task: one binary probe per label (`fit_and_score` on its 0/1 column, its
    C chosen on the training items), their predictions read together.

    Args:
        kind: One of `PROBES`.
        X_train, X_test, X_validation: `[items, dim]` features.
        Y_train, Y_test, Y_validation: `[items, labels]` 0/1.
        seed: Seed of the cross-validation, the solvers and the bootstrap.
        C: Per label, the inverse regularisation strength (a control probe gets the task probe's), or None.
        n_boot: Bootstrap resamples.

    Returns:
        A `ProbeResult` whose `accuracy` is the exact-match accuracy (every label right), `macro_f1` the F1 averaged
        over the labels that occur in the test items, `predictions` `[n_test, labels]`, and `C` the per-label Cs
        (a tuple; None for a label with one class in training).
    """
    Y_train, Y_test = np.asarray(Y_train, dtype=np.int64), np.asarray(Y_test, dtype=np.int64)
    validate = X_validation is not None
    n_labels = Y_train.shape[1]
    chosen = list(C) if C is not None else [None] * n_labels
    predictions, predicted_validation, converged, notes, used = [], [], True, [], []
    for k in range(n_labels):
        fit = fit_and_score(kind, X_train, Y_train[:, k], X_test, Y_test[:, k], 2, seed=seed, C=chosen[k], n_boot=1,
                            X_validation=X_validation,
                            y_validation=np.asarray(Y_validation)[:, k] if validate else None)
        predictions.append(fit.predictions)
        if validate:
            predicted_validation.append(fit.validation_predictions)
        converged &= fit.converged
        notes += [f"label {k}: {fit.note}"] if fit.note and "one class" not in fit.note else []
        used.append(fit.C)
    P = np.stack(predictions, axis=1)
    ci = multilabel_bootstrap_ci(Y_test, P, n_boot=n_boot, seed=seed)
    V = np.stack(predicted_validation, axis=1) if validate else None
    return ProbeResult(
        accuracy=float((P == Y_test).all(1).mean()), macro_f1=multilabel_macro_f1(Y_test, P),
        accuracy_ci=ci["accuracy"], macro_f1_ci=ci["macro_f1"], converged=converged, C=tuple(used), predictions=P,
        note="; ".join(notes),
        validation_accuracy=float((V == np.asarray(Y_validation)).all(1).mean()) if validate else None,
        validation_macro_f1=multilabel_macro_f1(Y_validation, V) if validate else None)


def mdl_multilabel(kind: str, X, Y, seed: int = 0) -> MDLResult:
    """The online codelength of a multi-label task: the sum over labels of each label's binary online code
    (`mdl_online` with K = 2, the same item order and blocks), against the uniform `items x labels` bits."""
    Y = np.asarray(Y, dtype=np.int64)
    parts = [mdl_online(kind, X, Y[:, k], 2, seed=seed) for k in range(Y.shape[1])]
    codelength = float(sum(part.codelength for part in parts))
    uniform = float(sum(part.uniform_codelength for part in parts))
    return MDLResult(codelength=codelength, uniform_codelength=uniform, compression=uniform / codelength,
                     block_ends=parts[0].block_ends,
                     block_codelengths=[float(sum(b)) for b in zip(*(part.block_codelengths for part in parts))],
                     converged=all(part.converged for part in parts), block_C=[None] * len(parts[0].block_ends))


def fit_and_score(kind: str, X_train, y_train, X_test, y_test, n_classes: int, seed: int = 0,
                  C: float | None = None, groups=None, n_boot: int = 1000, X_validation=None,
                  y_validation=None) -> ProbeResult:
    """Fit a probe on the training features and score it on the test features with bootstrap intervals (and on
    validation features, when given, to choose among layers without looking at the test scores).

    Args:
        kind: One of `PROBES`: "logistic" (StandardScaler + multinomial LogisticRegression, lbfgs), "svc"
            (StandardScaler + LinearSVC) or "mlp" (StandardScaler + MLPClassifier, one hidden layer of 256,
            early stopping).
        X_train: `[n_train, dim]` features, float16 or float32 (converted to float32 once).
        y_train: `[n_train]` class ids in `0..n_classes-1`.
        X_test: `[n_test, dim]` features.
        y_test: `[n_test]` class ids.
        n_classes: Number of classes.
        seed: Seed of the cross-validation, the solver and the bootstrap.
        C: Inverse regularisation strength; None chooses it with `choose_C` on the training items. Pass the
            task probe's C to a control probe so that both use the same settings.
        groups: Optional `[n_test]` group ids for a cluster bootstrap (see `bootstrap_ci`).
        n_boot: Bootstrap resamples.
        X_validation: Optional `[n_validation, dim]` features on which the same probe is scored too.
        y_validation: `[n_validation]` class ids (with `X_validation`).

    Returns:
        A `ProbeResult`. With one class in the training labels no probe is fitted: it predicts that class
        (scored honestly), `C` is None unless given, and `note` says so.
    """
    _check_kind(kind)
    y_train = _as_labels(y_train, n_classes, "y_train")
    y_test = _as_labels(y_test, n_classes, "y_test")
    if len(y_train) == 0:
        raise ValueError("Cannot fit a probe: the training set is empty.")
    if len(y_test) == 0:
        raise ValueError("Cannot score a probe: the test set is empty.")
    if np.asarray(X_train).shape[0] != len(y_train) or np.asarray(X_test).shape[0] != len(y_test):
        raise ValueError("Features and labels must have the same number of items in each split.")
    validate = X_validation is not None
    if validate:
        y_validation = _as_labels(y_validation, n_classes, "y_validation")
        if len(y_validation) == 0:
            raise ValueError("Cannot score a probe on validation items: the validation set is empty.")
        if np.asarray(X_validation).shape[0] != len(y_validation):
            raise ValueError("Validation features and labels must have the same number of items.")
    own_test = np.asarray(X_test).dtype != np.float32      # converted here: ours to standardise in place
    X_test = _as_float32(X_test)
    present = np.unique(y_train)
    if len(present) == 1:
        predictions = np.full(len(y_test), present[0], dtype=np.int64)
        predicted_validation = np.full(len(y_validation), present[0], dtype=np.int64) if validate else None
        converged, note = True, f"only one class in training labels (class {present[0]}): predicts it everywhere"
    else:
        own_train = np.asarray(X_train).dtype != np.float32
        X_train = _as_float32(X_train)
        if C is None:
            C = choose_C(kind, X_train, y_train, seed)
        probe = _make_probe(kind, C, seed, y_train, copy=not own_train)
        with one_blas_thread():
            converged, note = _fit(probe, X_train, y_train)
            del X_train                                       # standardised in place when it was our copy
            probe[0].set_params(copy=not own_test)
            predictions = probe.predict(X_test).astype(np.int64)
            if validate:
                own_validation = np.asarray(X_validation).dtype != np.float32
                probe[0].set_params(copy=not own_validation)
                predicted_validation = probe.predict(_as_float32(X_validation)).astype(np.int64)
    ci = bootstrap_ci(y_test, predictions, n_classes, groups=groups, n_boot=n_boot, seed=seed)
    return ProbeResult(
        accuracy=float((predictions == y_test).mean()),
        macro_f1=_macro_f1(y_test, predictions),
        accuracy_ci=ci["accuracy"],
        macro_f1_ci=ci["macro_f1"],
        converged=converged,
        C=None if C is None else float(C),
        predictions=predictions,
        note=note,
        validation_accuracy=float((predicted_validation == y_validation).mean()) if validate else None,
        validation_macro_f1=_macro_f1(y_validation, predicted_validation) if validate else None,
        validation_predictions=predicted_validation if validate else None,
    )


def control_labels(types_train, types_test, y_train, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Control task of Hewitt & Liang (2019): one fixed random label per word type.

    A type's label is drawn from the empirical training label distribution by inverse CDF of a uniform number
    hashed from `(seed, type)`. So it depends only on the type, the seed and that distribution: never on the
    order or on which other types occur, and it is the same in train and test.

    Args:
        types_train: `[n_train]` word types (strings; other values are used via `str`).
        types_test: `[n_test]` word types.
        y_train: `[n_train]` task labels (only their frequencies are used).
        n_classes: Number of classes.
        seed: Seed of the assignment.

    Returns:
        `(control_train [n_train], control_test [n_test])` int64 labels.
    """
    y_train = _as_labels(y_train, n_classes, "y_train")
    if len(y_train) == 0:
        raise ValueError("Cannot draw control labels: the training labels are empty.")
    if len(types_train) != len(y_train):
        raise ValueError(f"types_train has {len(types_train)} items but y_train has {len(y_train)}.")
    cdf = np.cumsum(np.bincount(y_train, minlength=n_classes)) / len(y_train)

    def assign(types) -> np.ndarray:
        unique, inverse = np.unique(np.asarray([str(t) for t in types], dtype=object), return_inverse=True)
        u = np.array([int.from_bytes(hashlib.blake2b(f"{seed}\x00{t}".encode(), digest_size=8).digest(), "little")
                      / 2.0 ** 64 for t in unique])
        labels = np.minimum(np.searchsorted(cdf, u, side="right"), n_classes - 1)
        return labels[inverse.ravel()].astype(np.int64) if len(unique) else np.zeros(0, dtype=np.int64)

    return assign(types_train), assign(types_test)


def shuffled_labels(y, seed: int) -> np.ndarray:
    """Control labels for sentence-pair tasks: a seeded permutation of `y` `[items]`."""
    return np.random.default_rng(seed).permutation(np.asarray(y))


def mdl_online(kind: str, X, y, n_classes: int, seed: int = 0, C: float | None = None,
               fractions=MDL_FRACTIONS) -> MDLResult:
    """Online codelength of the labels given the features (Voita & Titov, 2020).

    Items are put in a seeded random order and cut at `t_i = max(1, round(f_i * n))` (half rounds up; repeated
    ends dropped). The first block costs the uniform code, `t_1 * log2 K` bits; each later block is coded from the
    items before it (its prefix) only, as a receiver who has decoded them could:

    - a prefix that allows `choose_C`'s 3-fold split (two classes with 3 items) codes the block with a probe
      trained on it, `sum -log2 p(y | x)`, its C the one of lowest cross-validated log-loss on that prefix
      (`choose_C(..., criterion="log_loss")`; or the given `C`). A class the prefix never saw keeps its add-one
      probability `1 / (t + K)` and the probe's distribution shares out the rest; the result is mixed with the
      uniform one, `p = (1 - MDL_EPS) p + MDL_EPS / K`, which bounds an overconfident miss at about
      `log2(K / MDL_EPS)` bits;
    - a smaller prefix (one class, or a handful of items) codes it with the add-one (Laplace) estimate of its
      class counts, `p(c) = (n_c + 1) / (t + K)`: no probe can be tuned on it, and a one-class prefix would
      otherwise make every item of another class cost `log2(K / MDL_EPS)` = 21 bits.

    Features that say nothing about the labels thus give a compression of 1 up to the few bits spent learning
    the class frequencies; measure it on items the compared models were not trained on (`bioprobe.probing.run` uses the
    validation split).

    Args:
        kind: "logistic" or "mlp" (a probabilistic probe; "svc" has no probabilities and is refused).
        X: `[n, dim]` features, float16 or float32.
        y: `[n]` class ids in `0..n_classes-1`.
        n_classes: Number of classes K (at least 2).
        seed: Seed of the order, of `choose_C` and of the solvers.
        C: Inverse regularisation strength of every probe-coded block; None (default) chooses each block's by
            `choose_C` on its prefix.
        fractions: Increasing fractions in (0, 1] at which blocks end; items after the last end are not coded.

    Returns:
        An `MDLResult` over the `block_ends[-1]` coded items.
    """
    _check_kind(kind)
    if kind == "svc":
        raise ValueError("MDL needs class probabilities; probe 'svc' has none: use 'logistic' or 'mlp'.")
    if n_classes < 2:
        raise ValueError(f"MDL needs at least 2 classes; got n_classes={n_classes}.")
    y = _as_labels(y, n_classes)
    n = len(y)
    if n == 0:
        raise ValueError("Cannot compute MDL: the data set is empty.")
    if np.asarray(X).shape[0] != n:
        raise ValueError(f"Features have {np.asarray(X).shape[0]} items but labels have {n}.")
    fractions = np.asarray(fractions, dtype=float)
    if fractions.size == 0 or np.any(fractions <= 0) or np.any(fractions > 1) or np.any(np.diff(fractions) <= 0):
        raise ValueError("MDL fractions must be increasing numbers in (0, 1].")
    ends = sorted({max(1, int(math.floor(f * n + 0.5))) for f in fractions})

    order = np.random.default_rng(seed).permutation(n)
    X = _as_float32(np.asarray(X)[order[: ends[-1]]])
    y = y[order[: ends[-1]]]
    bits = math.log2(n_classes)
    blocks, block_C = [ends[0] * bits], [None]
    converged = True
    for start, stop in zip(ends[:-1], ends[1:]):
        prefix, coded = y[:start], y[start:stop]
        if not folds_possible(prefix):
            counts = np.bincount(prefix, minlength=n_classes)
            blocks.append(float(-np.log2((counts[coded] + 1) / (start + n_classes)).sum()))
            block_C.append(None)
            continue
        chosen = C if C is not None else choose_C(kind, X[:start], prefix, seed, criterion="log_loss")
        probe = _make_probe(kind, chosen, seed, prefix)
        with one_blas_thread():
            ok, _ = _fit(probe, X[:start], prefix)
            seen = probe.predict_proba(X[start:stop])
        converged &= ok
        # Classes the prefix lacks keep their add-one mass 1 / (t + K); the probe shares out the rest.
        unseen = np.setdiff1d(np.arange(n_classes), probe.classes_)
        probs = np.full((stop - start, n_classes), 1.0 / (start + n_classes))
        probs[:, probe.classes_] = seen * (1.0 - len(unseen) / (start + n_classes))
        probs = (1.0 - MDL_EPS) * probs + MDL_EPS / n_classes
        blocks.append(float(-np.log2(probs[np.arange(stop - start), coded]).sum()))
        block_C.append(float(chosen))
    codelength = float(sum(blocks))
    uniform = ends[-1] * bits
    return MDLResult(codelength=codelength, uniform_codelength=uniform, compression=uniform / codelength,
                     block_ends=ends, block_codelengths=blocks, converged=converged, block_C=block_C)
