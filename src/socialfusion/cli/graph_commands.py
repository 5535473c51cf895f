"""``socialfusion graph``: influencers, communities, reshare cascades, diffusion what-ifs and link suggestions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion import app as app_layer
from socialfusion.cli._shared import (
    JsonOption,
    StoreOption,
    console,
    existing_store,
    load_corpus,
    parameters,
    print_rows,
    run,
)
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(
    help="Social-network analysis: influencers, communities, cascades, diffusion what-ifs, links.", no_args_is_help=True
)

KindsOption = Annotated[
    str, typer.Option(help="Ties that make the graph, comma-separated: follow, friend, mention, reply, reshare.")
]
TopOption = Annotated[int, typer.Option(help="Rows to show.")]
TOP = {"k": "--top"}


def _kinds(kinds: str) -> list[str]:
    return [kind.strip() for kind in kinds.split(",") if kind.strip()]


@app.command()
def influence(
    store: StoreOption = Path("socialfusion.db"),
    kinds: KindsOption = "follow",
    top: TopOption = 20,
    as_json: JsonOption = False,
) -> None:
    """The most influential users by PageRank, with the other scores that say why."""
    params = parameters(app_layer.InfluencersParams, TOP, kinds=_kinds(kinds), k=min(top, app_layer.MAX_K))
    found = run(app_layer.influencers, existing_store(store), params)
    print_rows([user.model_dump() for user in found.users], f"Top {top} users by PageRank ({kinds})", as_json)


@app.command()
def communities(
    store: StoreOption = Path("socialfusion.db"),
    kinds: KindsOption = "follow",
    method: Annotated[str, typer.Option(help="leiden or louvain.")] = "leiden",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Communities of the graph: their sizes, and the partition's modularity."""
    params = parameters(
        app_layer.CommunitiesParams, kinds=_kinds(kinds), method=method, seed=seed, members=0, k=app_layer.MAX_K
    )
    found = run(app_layer.communities, existing_store(store), params)
    rows = [
        {"community": group.community, "users": group.size}
        for group in sorted(found.communities, key=lambda group: group.community)
    ]
    if as_json:
        print(json.dumps({"method": found.method, "modularity": found.modularity, "communities": rows}))
        return
    modularity = "n/a" if found.modularity is None else f"{found.modularity:.3f}"
    print_rows(rows, f"{len(rows)} communities ({found.method}), modularity {modularity}", False)


@app.command()
def cascades(store: StoreOption = Path("socialfusion.db"), top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Reshare cascades rebuilt as trees: size, depth, breadth, structural virality and speed, largest first."""
    params = parameters(app_layer.CascadesParams, TOP, k=min(top, app_layer.MAX_K))
    found = run(app_layer.cascades, existing_store(store), params)
    print_rows([cascade.model_dump() for cascade in found.cascades], f"{found.total:,} reshare cascades", as_json)


@app.command()
def reach(
    seeds: Annotated[str, typer.Argument(help="Seed user ids, comma-separated.")],
    store: StoreOption = Path("socialfusion.db"),
    kinds: KindsOption = "follow",
    probability: Annotated[float, typer.Option(help="Chance that a user passes it to each follower.")] = 0.05,
    runs: Annotated[int, typer.Option(help="Simulations.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Diffusion what-if: the expected reach of seeding these users (independent cascade)."""
    params = parameters(
        app_layer.ReachParams,
        {"seeds": "SEEDS"},
        seeds=_kinds(seeds),
        kinds=_kinds(kinds),
        probability=probability,
        runs=runs,
    )
    found = run(app_layer.reach, existing_store(store), params)
    if as_json:
        print(json.dumps(found.model_dump(exclude={"seed"})))
        return
    console.print(
        f"seeding {', '.join(found.seeds)}: expected reach {found.expected_reach:,.1f} of {found.users:,} "
        f"users (90% of runs between {found.p5:,.0f} and {found.p95:,.0f}; {found.runs:,} runs, "
        f"p = {found.probability})"
    )


UserOption = Annotated[
    list[str] | None,
    typer.Option("--user", help="User to suggest ties for (repeatable); default: the most active authors."),
]
EvaluateOption = Annotated[
    bool, typer.Option("--evaluate", help="Also hold out 10% of the ties and print the AUC and AP of every method.")
]


@app.command()
def links(
    store: StoreOption = Path("socialfusion.db"),
    kinds: KindsOption = "follow",
    user: UserOption = None,
    top: Annotated[int, typer.Option(help="Suggestions per user.")] = 10,
    evaluate: EvaluateOption = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Who should connect with whom: each user's likeliest new ties (friends of friends, scored by LinkPredictor)."""
    params = parameters(
        app_layer.LinksParams,
        {"users": "--user", "k": "--top"},
        users=user or [],
        kinds=_kinds(kinds),
        k=top,
        evaluate=evaluate,
        seed=seed,
    )
    found = run(app_layer.suggest_ties, existing_store(store), params)
    if as_json:
        print(json.dumps(found.model_dump(exclude_none=True, exclude={"held_out", "ties"})))
        return
    rows = [suggestion.model_dump() for suggestion in found.suggestions]
    print_rows(rows, f"Suggested {kinds} ties (non-neighbours within 2 hops, by LinkPredictor probability)", False)
    if found.evaluation is not None:
        print_rows(
            [score.model_dump() for score in found.evaluation],
            f"Held-out link prediction: {found.held_out:,} of {found.ties:,} ties (directions merged) and as "
            f"many non-ties, seed {seed}",
            False,
        )


# -- next-adopter prediction ----------------------------------------------------------------------------------------

next_adopters_app = typer.Typer(
    help="Next-adopter prediction over cascades (who adopts next): fit a NextAdopterModel, predict, evaluate.",
    no_args_is_help=True,
)
app.add_typer(next_adopters_app, name="next-adopters")

NEXT_ADOPTER_FILE = app_layer.NEXT_ADOPTER_FILE

SourceStoreOption = Annotated[
    Path | None,
    typer.Option("--store", "-s", help="Store whose 'share' interactions are the cascades (post id = cascade id)."),
]
CascadesOption = Annotated[
    Path | None,
    typer.Option(
        "--cascades",
        help="Folder of FOREST-style cascade files (cascade.txt, cascadevalid.txt, cascadetest.txt, "
        "optional edges.txt; or Inf-VAE's train/val/test.txt and graph.txt).",
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help=f"Model file (default: <store>/models/{NEXT_ADOPTER_FILE}, or ./{NEXT_ADOPTER_FILE} with --cascades).",
    ),
]
MaxLengthOption = Annotated[
    int,
    typer.Option(
        help="--cascades only: FOREST's length filter keeps cascades of 2 to this many adopters (0: no upper limit)."
    ),
]


def _next_adopter_path(store: Path | None, model: Path | None) -> Path:
    if model is not None:
        return model
    if store is not None:
        return store / "models" / NEXT_ADOPTER_FILE
    return Path(NEXT_ADOPTER_FILE)


def _one_source(store: Path | None, cascades: Path | None) -> None:
    if (store is None) == (cascades is None):
        raise typer.BadParameter("give exactly one of --store and --cascades", param_hint="--store/--cascades")


def _cascade_source(store: Path | None, cascades: Path | None, max_length: int):
    """The corpus of ``--store`` or ``--cascades`` (exactly one of them)."""
    _one_source(store, cascades)
    if store is not None:
        return load_corpus(store)
    from socialfusion.datasets import load_forest_cascades

    return load_forest_cascades(cascades, max_length=max_length or None)


def _split(split: str) -> str:
    """``all``, or the standard name of a split (``val`` is ``dev``)."""
    from socialfusion.datasets._shared import canonical_split

    if split == "all":
        return split
    try:
        return canonical_split(split)
    except SocialFusionError as error:
        raise typer.BadParameter(f"{error}, or all", param_hint="--split") from None


@next_adopters_app.command("fit")
def next_adopters_fit(
    store: SourceStoreOption = None,
    cascades: CascadesOption = None,
    model: ModelOption = None,
    split: Annotated[str, typer.Option(help="Cascades to learn from: train, dev, test or all.")] = "train",
    graph: Annotated[
        bool, typer.Option("--graph/--no-graph", help="Use the follow edges, where there are any.")
    ] = True,
    window: Annotated[int, typer.Option(help="Later adopters that count as following one adopter.")] = 10,
    decay: Annotated[float, typer.Option(help="Weight of an adopter one step further back.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed (the held-out tenth that picks the weights).")] = 0,
    max_length: MaxLengthOption = 500,
    as_json: JsonOption = False,
) -> None:
    """Fit a next-adopter model on the cascades of a split and save it (JSON + NPZ, no pickle)."""
    params = parameters(
        app_layer.NextAdoptersFitParams, split=_split(split), graph=graph, window=window, decay=decay, seed=seed
    )
    corpus = run(_cascade_source, store, cascades, max_length)
    fitted = run(app_layer.fit_next_adopters, corpus, params, _next_adopter_path(store, model))
    if as_json:
        print(json.dumps(fitted.model_dump(mode="json")))
        return
    console.print(
        f"fitted on {fitted.cascades:,} {params.split} cascades ({fitted.users:,} users, "
        f"{'with' if fitted.graph else 'without'} a follower graph; weights transition/social/"
        f"popularity {fitted.weights}); saved to {fitted.path}"
    )


@next_adopters_app.command("predict")
def next_adopters_predict(
    adopters: Annotated[str, typer.Argument(help="The cascade's adopters so far, in order, comma-separated.")],
    store: SourceStoreOption = None,
    model: ModelOption = None,
    k: Annotated[int, typer.Option("--k", help="How many candidates.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The likeliest next adopters of a cascade, from a model saved by 'next-adopters fit'."""
    so_far = [user.strip() for user in adopters.split(",") if user.strip()]
    params = parameters(app_layer.NextAdoptersParams, {"adopters": "ADOPTERS"}, adopters=so_far, k=k)
    found = run(app_layer.predict_next_adopters, _next_adopter_path(store, model), params)
    if as_json:
        print(json.dumps(found.model_dump(mode="json")))
        return
    unknown = found.unknown
    note = f" ({len(unknown)} unknown to the model, ignored: {', '.join(unknown[:5])})" if unknown else ""
    print_rows(
        [row.model_dump() for row in found.next], f"Likeliest next adopters after {len(so_far)} adopter(s){note}", False
    )


@next_adopters_app.command("evaluate")
def next_adopters_evaluate(
    store: SourceStoreOption = None,
    cascades: CascadesOption = None,
    model: ModelOption = None,
    split: Annotated[str, typer.Option(help="Cascades to score: dev, test, train or all.")] = "dev",
    ks: Annotated[str, typer.Option(help="Cut-offs k of Hits@k and MAP@k, comma-separated.")] = "10,50,100",
    max_length: MaxLengthOption = 500,
    as_json: JsonOption = False,
) -> None:
    """Hits@k and MAP@k of a saved model: each adopter after the first predicted from the ones before it."""
    split = _split(split)
    _one_source(store, cascades)
    try:
        cutoffs = [int(value) for value in ks.split(",") if value.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {ks!r}", param_hint="--ks") from None
    params = parameters(app_layer.NextAdoptersEvaluationParams, split=split, ks=cutoffs)
    corpus = run(_cascade_source, store, cascades, max_length)
    scored = run(app_layer.evaluate_next_adopters, corpus, params, _next_adopter_path(store, model))
    if as_json:
        print(json.dumps({"split": scored.split, "cascades": scored.cascades, "steps": scored.steps, **scored.scores}))
        return
    print_rows(
        [{"metric": name, "value": value} for name, value in scored.scores.items()],
        f"Next-adopter prediction on {scored.cascades:,} {scored.split} cascades ({scored.steps:,} predicted adopters)",
        False,
    )
