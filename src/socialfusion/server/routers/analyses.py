"""``/api/v1/influencers``, ``/communities``, ``/trends/bursts``, ``/opinion/alerts``, ``/monitor/alerts``: questions
to the corpus and the monitor's alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["analyses"], responses=ERROR_RESPONSES)


@router.get("/influencers", response_model=app.InfluencersResult, summary="The most influential users")
def influencers(params: Annotated[app.InfluencersParams, Query()], store: StoreDep, settings: SettingsDep,
                _token: ReadToken) -> app.InfluencersResult:
    """Users by PageRank over the chosen ties, with HITS, core, betweenness and bridging."""
    check_page_size(settings, params)
    return app.influencers(store, params)


@router.get("/communities", response_model=app.CommunitiesResult, summary="Communities of the social graph")
def communities(params: Annotated[app.CommunitiesParams, Query()], store: StoreDep, settings: SettingsDep,
                _token: ReadToken) -> app.CommunitiesResult:
    """Leiden or Louvain communities, largest first, and the modularity."""
    check_page_size(settings, params)
    return app.communities(store, params)


@router.get("/trends/bursts", response_model=app.BurstsResult, summary="Bursts of volume per hashtag or topic")
def bursts(params: Annotated[app.BurstParams, Query()], store: StoreDep, settings: SettingsDep,
           _token: ReadToken) -> app.BurstsResult:
    """Periods of unusually high volume, strongest first."""
    check_page_size(settings, params)
    return app.bursts(store, params)


@router.get("/opinion/alerts", response_model=app.OpinionAlertsResult, summary="Rising negative opinion")
def opinion_alerts(params: Annotated[app.OpinionAlertsParams, Query()], store: StoreDep, settings: SettingsDep,
                   _token: ReadToken) -> app.OpinionAlertsResult:
    """Keys whose negative share rose significantly, with the posts that explain each alert."""
    check_page_size(settings, params)
    return app.opinion_alerts(store, params)


@router.get("/monitor/alerts", response_model=app.MonitorAlertsResult, summary="Alerts the monitor fired")
def monitor_alerts(params: Annotated[app.MonitorAlertsParams, Query()], store: StoreDep, settings: SettingsDep,
                   _token: ReadToken) -> app.MonitorAlertsResult:
    """The alerts of ``socialfusion monitor`` on this store, newest first, with their numbers, evidence posts,
    episode and deliveries."""
    check_page_size(settings, params)
    return app.monitor_alerts(store, params)
