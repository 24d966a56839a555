"""bioprobe: what does fine-tuning change inside a language model? Shared base: registries, data, runs, CLI."""

__version__ = "0.1.0"
