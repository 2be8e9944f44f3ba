"""Decisions: the stored policies, the in-memory rights index, and the decision service."""
