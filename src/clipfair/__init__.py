"""clipfair: benchmark CLIP-family models on FairFace attributes and their fairness."""

__version__ = "0.1.0"
