"""Fine-tune a model on biomedical document classification (multi-label): `python fine_tuning.py --training_size 30 --model_name gpt2`."""

# bioprobe's stages install under its namespace (bioprobe.probing, ...), so this script's own name shadows nothing.
from bioprobe.cli import finetune_cmd

if __name__ == "__main__":
    finetune_cmd.main(default_map={"task": "cls"}, prog_name="fine_tuning.py")
