"""The report's attention-map view: for the items whose whole maps the attention stage kept (`--maps`), the
pretrained and the tuned map of one head side by side, the head picked with the layer / head fields or by clicking a
cell of an attention heatmap of the same run. Self-contained: the maps travel in the page as 8-bit base64 (a weight
of 1 is 255), drawn on two canvases by a few lines of script; nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

def _shown(tokens: list[str]) -> list[str]:
    """Tokens as the attribution figure shows them (`attribution.piece_text`: word markers "##", "Ġ", "▁", "</w>"
    dropped, byte tokens decoded, a newline as ↵)."""
    from bioprobe.figures.attribution import piece_text, token_scheme

    scheme = token_scheme(tokens)
    return [piece_text(token, scheme) for token in tokens]


def _quantised(maps: np.ndarray) -> str:
    """`[layers, heads, T, T]` weights in [0, 1] as base64 of one byte each (round(255 * weight))."""
    return base64.b64encode(np.clip(np.rint(maps.astype(np.float32) * 255), 0, 255).astype(np.uint8).tobytes()
                            ).decode("ascii")


def collect(root: Path) -> list[dict]:
    """The kept maps of every attention table under `root/results/attention`, one entry per tuned run and size.

    Returns:
        `[{"key", "figure", "task", "model", "objective", "size", "items": [{"tokens", "layers", "heads", "n",
        "pretrained", "tuned"}]}]` with the maps as `_quantised` strings; sorted by task, model, objective, size.
    """
    from bioprobe import runstore
    from bioprobe.attention.compare import read_maps

    runs = []
    for path in sorted((Path(root) / "results" / "attention").rglob("*.maps.npz")):
        table = path.with_name(path.name[:-len(".maps.npz")] + ".csv")
        if not table.is_file():
            continue
        first = runstore.read_table(table, nrows=1).iloc[0]
        objective = str(first.get("objective") or "classifier")
        if objective == "nan":
            objective = "classifier"
        task, model, size = str(first["task"]), str(first["model"]), int(first["training_size"])
        items = [{"tokens": _shown(kept["tokens"]), "layers": int(kept["tuned"].shape[0]),
                  "heads": int(kept["tuned"].shape[1]), "n": int(kept["tuned"].shape[2]),
                  "pretrained": _quantised(kept["reference"]), "tuned": _quantised(kept["tuned"])}
                 for kept in read_maps(path)]
        if not items:
            continue
        figure = f"{task}_{model}" + ("" if objective == "classifier" else f"_{objective}")
        runs.append({"key": f"{task} · {model} · {objective} · {size} %", "figure": figure, "task": task,
                     "model": model, "objective": objective, "size": size, "items": items})
    return sorted(runs, key=lambda run: (run["task"], run["model"], run["objective"], run["size"]))


SCRIPT = """
(function () {
  const runs = JSON.parse(document.getElementById('mapview-data').textContent);
  const pick = document.getElementById('mapview-run'), item = document.getElementById('mapview-item');
  const layer = document.getElementById('mapview-layer'), head = document.getElementById('mapview-head');
  const decoded = new Map();
  function bytes(text) {
    if (!decoded.has(text)) { decoded.set(text, Uint8Array.from(atob(text), c => c.charCodeAt(0))); }
    return decoded.get(text);
  }
  function draw(canvas, data, it, l, h) {
    const n = it.n, cell = Math.max(6, Math.min(14, Math.floor(420 / n))), margin = 90;
    canvas.width = margin + n * cell + 4; canvas.height = margin + n * cell + 4;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const base = (l * it.heads + h) * n * n;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const v = data[base + i * n + j] / 255;  // white (0) to dark blue (1)
      ctx.fillStyle = `rgb(${Math.round(255 - 247 * v)},${Math.round(255 - 207 * v)},${Math.round(255 - 148 * v)})`;
      ctx.fillRect(margin + j * cell, margin + i * cell, cell, cell);
    }
    ctx.fillStyle = '#222'; ctx.font = `${Math.min(11, cell)}px sans-serif`; ctx.textBaseline = 'middle';
    it.tokens.forEach((t, i) => {
      ctx.textAlign = 'right'; ctx.fillText(t.slice(0, 14), margin - 3, margin + (i + .5) * cell);
      ctx.save(); ctx.translate(margin + (i + .5) * cell, margin - 3); ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left'; ctx.fillText(t.slice(0, 14), 0, 0); ctx.restore();
    });
  }
  function show() {
    const run = runs[pick.value], it = run.items[Math.min(item.value, run.items.length - 1)];
    layer.max = it.layers - 1; head.max = it.heads - 1;
    const l = Math.min(Math.max(0, layer.value | 0), it.layers - 1), h = Math.min(Math.max(0, head.value | 0),
                                                                                 it.heads - 1);
    draw(document.getElementById('mapview-pretrained'), bytes(it.pretrained), it, l, h);
    draw(document.getElementById('mapview-tuned'), bytes(it.tuned), it, l, h);
    document.getElementById('mapview-what').textContent =
      `${run.key}: layer ${l} (of 0-${it.layers - 1}), head ${h} (rows: query token, columns: key token)`;
    document.getElementById('mapview').dataset.shown = `${pick.value}/${l}/${h}`;
  }
  item.max = Math.max(...runs.map(r => r.items.length)) - 1;
  [pick, item, layer, head].forEach(el => el.addEventListener('input', show));
  document.querySelectorAll('figure[id^="figure-attention_"] g[id*="-cell-"]').forEach(cell => {
    cell.style.cursor = 'pointer';
    cell.addEventListener('click', () => {
      const figure = cell.closest('figure').id, found = cell.id.match(/-cell-(\\d+)-(\\d+)-(\\d+)$/);
      const title = (cell.querySelector('title') || {}).textContent || '';
      const numbers = (title.split(':')[0].match(/\\d+/g) || []).map(Number);
      const matching = runs.map((r, k) => [r, k]).filter(([r]) => figure.endsWith('_' + r.figure));
      if (!found || !matching.length) return;
      const [r, k] = matching[Math.min(+found[1], matching.length - 1)];
      pick.value = k;
      layer.value = numbers.length >= 2 ? numbers[0] : +found[2];
      head.value = numbers.length >= 2 ? numbers[1] : +found[3];
      show(); document.getElementById('mapview').scrollIntoView({behavior: 'smooth'});
    });
  });
  show();
})();
"""
"""Draws the chosen head's two maps; a click on a heatmap cell of an attention figure of the same run picks its layer
and head (read from the cell's hover title "layer L, head H: value", else from its row and column)."""


def view_html(root: Path) -> str:
    """The attention-map view of the runs under `root` (empty when no attention table kept maps)."""
    runs = collect(root)
    if not runs:
        return ""
    options = "".join(f'<option value="{k}">{html.escape(run["key"])}</option>' for k, run in enumerate(runs))
    data = json.dumps(runs, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<div id="mapview" class="mapview"><h3>Attention maps of one head, pretrained and tuned</h3>'
        "<p>Whole attention maps of the shortest compared item of each run (8 to 48 tokens; "
        "<code>bioprobe attention --maps N</code> keeps N), at the same scale (white 0, dark blue 1). Choose the run, "
        "item, layer (0 = the first block, as in the attention tables) and head, or click a cell of an attention "
        "heatmap of that run.</p>"
        f'<p><label>run <select id="mapview-run">{options}</select></label> '
        '<label>item <input id="mapview-item" type="number" min="0" value="0" style="width:4em"></label> '
        '<label>layer <input id="mapview-layer" type="number" min="0" value="0" style="width:4em"></label> '
        '<label>head <input id="mapview-head" type="number" min="0" value="0" style="width:4em"></label></p>'
        '<p id="mapview-what"></p><div class="maps"><figure><canvas id="mapview-pretrained"></canvas>'
        "<figcaption>pretrained</figcaption></figure><figure><canvas id=\"mapview-tuned\"></canvas>"
        "<figcaption>tuned</figcaption></figure></div>"
        f'<script type="application/json" id="mapview-data">{data}</script><script>{SCRIPT}</script></div>')
