"""Seeded synthetic signals and images: broad training data whose exact PIs cost nothing to get.

A PI-Net trained on one real data set scores near a constant on others. These sources draw
every sample from a mixture of generator families (random walks, ARMA processes, sines,
chirps, piecewise signals, spikes, noise textures, gradients, shapes, edges...), so a store
made from them covers structure no single real data set has. Each source's fields are its
parameters, so a store's `job` attributes record exactly how its samples were generated.

Determinism: sample `i` is drawn from `np.random.default_rng([seed, i])` alone, so it does not
depend on `count`, on `--limit` or on the order samples are computed in. Each sample comes
from one family, drawn uniformly from the chosen ones (not round-robin, so the even spread of
`--limit` cannot alias onto one family); the family is in the id and its index in the
source's registry (all families, whatever `families` chose) is the label. Groups are
`family/block` with blocks of GROUP_SIZE consecutive indices, and a group is test when a
stable hash of its name says so (`is_test_group`), so no group straddles the splits and
validation by group has many groups to choose from.
"""

from data_prep.sources.synthetic.images import IMAGE_FAMILIES, SyntheticImages
from data_prep.sources.synthetic.signals import SIGNAL_FAMILIES, SyntheticSignals

__all__ = ["IMAGE_FAMILIES", "SIGNAL_FAMILIES", "SyntheticImages", "SyntheticSignals"]
