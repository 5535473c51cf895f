"""``socialfusion graph``: influencers, communities, reshare cascades and diffusion what-ifs over a store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from socialfusion.cli.corpus_commands import JsonOption, StoreOption, fail
from socialfusion.exceptions import SocialFusionError

console = Console()
app = typer.Typer(help="Social-network analysis: influencers, communities, cascades, diffusion what-ifs.",
                  no_args_is_help=True)

KindsOption = Annotated[str, typer.Option(help="Ties that make the graph, comma-separated: follow, friend, mention, "
                                               "reply, reshare.")]
TopOption = Annotated[int, typer.Option(help="Rows to show.")]


def _corpus(store: Path):
    from socialfusion.corpus import Corpus
    from socialfusion.store import connect

    if not store.exists():
        fail(FileNotFoundError(f"no store at {store}; create one with: socialfusion ingest PATH --store {store}"))
    return Corpus.from_store(connect(store))


def _graph(store: Path, kinds: str):
    from socialfusion.tasks.influence import social_graph

    names = tuple(kind.strip() for kind in kinds.split(",") if kind.strip())
    try:
        return social_graph(_corpus(store), kinds=names)
    except SocialFusionError as error:
        fail(error)


def _print(rows: list[dict], title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, default=str))
        return
    view = Table(title=title)
    for column in rows[0] if rows else []:
        view.add_column(column, justify="left" if column in ("user_id", "cascade_id") else "right")
    for row in rows:
        view.add_row(*(f"{value:.4g}" if isinstance(value, float) else str(value) for value in row.values()))
    console.print(view)


@app.command()
def influence(store: StoreOption = Path("socialfusion.db"), kinds: KindsOption = "follow", top: TopOption = 20,
              as_json: JsonOption = False) -> None:
    """The most influential users by PageRank, with the other scores that say why."""
    from socialfusion.tasks.influence import influence_scores

    scores = influence_scores(_graph(store, kinds))
    _print(scores.slice(0, top).to_pylist(), f"Top {top} users by PageRank ({kinds})", as_json)


@app.command()
def communities(store: StoreOption = Path("socialfusion.db"), kinds: KindsOption = "follow",
                method: Annotated[str, typer.Option(help="leiden or louvain.")] = "leiden",
                seed: Annotated[int, typer.Option(help="Random seed.")] = 0, as_json: JsonOption = False) -> None:
    """Communities of the graph: their sizes, and the partition's modularity."""
    from socialfusion.tasks.influence import communities as find_communities

    try:
        found = find_communities(_graph(store, kinds), method=method, random_state=seed)
    except SocialFusionError as error:
        fail(error)
    sizes = found.table.group_by("community").aggregate([("user_id", "count")]).sort_by("community")
    rows = [{"community": row["community"], "users": row["user_id_count"]} for row in sizes.to_pylist()]
    if as_json:
        print(json.dumps({"method": found.method, "modularity": found.modularity, "communities": rows}))
        return
    _print(rows, f"{len(rows)} communities ({found.method}), modularity {found.modularity:.3f}", False)


@app.command()
def cascades(store: StoreOption = Path("socialfusion.db"), top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Reshare cascades rebuilt as trees: size, depth, breadth, structural virality and speed, largest first."""
    from socialfusion.tasks.propagation import cascade_statistics, reshare_cascades

    statistics = cascade_statistics(reshare_cascades(_corpus(store)))
    _print(statistics.slice(0, top).to_pylist(), f"{statistics.num_rows:,} reshare cascades", as_json)


@app.command()
def reach(seeds: Annotated[str, typer.Argument(help="Seed user ids, comma-separated.")],
          store: StoreOption = Path("socialfusion.db"), kinds: KindsOption = "follow",
          probability: Annotated[float, typer.Option(help="Chance that a user passes it to each follower.")] = 0.05,
          runs: Annotated[int, typer.Option(help="Simulations.")] = 1000, as_json: JsonOption = False) -> None:
    """Diffusion what-if: the expected reach of seeding these users (independent cascade)."""
    import numpy as np

    from socialfusion.tasks.propagation import independent_cascade_reach

    graph = _graph(store, kinds)
    names = graph.vs["name"]
    index = {name: position for position, name in enumerate(names)}
    wanted = [seed.strip() for seed in seeds.split(",") if seed.strip()]
    unknown = [seed for seed in wanted if seed not in index]
    if unknown:
        fail(ValueError(f"unknown users {unknown}; see: socialfusion graph influence --store {store}"))
    edges = np.array(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    # An edge a -> b means a follows b: what b posts reaches a.
    try:
        sizes = independent_cascade_reach(edges[:, 1], edges[:, 0], probability, len(names),
                                          [index[seed] for seed in wanted], runs=runs)
    except SocialFusionError as error:
        fail(error)
    result = {"seeds": wanted, "probability": probability, "runs": runs, "expected_reach": float(sizes.mean()),
              "p5": float(np.percentile(sizes, 5)), "p95": float(np.percentile(sizes, 95)), "users": len(names)}
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"seeding {', '.join(wanted)}: expected reach {result['expected_reach']:,.1f} of {len(names):,} "
                  f"users (90% of runs between {result['p5']:,.0f} and {result['p95']:,.0f}; {runs:,} runs, "
                  f"p = {probability})")
