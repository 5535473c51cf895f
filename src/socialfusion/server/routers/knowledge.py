"""``/api/v1/kg/neighbours``, ``/kg/path``: the strongest ties of a knowledge-graph node; a shortest path between
two."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/kg", tags=["knowledge graph"], responses=ERROR_RESPONSES)


@router.get("/neighbours", response_model=app.NeighboursResult, summary="Neighbours of a node")
def neighbours(params: Annotated[app.NeighboursParams, Query()], store: StoreDep, settings: SettingsDep,
               _token: ReadToken) -> app.NeighboursResult:
    """Entities, hashtags, users and domains tied to the node, strongest first."""
    check_page_size(settings, params)
    return app.kg_neighbours(store, params)


@router.get("/path", response_model=app.PathResult, summary="A shortest path between two nodes")
def path(params: Annotated[app.PathParams, Query()], store: StoreDep, _token: ReadToken) -> app.PathResult:
    """The fewest hops from one node to another (directions ignored), with each hop's relation; no hops when the
    nodes are the same or not connected."""
    return app.kg_path(store, params)
