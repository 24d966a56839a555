"""Marking, on a figure, the tuned runs that barely moved from their pretrained model (`bioprobe.regimes`), so a flat
line at CKA 1 reads as "this run was hardly trained", not as a finding about the model."""

from __future__ import annotations

LABEL = "barely moved"


def flagged(table) -> set[tuple]:
    """`{(task, model, objective, training_size)}` of the runs that barely moved (any seed)."""
    from bioprobe.regimes import barely_moved

    return {(task, model, objective, int(size)) for task, model, objective, size, _ in barely_moved(table)}


def size_of(condition) -> int | None:
    """The training size of a condition label such as "100 %" (None for "pretrained", "random init")."""
    text = str(condition).split()[0] if str(condition).strip() else ""
    return int(text) if text.isdigit() else None


def mark_line(ax, x, y, color) -> None:
    """Write `LABEL` at the right end of a drawn line (its last point), in the line's colour."""
    x, y = list(x), list(y)
    if not x:
        return
    ax.annotate(LABEL, (x[-1], y[-1]), xytext=(-2, -7), textcoords="offset points", ha="right", va="top",
                fontsize=6, color=color, fontstyle="italic")


def mark_panel(ax, sizes: list[int]) -> None:
    """Say in a panel's lower left which of its training sizes barely moved."""
    if sizes:
        ax.text(0.02, 0.03, f"{', '.join(f'{s} %' for s in sorted(sizes))}: {LABEL}", transform=ax.transAxes,
                fontsize=6, color="0.3", fontstyle="italic", ha="left", va="bottom")


def caption_note(shown: set[tuple]) -> str:
    """The caption's sentence naming the shown runs that barely moved (empty when none did)."""
    from bioprobe.regimes import MOVED_CKA, MOVED_WEIGHTS

    if not shown:
        return ""
    names = "; ".join(f"{model}{' ' + objective if objective != 'classifier' else ''} on {task} at {size} %"
                      for task, model, objective, size in sorted(shown))
    return (f" Marked '{LABEL}' (CKA with the pretrained model >= {MOVED_CKA} at every probed layer, or weights "
            f"changed by < {100 * MOVED_WEIGHTS:g} %; see the fine-tuning section): {names}; their flat lines show "
            "how little they were trained, not a finding about the model.")
