"""The batch ground-truth job: exact diagrams and persistence images for whole data sets."""
