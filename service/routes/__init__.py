"""Routes grouped by resource: health, models, persistence images."""
