"""Attribution figures: the share of Integrated-Gradients attribution on a task's segment (NLI's hypothesis, RE's
entities) against training size, and example sentences with each token shaded by its attribution (from
`Attribution` records or the tidy rows).

In the examples the pieces of one word touch and words are apart: word boundaries are read from the tokens as the
tokenizer writes them (and the rows store them), "##" continuing a WordPiece word, "Ġ" / "▁" starting a byte-level
BPE or SentencePiece word, "</w>" ending a BioGPT word (`word_groups`). The explained token is outlined and named,
and a colour bar keys the signed attribution, scaled per example to its largest |attribution|.

Integrated Gradients is exact only in the limit of infinitely many steps; its convergence delta (the sum of the
attributions minus the change of the explained logit from the baseline to the input) says how far off the
integral is. An example is flagged in red ("IG delta ... vs total ...: attributions unreliable") when
|delta| > 0.1 x |total| (`DELTA_SHARE`; total = the sum of its attributions) and |delta| > 0.01 (`DELTA_FLOOR`, in
logit units, so that rounding on a near-zero total is not flagged)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe.figures import style
from bioprobe.registry import safe_name
from bioprobe.rows import analysis, kind_of, over_seeds, seed_note, size_order, task_title
from bioprobe.tasks import TASKS


def segment_share(table, out_dir: Path) -> list[style.Drawing]:
    """`attribution_share`: per task with an attribution share (`Task.share_name`: NLI's hypothesis, RE's entities),
    the share of the absolute attribution against training size with its 95 % bootstrap interval over test items,
    one panel per task, one line per model and objective; dotted, the share a uniform attribution would give (the
    segment's share of the tokens of the drawn examples)."""
    rows = analysis(table, "attribution")
    tasks = [task for task in TASKS.values() if task.share_name and not rows.empty and
             ((rows["task"] == task.name) & (rows["metric"] == task.share_name)).any()]
    if not tasks:
        return []
    uniform = {task.name: uniform_share(rows[rows["task"] == task.name]) for task in tasks}
    rows = rows[rows["metric"].isin([task.share_name for task in tasks])]
    kinds = kind_of(rows)
    names = sorted(rows["series"].unique(), key=lambda s: (kinds.get(s.split()[0]) != "encoder", s))
    colors, markers = style.category_colors(names), style.category_markers(names)
    sizes = size_order(rows["training_size"])
    data = over_seeds(rows, ["task", "series", "training_size"], ("value", "ci_low", "ci_high", "n_items"))
    with style.theme():
        figure, axes = style.grid(len(tasks), len(tasks), width=style.ONE_COLUMN * (1 if len(tasks) == 1 else 1.6),
                                  panel_height=2.1)
        for ax, task in zip(axes, tasks):
            shown = data[data["task"] == task.name]
            present = [name for name in names if (shown["series"] == name).any()]
            offsets = np.linspace(-1.2, 1.2, len(present)) if len(present) > 1 else [0.0]
            for offset, name in zip(offsets, present):
                part = shown[shown["series"] == name].sort_values("training_size")
                x = part["training_size"] + offset  # side by side where several models share a size
                errors = None
                if "ci_low" in part and part["ci_low"].notna().all():
                    errors = [part["value"] - part["ci_low"], part["ci_high"] - part["value"]]
                kind = kinds.get(name.split()[0])
                ax.errorbar(x, part["value"], yerr=errors, color=colors[name], marker=markers[name],
                            linestyle="--" if "instruct" in name else "-", capsize=2, elinewidth=0.8,
                            label=name + (f" [{kind}]" if kind else ""))
            ax.set_xticks(sizes)
            ax.set_xlim(min(sizes) - 6, max(sizes) + 6)
            ax.set_ylim(0, 1)
            if uniform[task.name] is not None:
                ax.axhline(uniform[task.name], color="0.6", linewidth=0.6, linestyle=":")
            ax.set_xlabel("training data (%)")
            ax.set_ylabel(f"{task.share_title} of attribution")
            if len(tasks) > 1:
                ax.set_title(task.title)
        style.legend_outside(figure, *style.axes_entries(axes), where="bottom", ncol=2)
        files = style.save(figure, out_dir / "attribution_share")
    caption = " ".join(f"{task.title}: share of the absolute Integrated-Gradients attribution that falls on "
                       f"{task.share_where}, averaged over test {task.items}, with 95 % bootstrap intervals"
                       + (f"; dotted: {uniform[task.name]:.2f}, the share a uniform attribution would give (the "
                          "segment's share of the drawn examples' tokens)." if uniform[task.name] is not None else ".")
                       for task in tasks)
    return [style.Drawing("attribution_share", files, data.round(4), seed_note(caption, data), "attribution")]


def uniform_share(rows) -> float | None:
    """The share of the segment (1) among the scored tokens (segments 0 and 1, special tokens left out) of the
    example rows of one task: what the share would be if every token had the same attribution; None without them."""
    if "segment" not in rows:
        return None
    segments = rows.loc[rows["metric"] == "attribution", "segment"].dropna()
    segments = segments[segments >= 0]
    return float((segments == 1).mean()) if len(segments) else None


@dataclass
class TokenScores:
    """The fields of `attention.attribute.Attribution` that a drawing needs, rebuilt from tidy rows."""

    tokens: list
    scores: np.ndarray
    target: str
    position: int | None
    delta: float
    next_token: bool = False
    """Whether what is explained is the next token after `position` (an instruction-tuned model's answer) rather
    than the prediction for the token at `position` (a classifier's token head)."""


DELTA_SHARE = 0.1
"""An example's Integrated-Gradients convergence delta is called large when it exceeds this share of the example's
total attribution (the sum of its tokens' attributions) ..."""
DELTA_FLOOR = 0.01
"""... and this absolute floor (in the units of the explained logit): a delta of 1e-5 on a total of 1e-4 is
rounding, not a failed integral."""


def _signed(value: float) -> str:
    """A number with its sign, 3 significant digits and a typographic minus."""
    return f"{value:+.3g}".replace("-", "\u2212")


def delta_warning(delta: float, total: float) -> str | None:
    """The warning drawn on an example whose convergence delta is large: |delta| > `DELTA_SHARE` x |total| and
    |delta| > `DELTA_FLOOR` (the attributions then do not add up to the change of the explained logit between the
    baseline and the input, so more integration steps are needed before they are read); None otherwise."""
    if delta != delta or total != total:
        return None
    if abs(delta) > max(DELTA_SHARE * abs(total), DELTA_FLOOR):
        return (f"IG delta {_signed(delta)} vs total {_signed(total)} (over {DELTA_SHARE:.0%} of it): attributions "
                "unreliable")
    return None


SPECIAL = re.compile(r"^(\[[A-Za-z_]+\]|<(?!0x[0-9A-Fa-f]{2}>)[^<>\s]*>)$")
"""A special token: `[CLS]`, `[SEP]`, `<s>`, `</s>`, `<|endoftext|>`, `<pad>` (not a byte token such as `<0x0A>`)."""
BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _byte_decoder() -> dict:
    """GPT-2's byte-level alphabet back to bytes (the inverse of `bytes_to_unicode`: printable bytes stand for
    themselves, the others are shifted to 256 and up; "Ġ" is the space, "Ċ" the newline)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, shifted = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + shifted)
            printable.append(byte)
            shifted += 1
    return {chr(code): byte for code, byte in zip(codes, printable)}


BYTE_DECODER = _byte_decoder()


def token_scheme(tokens) -> str:
    """How the tokenizer marks words, read from its tokens: "wordpiece" (BERT: "##" on a piece that continues a
    word), "byte-level" (GPT-2, SmolLM2: "Ġ" on a piece that starts a word after a space), "sentencepiece" (Llama,
    Mistral: "▁" likewise), "end-of-word" (BioGPT: "</w>" on a word's last piece), or "words" (none: each token is
    a word)."""
    tokens = [str(t) for t in tokens if not SPECIAL.match(str(t))]
    if any(t.endswith("</w>") for t in tokens):
        return "end-of-word"
    if any("Ġ" in t or "Ċ" in t for t in tokens):  # before "##": a prompt's "###" header is a byte-level token
        return "byte-level"
    if any(t.startswith("▁") for t in tokens):
        return "sentencepiece"
    if any(t.startswith("##") and len(t) > 2 and t[2] != "#" for t in tokens):
        return "wordpiece"
    return "words"


def _newline(token: str) -> bool:
    return token in ("Ċ", "<0x0A>", "\n") or (token.strip("Ċ") == "" and token != "")


def word_starts(tokens) -> list[bool]:
    """Whether each token starts a word (`token_scheme`); a special token, and a newline, is a word of its own."""
    tokens = [str(t) for t in tokens]
    scheme = token_scheme(tokens)
    starts, previous = [], None
    for token in tokens:
        alone = bool(SPECIAL.match(token)) or _newline(token)
        if previous is None or alone or SPECIAL.match(previous) or _newline(previous):
            start = True
        elif scheme == "wordpiece":
            start = not token.startswith("##")
        elif scheme == "end-of-word":
            start = previous.endswith("</w>")
        elif scheme == "byte-level":
            start = token.startswith("Ġ")
        elif scheme == "sentencepiece":
            start = token.startswith("▁")
        else:
            start = True
        starts.append(start)
        previous = token
    return starts


def word_groups(tokens) -> list[list[int]]:
    """The positions of the tokens grouped into words (`word_starts`): `["ĠAmy", "l", "oid", "Ġbeta"]` ->
    `[[0, 1, 2], [3]]`."""
    groups: list[list[int]] = []
    for position, start in enumerate(word_starts(tokens)):
        if start or not groups:
            groups.append([])
        groups[-1].append(position)
    return groups


def piece_text(token, scheme: str) -> str:
    """A token as shown: its word marker dropped ("##", "Ġ", "▁", "</w>"), GPT-2's byte alphabet decoded, a byte
    token (`<0x3A>`) as its character, a newline as "↵", a bare space marker as "␣"."""
    token = str(token)
    if _newline(token):
        return "↵"
    byte = BYTE_TOKEN.match(token)
    if byte:
        char = chr(int(byte.group(1), 16))
        return char if char.isprintable() else "·"
    if SPECIAL.match(token):
        return token
    if scheme == "wordpiece" and token.startswith("##") and len(token) > 2:
        token = token[2:]
    elif scheme == "end-of-word" and token.endswith("</w>"):
        token = token[:-4]
    elif scheme == "byte-level":
        if all(char in BYTE_DECODER for char in token):
            token = bytes(BYTE_DECODER[char] for char in token).decode("utf-8", errors="replace")
        token = token.replace("\n", "↵").lstrip(" ")
    elif scheme == "sentencepiece":
        token = token.lstrip("▁")
    return token or "␣"


PER_LINE = 122
"""Characters of 6.5-point monospace (0.6 em wide) across the two-column width, less the margins."""
WORD_GAP = 1.0
"""Blank characters between two words (the pieces of one word touch)."""
PIECE_PAD = 0.15
"""Characters of shading on either side of a piece's text."""


def per_line() -> float:
    """Characters a line holds at the page width in force (`PER_LINE` at two columns, fewer in one)."""
    return PER_LINE * style.page_width(style.TWO_COLUMN) / style.TWO_COLUMN


def token_canvas(n_lines: int, top: float):
    """A page-wide figure for `n_lines` lines of tokens (`token_lines`) under `top` inches of title and key: the
    figure, its one axis (x in characters, line k at y = k, no frame) and its height in inches."""
    height = 0.17 * n_lines + top + 0.05
    figure, ax = style.pyplot().subplots(figsize=(style.page_width(style.TWO_COLUMN), height))
    figure.subplots_adjust(left=0.01, right=0.99, top=1 - top / height, bottom=0.05 / height)
    ax.set_xlim(0, per_line())
    ax.set_ylim(n_lines - 0.5, -0.5)
    ax.axis("off")
    return figure, ax, height


def token_lines(item, scheme: str | None = None):
    """The lines of one example (`tokens`, `scores`): each a list of pieces (x in characters, text, position, weight =
    score / the largest |score|, 0 where missing), the pieces of a word side by side, a gap between words, a word
    never split across lines; `scheme` as `token_scheme` reads it from the tokens by default."""
    scheme = scheme or token_scheme(item.tokens)
    scores = np.asarray(item.scores, dtype=float)
    scale = float(np.nanmax(np.abs(scores))) if len(scores) else 1.0
    lines, row, used = [], [], 0.0
    for group in word_groups(item.tokens):
        texts = [piece_text(item.tokens[p], scheme)[:14] for p in group]
        width = sum(len(t) + 2 * PIECE_PAD for t in texts)
        if used + width > per_line() and row:
            lines.append(row)
            row, used = [], 0.0
        for position, text in zip(group, texts):
            weight = scores[position] / (scale or 1.0) if scores[position] == scores[position] else 0.0
            row.append((used, text, position, weight))
            used += len(text) + 2 * PIECE_PAD
        used += WORD_GAP
    if row:
        lines.append(row)
    return lines


def _label(item, scheme: str) -> str:
    """An example's heading: what is explained (the token marked in the drawing, or the whole input), the prediction,
    the range and total of the attributions and the convergence delta."""
    scores = np.asarray(item.scores, dtype=float)
    position = item.position
    if position is None or position != position or not 0 <= int(position) < len(item.tokens):
        explained = "explained: the whole input"
    else:
        token = f"\u201c{piece_text(item.tokens[int(position)], scheme)}\u201d (token {int(position)})"
        explained = f"explained: the next token after {token}" if getattr(item, "next_token", False) else \
            f"explained: {token}"
    finite = scores[np.isfinite(scores)]
    spread = f"attribution {_signed(finite.min())} to {_signed(finite.max())}, total {_signed(finite.sum())}" \
        if len(finite) else "no attribution"
    return f"{explained} \u2192 {item.target};  {spread};  convergence delta {_signed(item.delta)}"


def examples_figure(attributions, title: str = ""):
    """The figure of `attribution_examples` (drawn, not saved; call inside `style.theme()`).

    Pieces of one word touch (a thin white line between them) and words are apart; the explained token is outlined
    in black (gid "explained") and named in the example's heading; an example whose convergence delta is large
    (`delta_warning`) carries the warning in red under its heading (gid "delta-warning"); the colour bar (gid
    "colour-key") is the signed attribution scaled per example, -1 to +1 of that example's largest |attribution|.
    """
    import matplotlib
    from matplotlib.patches import Rectangle

    cmap = matplotlib.colormaps["RdBu_r"]
    lines = []
    for item in attributions:
        scheme = token_scheme(item.tokens)
        lines.append(("label", _label(item, scheme)))
        scores = np.asarray(item.scores, dtype=float)
        warning = delta_warning(float(item.delta), float(np.nansum(scores)) if len(scores) else 0.0)
        if warning:
            lines.append(("warning", "\u26a0 " + warning))
        explained = None if item.position is None or item.position != item.position else int(item.position)
        lines += [("tokens", (row, explained)) for row in token_lines(item, scheme)]
    figure, ax, height = token_canvas(len(lines), top=0.52)  # 0.52 in for the title and, under it, the colour key
    for number, (kind, content) in enumerate(lines):
        if kind == "label":
            ax.text(0, number, content, fontsize=6.5, fontweight="bold", va="center")
            continue
        if kind == "warning":
            ax.text(0, number, content, fontsize=6.5, fontweight="bold", va="center", color="#B00000",
                    gid="delta-warning")
            continue
        row, explained = content
        for x, text, position, weight in row:
            width = len(text) + 2 * PIECE_PAD
            ax.add_patch(Rectangle((x, number - 0.36), width, 0.72, facecolor=cmap(0.5 + 0.5 * weight),
                                   edgecolor="white", linewidth=0.4, gid="piece"))
            ax.text(x + PIECE_PAD, number, text, fontsize=6.5, va="center", family="DejaVu Sans Mono", gid="piece",
                    color="white" if abs(weight) > 0.7 else "black")
            if position == explained:
                ax.add_patch(Rectangle((x, number - 0.42), width, 0.84, facecolor="none", edgecolor="black",
                                       linewidth=1.2, zorder=3, gid="explained", clip_on=False))
    if title:
        figure.text(0.01, 1 - 0.04 / height, title, fontsize=7.5, va="top", ha="left")
    key = figure.add_axes((0.74, 1 - 0.28 / height, 0.2, 0.06 / height))
    bar = figure.colorbar(matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(-1, 1), cmap), cax=key,
                          orientation="horizontal", ticks=[-1, 0, 1])
    bar.ax.set_xticklabels(["\u2212max", "0", "+max"], fontsize=6)
    bar.ax.tick_params(length=1.5, pad=1)
    bar.outline.set_linewidth(0.4)
    key.set_gid("colour-key")
    figure.text(0.73, 1 - 0.25 / height, "attribution (signed) \u00f7 the example's largest |attribution|: "
                "red for, blue against the explained prediction", fontsize=6, ha="right", va="center")
    return figure


def attribution_examples(attributions, path: Path, title: str = "") -> list[Path]:
    """Each example's tokens shaded by their attribution (red for, blue against the explained prediction, scaled per
    example), wrapped to the two-column width, with word boundaries (pieces of a word touch), the explained token
    outlined, a colour key and a warning on an example whose convergence delta is large (`delta_warning`).

    Args:
        attributions: `attention.attribute.Attribution` records (tokens, scores, target, position, delta).
        path: Output path without suffix.
        title: Figure title.

    Returns:
        The PNG and PDF written (none without examples).
    """
    if not attributions:
        return []
    with style.theme():
        return style.save(examples_figure(attributions, title), path)


def examples_from_rows(table, out_dir: Path) -> list[style.Drawing]:
    """`attribution_{task}_{model}_size{N}[-instruct]`: the per-token attribution rows of each run redrawn (the same
    figure `bioprobe attribute` draws)."""
    rows = analysis(table, "attribution")
    if rows.empty or "token" not in rows:
        return []
    tokens = rows[rows["metric"] == "attribution"]
    deltas = rows[rows["metric"] == "convergence_delta"]
    drawn = []
    for (task, model, size, objective), part in tokens.groupby(["task", "model", "training_size", "objective"]):
        records = []
        for example, items in part.groupby("example"):
            items = items.sort_values("position")
            delta = deltas[(deltas["task"] == task) & (deltas["model"] == model) &
                           (deltas["training_size"] == size) & (deltas["objective"] == objective) &
                           (deltas["example"] == example)]["value"]
            position = items["explained_position"].iloc[0] if "explained_position" in items else None
            records.append(TokenScores(list(items["token"].astype(str)), items["value"].to_numpy(),
                                       str(items["target"].iloc[0]) if "target" in items else "",
                                       None if position is None or position != position else int(position),
                                       float(delta.iloc[0]) if len(delta) else float("nan"),
                                       next_token=objective == "instruct"))
        instruct = objective == "instruct"
        name = f"attribution_{task}_{safe_name(model)}_size{int(size)}{'-instruct' if instruct else ''}"
        title = f"{model}, {task_title(task)}, {'instruction-tuned, ' if instruct else ''}{int(size)} % training data"
        files = attribution_examples(records, out_dir / name, title=title)
        columns = [c for c in ("example", "position", "token", "value", "target", "segment") if c in part]
        caption = (f"{title}: Integrated-Gradients attribution of each token to the explained prediction (red for, "
                   "blue against; scaled per example to its largest |attribution|, colour bar); pieces of one word "
                   "touch, words are apart; the explained token is outlined. The delta is the completeness error of "
                   f"the integral; an example whose |delta| exceeds {DELTA_SHARE:g} x |total attribution| (and "
                   f"{DELTA_FLOOR:g}) is flagged in red as unreliable.")
        drawn.append(style.Drawing(name, files, part[columns].rename(columns={"value": "attribution"}).round(4),
                                   caption, "attribution"))
    return drawn


def all_attribution(table, out_dir: Path) -> list[style.Drawing]:
    """Every attribution figure."""
    return segment_share(table, out_dir) + examples_from_rows(table, out_dir)
