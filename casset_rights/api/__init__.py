"""The HTTP layer: controllers per domain, DTOs, guards, and problem+json mapping."""
