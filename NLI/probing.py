"""Probe every layer on biomedical NLI: `python probing.py --training_size 30 --model_name gpt2`."""

import sys
from pathlib import Path

# This folder is first on sys.path and this very file would shadow the probing package: put the repository first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bioprobe.cli import probe_cmd  # noqa: E402

if __name__ == "__main__":
    probe_cmd.main(default_map={"task": "nli"}, prog_name="probing.py")
