"""Shared fixtures: tiny random models of every family, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing may come from the hub in tests: fail at once instead of after minutes of retries.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_models import FAMILIES, build_tiny


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """family -> folder of a tiny random model with its tokenizer (see tests/tiny_models.py)."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {family: build_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture(params=FAMILIES)
def tiny_model_dir(request, tiny_model_dirs) -> Path:
    """One tiny model folder; a test using it runs once per family."""
    return tiny_model_dirs[request.param]


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the figure functions save, in order (kept open for inspection)."""
    from bioprobe.figures import style

    saved, save = [], style.save

    def keep(figure, path):
        saved.append(figure)
        return save(figure, path)

    monkeypatch.setattr(style, "save", keep)
    return saved
