"""Fine-tune a model on biomedical NLI: `python fine_tuning.py --training_size 30 --model_name gpt2`."""

import sys
from pathlib import Path

# This folder is first on sys.path and its probing.py would shadow the probing package: put the repository first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bioprobe.cli import finetune_cmd  # noqa: E402

if __name__ == "__main__":
    finetune_cmd.main(default_map={"task": "nli"}, prog_name="fine_tuning.py")
