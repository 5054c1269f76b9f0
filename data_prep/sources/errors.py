"""Errors the data sources raise."""


class SourceUnavailable(ValueError):
    """The data behind a source is not on this machine; the message names the fixing command."""
