"""Compare pretrained and fine-tuned attention on biomedical document classification (multi-label): `python attention.py --training_sizes 10,30 --model_name biobert`."""

# bioprobe's stages install under its namespace (bioprobe.probing, ...), so this script's own name shadows nothing.
from bioprobe.cli import attention_cmd

if __name__ == "__main__":
    attention_cmd.main(default_map={"task": "cls"}, prog_name="attention.py")
