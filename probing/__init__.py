"""Probing: activations (extract and cache), probes and representation similarity, layer by layer.

Planned in its own issue; word alignment, which fine-tuning needs too, lives in `bioprobe.align`.
"""
