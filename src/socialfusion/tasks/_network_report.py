"""The report's social-network section: influencers and why, the community map, cascade trees, diffusion what-ifs.

Examples:
    >>> from socialfusion import Corpus
    >>> corpus = Corpus.from_records(edges=[{"src": fan, "dst": "hub", "kind": "follow"} for fan in "abcd"])
    >>> section = network_section(corpus, runs=10)
    >>> section.summary
    '5 users, 4 follow ties, 1 community (modularity 0); no reshare cascades. Most influential: hub.'
    >>> section.figure_ids()
    ['network-communities']
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, attempt_import
from socialfusion.tasks._ids import positions

if TYPE_CHECKING:
    import igraph

    from socialfusion.report import Block, ReportSection
    from socialfusion.tasks.influence import GraphCommunities

__all__ = [
    "BRIDGING_SHARE",
    "CELF_CANDIDATES",
    "CELF_RUNS",
    "DEFAULT_EDGE_PROBABILITY",
    "MAP_COMMUNITIES",
    "TREE_CASCADES",
    "WHY_TOP_SHARE",
    "network_section",
]

WHY_TOP_SHARE = 0.1
"""A score is named in a user's "why" when the user ranks in this top share of users by it."""

BRIDGING_SHARE = 0.25
"""A user "bridges" communities in the "why" when at least this share of their contacts lie in other communities."""

MAP_COMMUNITIES = 30
"""Most communities drawn on the community map (the largest ones; communities of one user are never drawn)."""

TREE_CASCADES = 5
"""How many of the largest reshare cascades are drawn as trees."""

DEFAULT_EDGE_PROBABILITY = 0.05
"""Independent-cascade edge probability of the what-if when no cascade lets one be learned."""

CELF_CANDIDATES = 50
"""CELF chooses among the users with the most followers (plus the other methods' seeds), at most this many."""

CELF_RUNS = 200
"""Simulations per CELF marginal-gain estimate (the reach of each seed set is then measured with ``runs``)."""

_CENTRAL_MEMBERS = 3
_MAP_HEIGHT_PX = 420
_TREE_ROW_PX = 14
_EDGE_WIDTHS = (1.0, 2.5, 4.5, 7.0)  # community-map ties, by quartile of tie count


class _Network(NamedTuple):
    """What every part of the section reads: the graph, its scores, communities and the reshare cascades."""

    graph: Any
    names: list[str]
    scores: dict[str, np.ndarray]  # column -> (n_users,) in vertex order
    membership: np.ndarray  # (n_users,) community of each vertex, 0 the largest
    modularity: float
    cascades: pa.Table
    reshares_received: np.ndarray  # (n_users,) int


def _rank(values: np.ndarray) -> np.ndarray:
    """1 + the number of users with a strictly higher value: 1 for the best (ties share a rank)."""
    ordered = np.sort(values)
    return len(values) - np.searchsorted(ordered, values, side="right") + 1


def _standing(rank: int, n_users: int) -> str:
    """``"top 3%"`` for a rank among ``n_users`` (never "top 0%")."""
    return f"top {max(1, math.ceil(100 * rank / n_users))}%"


def _neighbour_communities(graph: igraph.Graph, membership: np.ndarray) -> list[int]:
    """Per user, the number of distinct communities among them and their neighbours (either direction)."""
    return [len({int(membership[vertex]), *membership[neighbours].tolist()}) if neighbours else 1
            for vertex, neighbours in enumerate(graph.neighborhood(mode="all", mindist=1))]


def _why(user: int, network: _Network, spans: list[int], follower_word: str) -> str:
    """The plain-language reasons a user ranks high: the scores in which they stand in the top share."""
    n_users = len(network.names)
    scores = network.scores
    cutoff = max(1, math.ceil(WHY_TOP_SHARE * n_users))
    pagerank_rank = int(_rank(scores["pagerank"])[user])
    reasons = ["highest PageRank" if pagerank_rank == 1 else f"{_standing(pagerank_rank, n_users)} PageRank"]
    followers = int(scores["in_degree"][user])
    follower_rank = int(_rank(scores["in_degree"])[user])
    if followers and follower_rank <= cutoff:
        standing = "the most" if follower_rank == 1 else _standing(follower_rank, n_users)
        reasons.append(f"{followers:,} {follower_word} ({standing})")
    core = int(scores["core"][user])
    if core >= 2 and core == scores["core"].max():
        reasons.append(f"in the innermost {core}-core")
    if spans[user] >= 2 and scores["bridging"][user] >= BRIDGING_SHARE:
        reasons.append(f"bridges {spans[user]} communities ({scores['bridging'][user]:.0%} of contacts outside "
                       "their own)")
    received = int(network.reshares_received[user])
    if received and int(_rank(network.reshares_received)[user]) <= cutoff:
        reasons.append(f"{received:,} reshare{'s' if received != 1 else ''} received")
    return ", ".join(reasons)


def user_handles(users: pa.Table) -> dict[str, str]:
    """``user_id`` -> ``"@handle"`` for every user of a users table with a handle (how the cards name users).

    Examples:
        >>> user_handles(pa.table({"user_id": ["u1", "u2", "u3"], "handle": ["alice", "@bob", " "]}))
        {'u1': '@alice', 'u2': '@bob'}
    """
    if users.num_rows == 0 or not {"user_id", "handle"} <= set(users.column_names):
        return {}
    return {user: "@" + handle.strip().lstrip("@＠") for user, handle in
            zip(users.column("user_id").to_pylist(), users.column("handle").to_pylist())
            if user is not None and handle and handle.strip().lstrip("@＠")}


def _influencers(network: _Network, top: int, follower_word: str, handles: dict[str, str]) -> Block:
    from socialfusion.report import Table

    order = np.lexsort((network.names, -network.scores["pagerank"]))[:top]
    spans = _neighbour_communities(network.graph, network.membership)
    with_handles = any(network.names[user] in handles for user in order)
    rows = [{"user": network.names[user],
             **({"handle": handles.get(network.names[user])} if with_handles else {}),
             "PageRank": float(network.scores["pagerank"][user]),
             follower_word: int(network.scores["in_degree"][user]), "k-core": int(network.scores["core"][user]),
             "bridging": float(network.scores["bridging"][user]), "communities reached": spans[user],
             "reshares received": int(network.reshares_received[user]),
             "why": _why(int(user), network, spans, follower_word)} for user in order]
    return Table(rows, max_rows=max(1, top), key="influencers", caption=(
        f"The {len(rows)} users with the highest PageRank. {follower_word.capitalize()}: users with a tie to them; "
        "k-core: the largest k such that they sit in a group where everyone has k ties; bridging: the share of their "
        "contacts in another community; communities reached: their own and their contacts'; reshares received: "
        f"reshares of their posts. \"Why\" names each score in which they stand in the top "
        f"{100 * WHY_TOP_SHARE:.0f}% of users."))


def _community_graph(network: _Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Community sizes ``(c,)``, and the ``(e, 2)`` community pairs with ties between them and their counts ``(e,)``."""
    sizes = np.bincount(network.membership)
    edges = np.array(network.graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    pairs = np.sort(network.membership[edges], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return sizes, np.empty((0, 2), np.int64), np.empty(0, np.int64)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    return sizes, unique, counts


def _community_map(network: _Network, handles: dict[str, str]) -> list[Block]:
    """The community-level graph (deterministic Kamada-Kawai layout) and the table of communities."""
    import plotly.graph_objects as go

    from socialfusion.report import Figure, Table, Text
    from socialfusion.report._figures import ACCENT, FONT_FAMILY, line_segments, node_link_layout
    from socialfusion.report._format import plural

    sizes, pairs, counts = _community_graph(network)
    edges = np.array(network.graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    same = network.membership[edges[:, 0]] == network.membership[edges[:, 1]]
    internal = np.bincount(network.membership[edges[same, 0]], minlength=len(sizes))
    crossing = np.bincount(network.membership[edges[~same].ravel()], minlength=len(sizes))
    order = np.lexsort((network.names, -network.scores["pagerank"]))
    central: dict[int, list[str]] = defaultdict(list)
    for user in order:
        if len(central[int(network.membership[user])]) < _CENTRAL_MEMBERS:
            central[int(network.membership[user])].append(handles.get(network.names[user], network.names[user]))
    grouped = [community for community in range(len(sizes)) if sizes[community] >= 2]
    singles = len(sizes) - len(grouped)
    rows = [{"community": community, "members": int(sizes[community]), "ties inside": int(internal[community]),
             "ties to other communities": int(crossing[community]),
             "most central members": ", ".join(central[community])} for community in grouped]
    table = Table(rows, max_rows=20, key="communities-table", caption=(
        "Communities (Leiden, modularity over the undirected view) by size, with their three members of highest "
        "PageRank" + (f"; {plural(singles, 'user')} with no tie inside a community are left out" if singles else "")
        + "."))
    if not grouped:
        return [Text("No two users fall in the same community, so there is no community map to draw.")]
    drawn = grouped[:MAP_COMMUNITIES]
    position = {community: index for index, community in enumerate(drawn)}
    kept = [index for index, (a, b) in enumerate(pairs.tolist()) if a in position and b in position]
    links = [(position[int(pairs[index, 0])], position[int(pairs[index, 1])]) for index in kept]
    ties = counts[kept]
    ig = attempt_import("igraph", "graph")
    view = ig.Graph(n=len(drawn), edges=links)
    start = view.layout_circle().coords
    coordinates = np.array(view.layout_kamada_kawai(seed=start).coords if len(drawn) > 2 else start, dtype=float)
    figure = go.Figure()
    if len(ties):
        # Ties between communities drawn in four widths (quartiles of the tie counts), one trace per width.
        quartile = np.searchsorted(np.quantile(ties, [0.25, 0.5, 0.75]), ties, side="left")
        for level, width in enumerate(_EDGE_WIDTHS):
            x, y = line_segments(coordinates, np.array(links)[quartile == level])
            if x:
                figure.add_trace(go.Scatter(x=x, y=y, mode="lines", hoverinfo="skip",
                                            line={"width": width, "color": "rgba(90, 100, 120, 0.45)"}))
        middle = (coordinates[[a for a, _ in links]] + coordinates[[b for _, b in links]]) / 2
        figure.add_trace(go.Scatter(
            x=middle[:, 0], y=middle[:, 1], mode="markers", marker={"size": 8, "opacity": 0},
            text=[f"communities {drawn[a]} and {drawn[b]}: {count:,} ties" for (a, b), count in zip(links, ties)],
            hovertemplate="%{text}<extra></extra>"))
    members = sizes[drawn]
    figure.add_trace(go.Scatter(
        x=coordinates[:, 0], y=coordinates[:, 1], mode="markers+text",
        marker={"size": 14 + 46 * np.sqrt(members / members.max()), "color": ACCENT, "opacity": 0.85,
                "line": {"width": 1, "color": "#fff"}},
        text=[str(community) for community in drawn], textfont={"color": "#fff", "family": FONT_FAMILY},
        customdata=[[int(sizes[community]), html.escape(", ".join(central[community]), quote=False)]
                    for community in drawn],
        hovertemplate="community %{text}: %{customdata[0]:,} members<br>most central: %{customdata[1]}"
                      "<extra></extra>"))
    node_link_layout(figure, height=_MAP_HEIGHT_PX, equal_aspect=True)
    shown = f"the {len(drawn)} largest of {len(grouped)}" if len(grouped) > len(drawn) else f"all {len(drawn)}"
    caption = (f"Communities as nodes ({shown} communities of two or more users), sized by members, numbered as in "
               "the table; lines join communities with ties between them, thicker for more ties (quartiles).")
    return [Figure(figure, caption=caption, key="communities"), table]


def _tree_positions(tree: list[dict]) -> dict[str, int]:
    """Row of each post when a cascade is drawn as a tree: depth-first, children in time order, one row per post."""
    children: dict[str | None, list[str]] = defaultdict(list)
    for row in tree:
        children[row["parent_post_id"]].append(row["post_id"])
    rows: dict[str, int] = {}
    stack = list(reversed(children[None]))
    while stack:
        post = stack.pop()
        rows[post] = len(rows)
        stack.extend(reversed(children[post]))
    return rows


def _cascade_trees(cascades: pa.Table, statistics: pa.Table) -> Block:
    """The ``TREE_CASCADES`` largest cascades with known times, drawn as trees: x = hours after the original."""
    import plotly.colors
    import plotly.graph_objects as go

    from socialfusion.report import Figure, Text
    from socialfusion.report._figures import _legend, house_layout

    palette = plotly.colors.qualitative.Plotly
    trees: dict[str, list[dict]] = defaultdict(list)
    for row in cascades.to_pylist():
        trees[row["cascade_id"]].append(row)
    chosen = [cascade for cascade in statistics.column("cascade_id").to_pylist()
              if all(row["at"] is not None for row in trees[cascade])][:TREE_CASCADES]
    if not chosen:
        return Text("No reshare cascade has times on all its posts, so none is drawn as a tree.")
    figure = go.Figure()
    offset = 0
    for cascade in chosen:
        tree = trees[cascade]
        rows = _tree_positions(tree)
        root_time = tree[0]["at"]
        hours = {row["post_id"]: (row["at"] - root_time).total_seconds() / 3600 for row in tree}
        y = {post: -(offset + row) for post, row in rows.items()}
        line_x, line_y = [], []
        for row in tree:
            if row["parent_post_id"] is not None:
                line_x += [hours[row["parent_post_id"]], hours[row["post_id"]], None]
                line_y += [y[row["parent_post_id"]], y[row["post_id"]], None]
        label = html.escape(f"{cascade} ({len(tree)} posts)", quote=False)
        colour = palette[len(figure.data) // 2 % len(palette)]
        figure.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", legendgroup=cascade, showlegend=False,
                                    line={"width": 1.5, "color": colour}, hoverinfo="skip"))
        figure.add_trace(go.Scatter(
            x=[hours[row["post_id"]] for row in tree], y=[y[row["post_id"]] for row in tree], mode="markers",
            name=label, legendgroup=cascade,
            marker={"size": [12 if row["depth"] == 0 else 8 for row in tree], "color": colour},
            customdata=[[html.escape(str(row["author_id"]), quote=False), row["depth"]] for row in tree],
            hovertemplate="%{customdata[0]}, depth %{customdata[1]}: %{x:.1f} h after the original<extra></extra>"))
        offset += len(tree) + 1
    house_layout(figure, height=max(260, 80 + _TREE_ROW_PX * offset), x_title="hours after the original post",
                  y_title="")
    figure.update_yaxes(visible=False)
    _legend(figure)
    return Figure(figure, key="cascades", caption=(
        f"The {len(chosen)} largest reshare cascades as trees, one below the other: each dot is a post (the larger, "
        "the original), placed by the hours since the original; a line joins a reshare to the post its author most "
        "likely saw it from (the latest earlier sharer they follow, else the original)."))


def _edge_probability(network: _Network, corpus: Corpus) -> tuple[float, str]:
    """One independent-cascade probability, pooled from the cascades (Goyal et al.), and how it was chosen."""
    from socialfusion.tasks.propagation import learned_probabilities

    cascades = network.cascades
    if cascades.num_rows == 0:
        return DEFAULT_EDGE_PROBABILITY, (f"no reshare cascade to learn from, so a default p = "
                                          f"{DEFAULT_EDGE_PROBABILITY} is assumed")
    ties = corpus.edges.select(["src", "dst", "kind"])  # only ties to users in a cascade can count
    ties = ties.filter(pc.and_(pc.is_in(ties.column("kind"), value_set=pa.array(["follow", "friend"])),
                               pc.is_in(ties.column("dst"), value_set=pc.unique(cascades.column("author_id")))))
    # each cascade's rows are its adopters in time order
    learned = learned_probabilities(cascades.column("cascade_id"), cascades.column("author_id"), ties.column("src"),
                                    ties.column("dst"))
    n_cascades = len(pc.unique(cascades.column("cascade_id")))
    trials = learned.column("trials").to_numpy().astype(float)
    if trials.sum() == 0 or not (learned.column("probability").to_numpy() > 0).any():
        return DEFAULT_EDGE_PROBABILITY, (f"the {n_cascades:,} reshare cascades never pass along a follow tie, "
                                          f"so a default p = {DEFAULT_EDGE_PROBABILITY} is assumed")
    probability = float(np.sum(learned.column("probability").to_numpy() * trials) / trials.sum())
    return probability, (f"p = {probability:.3g}, learned from {n_cascades:,} reshare cascades: the share of "
                         "times a follower reshared after a user they follow (Goyal, Bonchi & Lakshmanan 2010, "
                         "pooled over every follow tie)")


def _what_if(network: _Network, corpus: Corpus, seed_count: int, runs: int, random_state: int,
             handles: dict[str, str]) -> list[Block]:
    """Expected independent-cascade reach of the seeds chosen by CELF, by degree discount and by PageRank."""
    from socialfusion.report import Table, Text
    from socialfusion.tasks.propagation import celf_seeds, degree_discount_seeds, independent_cascade_reach

    n_users = len(network.names)
    edges = np.array(network.graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    # An edge a -> b means a follows b: what b posts reaches a. In source order, which every simulation reuses.
    edges = edges[np.argsort(edges[:, 1], kind="stable")]
    sources, targets = edges[:, 1], edges[:, 0]
    probability, how = _edge_probability(network, corpus)
    k = min(seed_count, n_users)
    by_pagerank = np.lexsort((network.names, -network.scores["pagerank"]))[:k].tolist()
    discount = degree_discount_seeds(sources, targets, n_users, k, probability)
    followers = np.bincount(sources, minlength=n_users)
    candidates = list(dict.fromkeys([*np.lexsort((np.arange(n_users), -followers))[:CELF_CANDIDATES].tolist(),
                                     *discount, *by_pagerank]))
    celf = celf_seeds(sources, targets, probability, n_users, k, runs=CELF_RUNS, candidates=candidates,
                      random_state=random_state)
    rows = []
    for method, seeds in (("CELF (greedy on simulated reach)", celf), ("degree discount", discount),
                          ("top PageRank", by_pagerank)):
        sizes = independent_cascade_reach(sources, targets, probability, n_users, seeds, runs=runs,
                                          random_state=random_state)
        rows.append({"method": method, "seed these users": ", ".join(handles.get(network.names[seed],
                                                                                  network.names[seed])
                                                                      for seed in seeds),
                     "expected reach": float(sizes.mean()), "share of users": float(sizes.mean() / n_users),
                     "5th percentile": int(np.percentile(sizes, 5, method="lower")),
                     "95th percentile": int(np.percentile(sizes, 95, method="higher"))})
    return [Text(f"Diffusion what-if: if these {k} users posted something, how many users would it reach when every "
                 f"user passes it on to each of their followers with one chance ({how})? Independent cascade "
                 f"(Kempe, Kleinberg & Tardos 2003), {runs:,} simulations per row, the same random draws for each."),
            Table(rows, caption=(f"Seed these users: expected reach (users reached, the seeds included, of "
                                 f"{n_users:,}). CELF picks among the {len(candidates)} users with the most followers "
                                 f"and the other rows' seeds, estimating each gain from {CELF_RUNS} simulations."),
                  key="what-if")]


def _network(corpus: Corpus, kinds: Sequence[str], random_state: int, built: GraphCommunities | None) -> _Network:
    from socialfusion.tasks.influence import graph_communities, influence_scores
    from socialfusion.tasks.propagation import reshare_cascades

    built = graph_communities(corpus, kinds=kinds, random_state=random_state, given=built)
    graph = built.graph
    names = graph.vs["name"] if graph.vcount() else []
    cascades = reshare_cascades(corpus)
    name_array = pa.array(names, pa.string())
    # reshares received: each cascade's size but its root, credited to the root's author
    sizes = cascades.group_by("cascade_id", use_threads=False).aggregate([("cascade_id", "count")])
    roots = cascades.filter(pc.equal(cascades.column("depth"), 0)).select(["post_id", "author_id"])
    credited = sizes.join(roots, "cascade_id", "post_id", join_type="inner")
    author = positions(credited.column("author_id"), name_array)
    reshared = credited.column("cascade_id_count").to_numpy(zero_copy_only=False) - 1
    received = np.bincount(author[author >= 0], weights=reshared[author >= 0], minlength=len(names)).astype(np.int64)
    if not names:
        return _Network(graph, names, {}, np.zeros(0, np.int64), float("nan"), cascades, received)
    found = built.found
    shown = ("in_degree", "pagerank", "core", "bridging")  # no betweenness or HITS: nothing here reads them
    table = influence_scores(graph, random_state=random_state, found=found, measures=shown)
    order = np.argsort(positions(table.column("user_id"), name_array))
    scores = {column: table.column(column).to_numpy()[order] for column in shown}
    return _Network(graph, names, scores, found.table.column("community").to_numpy(), found.modularity, cascades,
                    received)


def network_section(
    corpus: Corpus,
    *,
    kinds: Sequence[str] = ("follow",),
    top: int = 10,
    seed_count: int = 5,
    runs: int = 1000,
    random_state: int = 0,
    graph: GraphCommunities | None = None,
) -> ReportSection:
    """The report section of the social network: who matters and why, communities, cascades, diffusion what-ifs.

    Shows metric cards (users, ties, communities of two or more users, modularity, reshare cascades); the ``top``
    users by PageRank with their followers, k-core, bridging score and reshares received, and a plain-language
    "why" per user (e.g. "top 1% PageRank, 41 followers (top 2%), bridges 3 communities, 12 reshares
    received"); a community map (one node per community, sized by members, lines weighted by the ties between
    communities, a deterministic layout) and a table of communities with their most central members; the largest
    reshare cascades drawn as timed trees and their statistics; and a what-if table: the expected
    independent-cascade reach of seeding ``seed_count`` users chosen by CELF (among a capped candidate pool), by
    degree discount and by PageRank, with an edge probability learned from the cascades when there are any (else
    ``DEFAULT_EDGE_PROBABILITY``, and the section says so). A part with no data (no ties, no cascades) becomes a
    note. Users are shown by their handle (``@handle``, from the users table) where they have one; the influencer
    table keeps the id beside it.

    Args:
        corpus: the corpus to analyse.
        kinds: the tie kinds of the graph (see ``socialfusion.tasks.influence.social_graph``); influence flows
            against a tie (from the followed to the follower).
        top: users in the influencer table.
        seed_count: seeds per method in the what-if.
        runs: simulations per what-if row.
        random_state: seed of the communities, the scores and the simulations.
        graph: the corpus's graph of ``kinds`` and its communities (``graph_communities(corpus, kinds=kinds,
            random_state=random_state)``) when the caller has them; None builds them here.

    Returns:
        A ``ReportSection`` with key ``"network"``; its figures have the div ids ``network-communities`` and
        ``network-cascades`` (those that have data).

    Raises:
        ConfigurationError: ``top``, ``seed_count`` or ``runs`` below 1, unknown ``kinds``, or a ``graph`` built
            with other kinds or another seed.
    """
    from socialfusion.report import Metrics, ReportSection, Table, Text
    from socialfusion.report._format import plural
    from socialfusion.tasks.propagation import cascade_statistics

    for name, value in (("top", top), ("seed_count", seed_count), ("runs", runs)):
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1; got {value}")
    network = _network(corpus, kinds, random_state, graph)
    handles = user_handles(corpus.users)
    kind_words = "/".join(dict.fromkeys(kinds))
    n_users, n_ties = len(network.names), network.graph.ecount()
    statistics = cascade_statistics(network.cascades) if network.cascades.num_rows else None
    n_cascades = statistics.num_rows if statistics is not None else 0
    grouped = int(np.sum(np.bincount(network.membership) >= 2)) if n_users else 0
    blocks: list = [Metrics({"users": n_users, "ties": n_ties, "communities": grouped,
                             "modularity": None if math.isnan(network.modularity) else network.modularity,
                             "reshare cascades": n_cascades},
                            caption=f"Ties: distinct {kind_words} ties between users; communities: Leiden "
                                    "communities of two or more users.")]
    cascades_word = plural(n_cascades, "reshare cascade") if n_cascades else "no reshare cascades"
    if n_ties == 0:
        among = f" between its {plural(n_users, 'user')}" if n_users else ""
        blocks.append(Text(f"The corpus has no {kind_words} ties{among}, so there are no influencers, communities or "
                           "diffusion what-ifs to show. Ingest an edges table (or choose other kinds, e.g. mention or "
                           "reshare) and analyse again."))
        summary = f"No {kind_words} ties between users; {cascades_word}."
    else:
        follower_word = "followers" if set(kinds) <= {"follow", "friend"} else "in-degree"
        blocks.append(_influencers(network, top, follower_word, handles))
        blocks += _community_map(network, handles)
        blocks += _what_if(network, corpus, seed_count, runs, random_state, handles)
        leader = network.names[int(np.lexsort((network.names, -network.scores["pagerank"]))[0])]
        leader = f"{handles[leader]} ({leader})" if leader in handles else leader
        summary = (f"{plural(n_users, 'user')}, {plural(n_ties, f'{kind_words} tie')}, "
                   f"{grouped:,} {'community' if grouped == 1 else 'communities'} (modularity "
                   f"{network.modularity:.2g}); {cascades_word}. Most influential: {leader}.")
    if statistics is None:
        blocks.append(Text("The corpus has no reshares of its posts, so there are no cascades to draw."))
    else:
        blocks.append(_cascade_trees(network.cascades, statistics))
        blocks.append(Table(statistics, max_rows=10, key="cascades-table", caption=(
            "Reshare cascades, largest first: size (posts, the original included), depth (longest chain of "
            "reshares), max breadth (most posts at one depth), structural virality (mean distance between two posts "
            "of the tree; about 2 for a broadcast, larger for a chain; Goel et al. 2016), duration and speed.")))
    return ReportSection(title="Social network", key="network", summary=summary, blocks=blocks)
