"""Preprocessing job of the mlops-stack demo, and the tooling that versions its output with DVC."""

__version__ = "0.1.0"
