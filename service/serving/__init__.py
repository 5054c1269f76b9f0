"""What stands between the routes and the models: the loaded models (`registry`), dynamic
batching of their forward passes (`batching`) and the pool computing exact PIs (`exact`)."""
