"""Experiments that were tried and not adopted, kept runnable for models/HISTORY.md."""
