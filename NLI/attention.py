"""Compare pretrained and fine-tuned attention on biomedical NLI: `python attention.py --training_sizes 10,30 --model_name biobert`."""

import sys
from pathlib import Path

# This folder is first on sys.path and its probing.py would shadow the probing package: put the repository first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bioprobe.cli import attention_cmd  # noqa: E402

if __name__ == "__main__":
    attention_cmd.main(default_map={"task": "nli"}, prog_name="attention.py")
