"""The dependencies controllers declare by name: ``services`` and ``principal``."""

from __future__ import annotations

from litestar.di import NamedDependency

from casset_rights.principal import Principal
from casset_rights.services import Services

ServicesDep = NamedDependency[Services]
PrincipalDep = NamedDependency[Principal]
