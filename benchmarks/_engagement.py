"""Engagement prediction on the synthetic network: the model against the planted like probability and baselines.

The generator plants ``P(like | exposure) = sigmoid(-5 + 5 interest + 1 follows_author + 0.35 log1p(author
followers) - 0.08 hours_since_post)``; views are the exposures. Examples are split in time: train on the first 80%
of the days, test on the rest. The planted probability is known only on the generator's uniform sample of 5,000
exposures, so the ceiling (the planted probability's own AUC) and the model are also compared on the test rows of
that sample.

    python benchmarks/_engagement.py [--users 400 --posts 3000 --encoders text/tfidf,text/minilm-int8 --n-topics 8]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np


def engagement_table(users: int = 400, posts: int = 3000, seed: int = 0,
                     encoders: Sequence[str] = ("text/tfidf",), n_topics: int = 8) -> None:
    from sklearn.metrics import roc_auc_score

    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, time_split

    network = generate(n_users=users, n_posts=posts, seed=seed, n_videos=0, n_audio=0)
    sample = network.truth.engagement
    planted = {(user, post): index for index, (user, post) in enumerate(zip(sample.user_ids, sample.post_ids))}
    print(f"\nEngagement (like) prediction, synthetic network: {users:,} users, {posts:,} original posts, seed {seed}; "
          "train on the first 80% of days, test on the rest\n")
    drivers = None
    for encoder in encoders:
        started = time.perf_counter()
        examples = engagement_examples(network.corpus, text_encoder=encoder, n_topics=n_topics, random_state=seed)
        build_seconds = time.perf_counter() - started
        train, test = time_split(examples)
        labels = test.column("label").to_numpy()
        keys = zip(test.column("user_id").to_pylist(), test.column("post_id").to_pylist())
        matched = [(row, planted[key]) for row, key in enumerate(keys) if key in planted]
        rows = np.array([row for row, _ in matched])
        truth_rows = np.array([index for _, index in matched])
        print(f"interest text encoder {encoder}: {examples.num_rows:,} exposures ({build_seconds:.1f} s to build), "
              f"{train.num_rows:,} train / {test.num_rows:,} test, {labels.mean():.1%} liked; "
              f"{len(rows):,} test rows in the planted sample\n")
        print(f"{'scorer':<40}{'test AUC':>10}{'sample AUC':>12}{'fit s':>8}")
        ceiling = roc_auc_score(sample.engaged[truth_rows], sample.probability[truth_rows])
        print(f"{'planted probability (ceiling)':<40}{'':>10}{ceiling:>12.3f}{'':>8}")
        for learner in ("gradient_boosting", "logistic"):
            model = EngagementModel(learner=learner, random_state=seed).fit(train)
            probability = model.predict_proba(test)[:, 1]
            print(f"{'EngagementModel ' + learner:<40}{roc_auc_score(labels, probability):>10.3f}"
                  f"{roc_auc_score(labels[rows], probability[rows]):>12.3f}{model.fit_seconds_:>8.1f}")
            if learner == "gradient_boosting":
                drivers = model.explain(test, n_repeats=3)
        for name, column in (("baseline: author followers", "author_followers_log"),
                             ("baseline: post popularity so far", "post_engagement_so_far")):
            score = test.column(column).to_numpy()
            print(f"{name:<40}{roc_auc_score(labels, score):>10.3f}{roc_auc_score(labels[rows], score[rows]):>12.3f}"
                  f"{'':>8}")
        print()
    if drivers is not None:
        print(f"Top drivers (gradient boosting, {encoders[-1]}): drop in test AUC when shuffled\n")
        print(f"{'feature':<32}{'AUC drop':>10}{'std':>8}")
        for row in drivers.slice(0, 8).to_pylist():
            print(f"{row['feature']:<32}{row['importance']:>10.4f}{row['importance_std']:>8.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoders", default="text/tfidf")
    parser.add_argument("--n-topics", type=int, default=8, help="k-means topics of the topic features")
    arguments = parser.parse_args()
    engagement_table(arguments.users, arguments.posts, arguments.seed, arguments.encoders.split(","),
                     arguments.n_topics)
