"""The pinet HTTP service: learned persistence images over HTTP, with dynamic batching.

Start it with `python -m service` or `uvicorn --factory service.app:create_app`.
"""
