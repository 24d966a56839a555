"""Compare pretrained and fine-tuned attention on biomedical relation extraction: `python attention.py --training_sizes 10,30 --model_name biobert`."""

# bioprobe's stages install under its namespace (bioprobe.probing, ...), so this script's own name shadows nothing.
from bioprobe.cli import attention_cmd

if __name__ == "__main__":
    attention_cmd.main(default_map={"task": "re"}, prog_name="attention.py")
