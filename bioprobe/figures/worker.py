"""One figure-drawing process of `bioprobe.figures.draw_all`: reads pickled work units, draws them, pickles back the
`Drawing` records (`python -m bioprobe.figures.worker REQUEST ANSWER`)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(request: str, answer: str) -> None:
    """Draw the units in `request` (`(out_dir, units, width)`) and write their drawings, per unit, to `answer`."""
    from bioprobe.figures import _draw

    out_dir, units, width = pickle.loads(Path(request).read_bytes())
    Path(answer).write_bytes(pickle.dumps([_draw(unit, out_dir, width) for unit in units],
                                          protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main(*sys.argv[1:3])
