"""Gymnasium environments (SparOA-v0, SparOAThreshold-v0) and wrappers."""
