"""``/api/v1/network/reach``, ``/network/next-adopters``: what-ifs and predictions over the social network."""

from __future__ import annotations

from fastapi import APIRouter

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/network", tags=["network"], responses=ERROR_RESPONSES)


@router.post("/reach", response_model=app.ReachResult, summary="Reach of a post seeded by given users (what-if)")
def reach(params: app.ReachParams, store: StoreDep, _token: ReadToken) -> app.ReachResult:
    """How many users a post would reach if these users posted it, under the independent cascade model over the
    chosen ties: the mean of the simulations and their 5th and 95th percentiles."""
    return app.reach(store, params)


@router.post("/next-adopters", response_model=app.NextAdoptersResult, summary="Likeliest next adopters of a cascade")
def next_adopters(
    params: app.NextAdoptersParams, store: StoreDep, settings: SettingsDep, _token: ReadToken
) -> app.NextAdoptersResult:
    """Who is likeliest to reshare next, given the adopters so far in order, by the store's next-adopter model
    (socialfusion graph next-adopters fit --store DIR); adopters the model does not know are listed and ignored."""
    check_page_size(settings, params, "body")
    return app.next_adopters(store, params)
