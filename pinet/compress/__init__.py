"""Smaller networks from trained ones: `pruning` removes whole conv filters of a "pinet"-family
network, leaving an ordinary narrower one to fine-tune with `pinet train --init`."""

from pinet.compress.pruning import filters_to_keep, prune_checkpoint, prune_network, pruned_widths

__all__ = ["filters_to_keep", "prune_checkpoint", "prune_network", "pruned_widths"]
