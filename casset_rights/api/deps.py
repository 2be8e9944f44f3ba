"""The dependencies controllers declare by name: ``services`` and ``principal``.

``services_of(request)`` is the ``services`` dependency without Litestar's dependency
injection (see ``api/decisions.py``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from casset_rights.principal import Principal
from casset_rights.services import Services

ServicesDep = NamedDependency[Services]
PrincipalDep = NamedDependency[Principal]


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The app's services container (what the ``services`` dependency provides)."""
    return request.app.state["services"]  # type: ignore[no-any-return]
