"""Engagement prediction on the synthetic network: the model against the planted like probability and baselines.

The generator plants ``P(like | exposure) = sigmoid(-5 + 5 interest + 1 follows_author + 0.35 log1p(author
followers) - 0.08 hours_since_post)``; views are the exposures. Examples are split in time: train on the first 80%
of the days, test on the rest. The ceiling is the planted probability used as a score: the benchmark recomputes it
for every test row from the generator's truth (the viewer's interest in the post's planted topic, the follow, the
author's followers, the hours from post to view), checks it against the generator's own sample of 5,000
exposures, and scores it on all test rows and on the test rows of that sample.

The settings of the model (the number of topics of the interest features, the gradient-boosting settings) are
chosen by AUC on time-ordered folds inside the training window (train on the days before a cut, validate on the
next days; three cuts), never on the test window.

    python benchmarks/_engagement.py [--users 400 --posts 3000 --seeds 0,1,2 --encoders text/tfidf,text/minilm-int8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import time
from collections.abc import Sequence

import numpy as np

N_TOPICS = (6, 8, 12)
"""Topics of the interest features tried on the training folds."""

BOOSTING_OPTIONS = (
    {},  # the library's defaults: 200 rounds, learning rate 0.1, 15 leaves, 40 rows a leaf
    {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 7, "min_samples_leaf": 80},
    {"max_iter": 500, "learning_rate": 0.03, "max_leaf_nodes": 7, "min_samples_leaf": 100},
)
"""Gradient-boosting settings tried on the training folds."""

FOLDS = 3


def time_folds(train, n_folds: int = FOLDS):
    """``(fit, validate)`` pairs inside the training window: the last ``n_folds`` blocks of days, each validated
    after training on every day before it (outcomes known before the cut only)."""
    import pyarrow.compute as pc

    from socialfusion.tasks.engagement import time_split

    days = sorted({moment.date() for moment in train.column("at").to_pylist()})
    block = max(1, len(days) // (2 * (n_folds + 1)))
    for fold in range(n_folds, 0, -1):
        start = days[-1] + dt.timedelta(days=1) - dt.timedelta(days=fold * block)
        cut = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        fit, later = time_split(train, cut)
        yield fit, later.filter(pc.less(later.column("at"), cut + dt.timedelta(days=block)))


def planted_probability(network, examples) -> np.ndarray:
    """The generator's like probability of each example, from its truth (interest in the post's planted topic)
    and the example's follow, author followers and hours since the post, which are exact on synthetic data."""
    truth = network.truth
    sample = truth.engagement
    user_row = {user: row for row, user in enumerate(truth.user_ids)}
    post_row = {post: row for row, post in enumerate(truth.post_ids)}
    users = np.array([user_row[user] for user in examples.column("user_id").to_pylist()])
    posts = np.array([post_row[post] for post in examples.column("post_id").to_pylist()])
    features = np.column_stack([truth.interests[users, truth.post_topic[posts]]]
                               + [examples.column(name).to_numpy() for name in
                                  ("follows_author", "author_followers_log", "hours_since_post")])
    return 1.0 / (1.0 + np.exp(-(sample.intercept + features @ sample.coefficients)))


def engagement_run(network, encoder: str, seed: int, n_topics: Sequence[int] = N_TOPICS,
                   explain: bool = False) -> dict[str, float]:
    """One seed and encoder: choose the settings on the training folds, print the test table, return the AUCs."""
    from sklearn.metrics import roc_auc_score

    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, time_split
    from socialfusion.tasks.profiles import post_text_vectors

    started = time.perf_counter()
    vectors = post_text_vectors(network.corpus, text_encoder=encoder)
    encode_seconds = time.perf_counter() - started
    splits = {}
    for topics in n_topics:
        examples = engagement_examples(network.corpus, post_vectors=vectors, n_topics=topics, random_state=seed)
        splits[topics] = (examples, *time_split(examples))
    examples, train, test = splits[n_topics[0]]
    labels = test.column("label").to_numpy()
    print(f"interest text encoder {encoder}: {examples.num_rows:,} exposures ({encode_seconds:.0f} s to encode), "
          f"{train.num_rows:,} train / {test.num_rows:,} test, {labels.mean():.1%} liked")

    print(f"  validation AUC on {FOLDS} time-ordered folds of the training window (mean over folds):")
    validation = {}
    for topics, options in itertools.product(n_topics, BOOSTING_OPTIONS):
        scores = [roc_auc_score(later.column("label").to_numpy(),
                                EngagementModel(learner_options=options, random_state=seed).fit(fit)
                                .predict_proba(later)[:, 1])
                  for fit, later in time_folds(splits[topics][1])]
        validation[topics, tuple(options.items())] = float(np.mean(scores))
        print(f"    {topics:>2} topics, {options or 'defaults'}: {np.mean(scores):.4f}")
    topics, options = max(validation, key=validation.get)
    options = dict(options)
    print(f"  chosen: {topics} topics, gradient boosting {options or 'defaults'}\n")
    examples, train, test = splits[topics]
    labels = test.column("label").to_numpy()

    sample = network.truth.engagement
    planted_rows = {key: row for row, key in enumerate(zip(sample.user_ids, sample.post_ids))}
    keys = zip(test.column("user_id").to_pylist(), test.column("post_id").to_pylist())
    matched = [(row, planted_rows[key]) for row, key in enumerate(keys) if key in planted_rows]
    rows = np.array([row for row, _ in matched])
    truth_rows = np.array([index for _, index in matched])
    ceiling_scores = planted_probability(network, test)
    mismatch = float(np.abs(ceiling_scores[rows] - sample.probability[truth_rows]).max())
    assert mismatch < 1e-4, f"the recomputed planted probability differs from the generator's sample by {mismatch}"

    print(f"{'scorer':<46}{'test AUC':>10}{'sample AUC':>12}{'fit s':>8}   ({len(rows):,} test rows in the "
          "planted sample)")
    ceiling = roc_auc_score(labels, ceiling_scores)
    print(f"{'planted probability (the ceiling)':<46}{ceiling:>10.3f}"
          f"{roc_auc_score(labels[rows], ceiling_scores[rows]):>12.3f}{'':>8}")
    result = {"ceiling": ceiling, "n_topics": topics}
    drivers = None
    for learner, learner_options in (("gradient_boosting", options), ("logistic", None)):
        model = EngagementModel(learner=learner, learner_options=learner_options, random_state=seed).fit(train)
        probability = model.predict_proba(test)[:, 1]
        auc = roc_auc_score(labels, probability)
        result[learner] = auc
        print(f"{'EngagementModel ' + learner:<46}{auc:>10.3f}"
              f"{roc_auc_score(labels[rows], probability[rows]):>12.3f}{model.fit_seconds_:>8.1f}")
        if learner == "gradient_boosting" and explain:
            drivers = model.explain(test, n_repeats=3)
    for name, column in (("baseline: author followers", "author_followers_log"),
                         ("baseline: post popularity so far", "post_engagement_so_far")):
        score = test.column(column).to_numpy()
        print(f"{name:<46}{roc_auc_score(labels, score):>10.3f}{roc_auc_score(labels[rows], score[rows]):>12.3f}")
    print(f"gradient boosting reaches {result['gradient_boosting'] / ceiling:.1%} of the ceiling's test AUC\n")
    if drivers is not None:
        print(f"Top drivers (gradient boosting, {encoder}, seed {seed}): drop in test AUC when shuffled\n")
        print(f"{'feature':<32}{'AUC drop':>10}{'std':>8}")
        for row in drivers.slice(0, 8).to_pylist():
            print(f"{row['feature']:<32}{row['importance']:>10.4f}{row['importance_std']:>8.4f}")
        print()
    return result


def engagement_table(users: int = 400, posts: int = 3000, seeds: Sequence[int] = (0,),
                     encoders: Sequence[str] = ("text/tfidf",), n_topics: Sequence[int] = N_TOPICS) -> None:
    from socialfusion.datasets.synthetic import generate

    results = {encoder: [] for encoder in encoders}
    for seed in seeds:
        network = generate(n_users=users, n_posts=posts, seed=seed, n_videos=0, n_audio=0)
        print(f"\nEngagement (like) prediction, synthetic network: {users:,} users, {posts:,} original posts, "
              f"generator seed {seed} (also the model's seed); train on the first 80% of days, test on the rest\n")
        for encoder in encoders:
            results[encoder].append(engagement_run(network, encoder, seed, n_topics,
                                                   explain=seed == seeds[0] and encoder == encoders[-1]))
    if len(seeds) > 1:
        print(f"Across generator seeds {', '.join(map(str, seeds))}: test AUC, mean ± std (sample std)\n")
        print(f"{'encoder':<24}{'gradient boosting':>20}{'logistic':>18}{'ceiling':>18}{'share of ceiling':>18}")
        for encoder, runs in results.items():
            columns = {name: np.array([run[name] for run in runs]) for name in ("gradient_boosting", "logistic",
                                                                              "ceiling")}
            share = columns["gradient_boosting"] / columns["ceiling"]
            print(f"{encoder:<24}" + "".join(f"{values.mean():>12.3f} ± {values.std(ddof=1):.3f}"
                                             for values in columns.values())
                  + f"{share.mean():>11.1%} ± {share.std(ddof=1):.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--seeds", default="0", help="generator seeds, comma-separated (mean ± std over several)")
    parser.add_argument("--encoders", default="text/tfidf")
    parser.add_argument("--n-topics", default=",".join(map(str, N_TOPICS)),
                        help="topic counts of the interest features tried on the training folds")
    arguments = parser.parse_args()
    engagement_table(arguments.users, arguments.posts, [int(seed) for seed in arguments.seeds.split(",")],
                     arguments.encoders.split(","), [int(topics) for topics in arguments.n_topics.split(",")])
