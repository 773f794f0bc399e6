"""localread: read a code repository you did not write, offline, with a local model."""

__version__ = "0.1.0"
