"""The distribution: one top-level import package, `bioprobe`, whose stages live under its namespace (so installing
bioprobe neither shadows nor is shadowed by the unrelated `attention`, `probing` and `finetune` distributions), with
its data files (demo corpus tables, built-in study plans)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_one_top_level_package_with_its_stages_and_data(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("bioprobe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"bioprobe"}
    for module in ("bioprobe/finetune/train.py", "bioprobe/probing/run.py", "bioprobe/attention/compare.py",
                   "bioprobe/study/plans/demo.toml", "bioprobe/study/plans/demo-quick.toml",
                   "bioprobe/demo_corpus/data/ner/chemicals.txt"):
        assert module in names, module
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["bioprobe"]


def test_the_stages_import_only_under_the_namespace(tmp_path):
    probe = "import importlib.util as u, bioprobe.probing.run; print(u.find_spec('probing') is None)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
