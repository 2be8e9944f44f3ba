"""Idempotency's job on the queue (``casset_rights.jobs.registry``)."""

from __future__ import annotations

from typing import Any

from casset_rights.idempotency import expire


def expire_idempotency_keys(context: dict[str, Any]) -> dict[str, Any]:
    """Delete the idempotency keys past their retention (``expire``); idempotent."""
    services = context["services"]
    deleted = expire(services.engine,
                     retention_seconds=services.settings.idempotency_key_retention_seconds)
    return {"deleted": deleted}
