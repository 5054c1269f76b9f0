"""Networks of other widths made from trained ones, to fine-tune with `pinet train --init`:
`pruning` removes a block's least important filters (smaller, faster), `widening` adds copies
of its filters without changing what it computes (room to learn more). Either way the result
is an ordinary network of the same family whose `widths` alone differ."""

from pinet.resize.pruning import filters_to_keep, prune_checkpoint, prune_network, pruned_widths
from pinet.resize.widening import widen_checkpoint, widen_network

__all__ = [
    "filters_to_keep",
    "prune_checkpoint",
    "prune_network",
    "pruned_widths",
    "widen_checkpoint",
    "widen_network",
]
