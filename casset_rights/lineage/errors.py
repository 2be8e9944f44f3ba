"""Lineage's domain errors; each a subclass of a base the API already maps to a status."""

from __future__ import annotations

from casset_rights.errors import Conflict, Forbidden, InvalidInput, NotFound


class UnknownParent(InvalidInput):
    """A parent named in a registration is not in the catalog."""

    code = "unknown_parent"


class LineageCycle(Conflict):
    """The edge would make a resource (or its own release) its own ancestor."""

    code = "lineage_cycle"


class GrantDoesNotCover(InvalidInput):
    """The license named for an edge is not the registrant's, not in force, or does not
    cover the parent or the scope the relationship needs."""

    code = "grant_does_not_cover"


class GrantRequired(Forbidden):
    """The parent's policy (or an ancestor's) does not permit the use freely, and no
    license that does was named or is held."""

    code = "grant_required"


class RevenueShareExceeded(InvalidInput):
    """The parents of one resource would take more than all of its revenue."""

    code = "revenue_share_exceeded"


class NotLineageOwner(Forbidden):
    """Only the child's owner (its artist, or a client acting for the artist) declares
    or withdraws its parents and decides proposals; others propose."""

    code = "not_lineage_owner"


class EdgeNotFound(NotFound):
    """No edge in force joins the child to that parent in that relationship."""

    code = "edge_not_found"


class ProposalNotFound(NotFound):
    """No proposal with that id that the caller made or is asked to decide."""

    code = "proposal_not_found"


class ProposalAlreadyDecided(Conflict):
    code = "proposal_already_decided"
