"""Training and promotion job of the mlops-stack demo: a churn model on a DVC data version."""

__version__ = "0.1.0"
