"""Attention: pretrained-vs-fine-tuned attention maps, head importance and attributions.

Planned in its own issue.
"""
