"""Similarity speed: the three measures (debiased linear CKA, Procrustes, mutual k-NN) with 1,000 bootstrap draws on
10,000 words x 7 layers (384 dims, like minilm), per layer against the same reference layer and as 7 x 7 matrices.

    .venv/bin/python benchmarks/similarity.py [--items 10000] [--layers 7] [--dim 384] [--draws 1000]
                                              [--words-per-unit sentences|1] [--measures cka,procrustes,mutual_knn]

Random data (timing only): the reference layers are Gaussian, the compared layers the reference plus noise, so every
measure is well inside its range. Words come in sentences of 10-40 words (mean 25, about BioNLP 2004's), which are
the resampling units as for NER; `--words-per-unit 1` resamples single items instead (NLI-like). Timed: exactly what
`bioprobe probe` runs after alignment (`probing.run.similarity_rows`: per layer one pass over both Gram matrices,
every measure's value and 1,000 resamples, then the layer-by-layer matrices). Goal (issue 21): under 60 s on the
project's 2-core CPU. The resamples, the Gram passes and the matrices run in two threads, so another job on the
machine stretches the wall time; the CPU time of all threads, printed too, says what the run cost under any load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_S = 60.0


def main() -> None:
    import numpy as np

    from bioprobe.probing.run import SimilarityItems, similarity_rows
    from bioprobe.probing.similarity import measure_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--layers", type=int, default=7)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--words-per-unit", default="sentences")
    parser.add_argument("--measures", default="cka,procrustes,mutual_knn")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.items
    if args.words_per_unit == "sentences":
        lengths = []
        while sum(lengths) < n:
            lengths.append(int(rng.integers(10, 41)))
        lengths[-1] -= sum(lengths) - n
        groups = np.repeat(np.arange(len(lengths)), lengths)
    else:
        groups = None
    reference = rng.standard_normal((args.layers, n, args.dim)).astype(np.float16)
    tuned = (reference + 0.7 * rng.standard_normal(reference.shape)).astype(np.float16)
    items = SimilarityItems(measure_names(args.measures), np.arange(n), np.arange(n), groups, n)
    started, cpu = time.perf_counter(), time.process_time()
    rows = similarity_rows(SimpleNamespace(features=reference), SimpleNamespace(features=tuned),
                           list(range(args.layers)), items, draws=args.draws, seed=42, k=args.k)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    units = len(set(groups.tolist())) if groups is not None else n
    print(f"{', '.join(items.names)}: {n} items in {units} resampling units x {args.layers} layers x {args.dim} dims, "
          f"{args.draws} bootstrap draws: {seconds:.1f} s (goal: under {GOAL_S:.0f} s; cpu time of all threads "
          f"{cpu:.1f} s) on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    for name in items.names:
        last = [r for r in rows if r["metric"] == name and r["layer"] == args.layers - 1][0]
        print(f"  {name} of the last layer: {last['value']:.4f} [{last['ci_low']:.4f}, {last['ci_high']:.4f}]")


if __name__ == "__main__":
    main()
