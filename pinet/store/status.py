"""Where each sample of a store stands: its `status` entry (int8)."""

PENDING, DONE, FAILED = 0, 1, 2  # not computed yet; computed; could not be computed (`errors`)
