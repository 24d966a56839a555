"""Fine-tune a model on biomedical relation extraction: `python fine_tuning.py --training_size 30 --model_name gpt2`."""

# bioprobe's stages install under its namespace (bioprobe.probing, ...), so this script's own name shadows nothing.
from bioprobe.cli import finetune_cmd

if __name__ == "__main__":
    finetune_cmd.main(default_map={"task": "re"}, prog_name="fine_tuning.py")
