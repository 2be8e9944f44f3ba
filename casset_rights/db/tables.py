"""Imports every domain's tables so ``metadata`` knows them all (Alembic, create_all)."""

from casset_rights import log_queue as _log_queue  # noqa: F401
from casset_rights.anchoring import tables as _anchoring  # noqa: F401
from casset_rights.audio import tables as _audio  # noqa: F401
from casset_rights.auth import tables as _auth  # noqa: F401
from casset_rights.commerce import tables as _commerce  # noqa: F401
from casset_rights.db import compression as _compression  # noqa: F401
from casset_rights.db.metadata import metadata
from casset_rights.decisions import tables as _decisions  # noqa: F401
from casset_rights.idempotency import tables as _idempotency  # noqa: F401
from casset_rights.licenses import tables as _licenses  # noqa: F401
from casset_rights.lineage import tables as _lineage  # noqa: F401
from casset_rights.log import tables as _log  # noqa: F401
from casset_rights.manifests import tables as _manifests  # noqa: F401
from casset_rights.receipts import tables as _receipts  # noqa: F401

__all__ = ["metadata"]
