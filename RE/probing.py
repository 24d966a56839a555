"""Probe every layer on biomedical relation extraction: `python probing.py --training_size 30 --model_name gpt2`."""

# bioprobe's stages install under its namespace (bioprobe.probing, ...), so this script's own name shadows nothing.
from bioprobe.cli import probe_cmd

if __name__ == "__main__":
    probe_cmd.main(default_map={"task": "re"}, prog_name="probing.py")
