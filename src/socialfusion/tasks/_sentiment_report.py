"""The report's sentiment section: predicted classes overall, over time, per hashtag, and the surest examples.

The examples are ranked by calibrated probability (``confidence``), shown with two decimals; a probability below 1 is
never rounded up to 1.00. Lexicon predictions that were not calibrated on labels have no probability: they are
ranked by their lexicon ``score`` (most polar first; for neutral, closest to 0) and shown as a score, not a
probability.

Examples:
    >>> from socialfusion import Corpus
    >>> corpus = Corpus.from_records(posts=[
    ...     {"post_id": "p1", "text": "Love it #cats", "hashtags": ["cats"], "created_at": "2024-05-01T09:00:00Z"},
    ...     {"post_id": "p2", "text": "Meh", "created_at": "2024-05-02T09:00:00Z"}])
    >>> predictions = pa.table({"post_id": ["p1", "p2"], "label": ["positive", "neutral"],
    ...                         "confidence": [0.9, 0.5], "model": ["stacked", "stacked"]})
    >>> section = sentiment_section(corpus, predictions)
    >>> section.summary
    '2 posts scored: 50% neutral, 50% positive.'
    >>> section.figure_ids()
    ['sentiment-classes', 'sentiment-over-time', 'sentiment-hashtags']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks._ids import cell_sums, keep_rows, sorted_keys

if TYPE_CHECKING:
    from socialfusion.report import ReportSection
    from socialfusion.store import Store

__all__ = ["CLASS_COLORS", "EXCERPT_CHARS", "TOP_HASHTAGS", "sentiment_section"]

CLASS_COLORS = {"negative": "#d9534f", "neutral": "#9aa3ad", "positive": "#3fa46a"}
"""Colours of the usual classes in every sentiment chart; other classes take Plotly's default colours."""

TOP_HASHTAGS = 10
"""How many hashtags the per-hashtag chart shows (those with the most scored posts)."""

EXCERPT_CHARS = 160
"""Longest text excerpt in the examples table."""

_POST_COLUMNS = ["post_id", "created_at", "text", "hashtags"]


def _posts(data: Store | Corpus) -> pa.Table:
    if isinstance(data, Corpus):
        return data.posts.select(_POST_COLUMNS)
    return data.read("posts", columns=_POST_COLUMNS)


def _classes(predictions: pa.Table) -> list[str]:
    """The classes in the model's order (its ``p_<class>`` columns), then any other predicted label, sorted."""
    modelled = [name[2:] for name in predictions.column_names if name.startswith("p_")]
    seen = sorted(set(pc.unique(predictions.column("label")).to_pylist()) - set(modelled) - {None})
    return modelled + seen


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def _evaluation_table(evaluation: Mapping[str, Mapping[str, Any]]):
    from socialfusion.report import Table

    calibrated = any(scores.get("ece") is not None for scores in evaluation.values())
    trained = any(scores.get("training") for scores in evaluation.values())
    rows, sampled = [], []
    for name, scores in evaluation.items():
        row = {"method": name, "split": scores.get("split"), "posts": scores.get("n"),
               "accuracy": scores.get("accuracy"), "macro F1": scores.get("macro_f1"),
               "weighted F1": scores.get("weighted_f1"), "macro recall": scores.get("macro_recall")}
        if calibrated:
            row.update({"ECE": scores.get("ece"), "log-loss": scores.get("nll")})
        training = scores.get("training") or {}
        if trained:
            row["trained on"] = training.get("n")
        if training.get("sampled"):
            sampled.append(f"{name}: {training['n']:,} of {training['labelled']:,}")
        rows.append(row)
    caption = "Scores against held-out labels (posts the model did not learn from)"
    if calibrated:
        caption += ("; ECE: expected calibration error of the confidences (the mean gap between confidence and "
                    "accuracy over 15 confidence bins; 0 is perfect)")
    if sampled:
        caption += (". Trained on a seeded random sample of the labelled training posts, stratified by label "
                    f"(SentimentModel max_train_rows): {'; '.join(sampled)}")
    return Table(rows, caption=caption + ".")


def _over_time(created_at: pa.Array, labels: np.ndarray, classes: list[str]):
    """Share of each class per day (per bin of days over long spans) among dated scored posts."""
    from socialfusion.report import Figure, Text
    from socialfusion.report._figures import date_axis, day_bins, lines_chart
    from socialfusion.report._format import plural

    undated = created_at.null_count
    if undated == len(created_at):
        return Text("No scored post has a created_at, so there is no sentiment over time to show.")
    dated = pc.invert(pc.is_null(created_at)).to_numpy(zero_copy_only=False)
    bins, starts, bin_days = day_bins(pc.drop_null(created_at))
    totals = np.bincount(bins, minlength=len(starts))
    series = {}
    for name in classes:
        counts = np.bincount(bins[labels[dated] == name], minlength=len(starts))
        series[name] = [float(count / total) if total else None for count, total in zip(counts, totals)]
    unit = "day" if bin_days == 1 else f"{bin_days} days"
    figure = lines_chart(starts, series, x_title="date (UTC)", y_title="share of posts", colors=CLASS_COLORS)
    date_axis(figure, len(starts), bin_days)
    figure.update_yaxes(tickformat=".0%", range=[0, 1])
    note = f" {plural(undated, 'scored post')} without created_at {'is' if undated == 1 else 'are'} not shown." \
        if undated else ""
    return Figure(figure, caption=f"Share of each predicted class among the scored posts per {unit} (UTC); days "
                                  f"without posts are gaps.{note}", key="over-time")


def _by_hashtag(hashtags: pa.ChunkedArray, labels: np.ndarray, classes: list[str]):
    """Stacked bars of the classes for the ``TOP_HASHTAGS`` hashtags with the most scored posts."""
    from socialfusion.report import Figure, Text
    from socialfusion.report._figures import stacked_bar_chart
    from socialfusion.report._format import plural
    from socialfusion.report.overview import post_tag_pairs

    pairs = post_tag_pairs(hashtags, "#")
    if pairs.num_rows == 0:
        return Text("No scored post has a hashtag.")
    keys, tag = sorted_keys(pairs.column("tag"))  # distinct tags sorted, and each pair's tag code
    names = keys.to_pylist()
    totals = np.bincount(tag, minlength=len(names))
    order = sorted(range(len(names)), key=lambda index: (-totals[index], names[index]))[:TOP_HASHTAGS]
    top = [names[index] for index in order]
    label = np.full(len(labels), -1, np.int64)  # each post's class code
    for code, name in enumerate(classes):
        label[labels == name] = code
    pair_label = label[pairs.column("post").to_numpy()]
    counted = pair_label >= 0
    per_class = cell_sums(pair_label[counted], tag[counted], (len(classes), len(names)))
    series = {name: [int(per_class[code, index]) for index in order] for code, name in enumerate(classes)}
    figure = stacked_bar_chart(top, series, value_title="scored posts", label_title="hashtag", colors=CLASS_COLORS)
    shown = f"the {len(top)} with the most scored posts" if len(names) > len(top) else "all"
    return Figure(figure, caption=f"Predicted classes per hashtag (case-insensitive, # stripped): {shown} of "
                                  f"{plural(len(names), 'hashtag')}.", key="hashtags")


def _excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _value(value: float | None) -> float | None:
    """None for a null or NaN number."""
    return None if value is None or value != value else value


def _shown_probability(probability: float | None) -> float | None:
    """A probability with two decimals, never rounded up to 1 (0.996 shows as 0.99: certainty is not claimed)."""
    if probability is None:
        return None
    return 1.0 if probability >= 1 else min(round(probability, 2), 0.99)


def _examples(scored: pa.Table, classes: list[str], top: int):
    """The ``top`` most confident scored posts of each class (by calibrated probability, else lexicon score)."""
    from socialfusion.report import Table, Text

    if scored.num_rows == 0:
        return Text("No scored post is in the corpus, so there are no examples to show.")
    # Calibrated probabilities first, highest first; then lexicon scores by their margin (the most polar for a
    # polar class, the closest to 0 for neutral); then the rest; ties by post id.
    confidence = scored.column("confidence").to_numpy(zero_copy_only=False)
    score = scored.column("score").to_numpy(zero_copy_only=False)
    neutral = np.asarray(pc.equal(scored.column("label"), "neutral").fill_null(False).to_numpy(zero_copy_only=False))
    has_confidence, has_score = ~np.isnan(confidence), ~np.isnan(score)
    group = np.where(has_confidence, 0, np.where(has_score, 1, 2))
    margin = np.where(neutral, np.abs(score), -np.abs(score))
    key = np.where(has_confidence, -confidence, np.where(has_score, margin, 0.0))
    # only the ranking keys are sorted; the texts of the few rows shown are taken afterwards
    ranking = pa.table({"group": group, "key": key, "post_id": scored.column("post_id")})
    order = pc.sort_indices(ranking, [("group", "ascending"), ("key", "ascending"), ("post_id", "ascending")])
    ranked_labels = scored.column("label").take(order)
    with_score = bool(has_score.any())
    rows = []
    for name in classes:
        of_class = pc.equal(ranked_labels, name).fill_null(False).to_numpy(zero_copy_only=False)
        chosen = order.take(pa.array(np.flatnonzero(of_class)[:top], pa.int64()))
        for row in scored.take(chosen).to_pylist():
            shown = {"class": name, "confidence": _shown_probability(_value(row["confidence"]))}
            if with_score:
                score_value = _value(row["score"])
                shown["lexicon score"] = None if score_value is None else round(score_value, 2)
            rows.append({**shown, "post": row["post_id"], "text": _excerpt(row["text"])})
    probabilities = bool(has_confidence.any())
    unscaled = bool((~has_confidence & has_score).any())
    parts = []
    if probabilities:
        parts.append("confidence: the calibrated probability of the class, fitted on held-out labelled posts, "
                     "never on the posts shown")
    if unscaled:
        parts.append(("posts without a confidence are " if probabilities else "") +
                     "ranked by their lexicon score (VADER's compound or snownlp's, from -1 to 1: the most polar "
                     "first, for neutral the closest to 0); a lexicon score, not a probability")
    heading = f"The {top} most confident posts of each class" if probabilities or not unscaled else \
        f"The {top} posts of each class with the clearest lexicon score"
    caption = heading + (f" ({'; '.join(parts)})" if parts else "")
    return Table(rows, caption=caption, max_rows=len(rows) or 1)


def sentiment_section(
    data: Store | Corpus,
    predictions: pa.Table,
    *,
    top: int = 5,
    evaluation: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportSection:
    """The report section of sentiment predictions.

    Shows the number of posts per predicted class (metric cards and a bar chart), scores against held-out labels
    when ``evaluation`` is given, the share of each class per day (posts with a ``created_at``), the classes of
    the most frequent hashtags (stacked bars), and the ``top`` most confident posts of each class (by calibrated
    probability; uncalibrated lexicon predictions by their lexicon score, labelled as such). A part with no data (no
    dates, no hashtags) becomes a note.

    Args:
        data: the store or corpus the predictions are about (its posts' text, dates and hashtags are read).
        predictions: ``post_id``, ``label``, ``confidence`` (a calibrated probability, or null; and optionally
            ``score``, a lexicon's score, and ``p_<class>`` columns, which fix the classes' order), as
            ``SentimentModel.predict``, ``LexiconSentiment.predict`` and ``read_predictions`` give them.
            Predictions of posts absent from ``data`` count in the totals only.
        top: examples shown per class.
        evaluation: method name -> ``SentimentModel.evaluate`` result, shown as a table.

    Returns:
        A ``ReportSection`` with key ``"sentiment"``; its figures have the div ids ``sentiment-classes``,
        ``sentiment-over-time`` and ``sentiment-hashtags`` (those that have data).

    Raises:
        ConfigurationError: ``top`` is below 1.
        DataError: ``predictions`` lacks ``post_id``, ``label`` or ``confidence``.
    """
    from socialfusion.report import Figure, Metrics, ReportSection, Text
    from socialfusion.report._figures import ACCENT, bar_chart
    from socialfusion.report._format import plural

    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    missing = [name for name in ("post_id", "label", "confidence") if name not in predictions.column_names]
    if missing:
        raise DataError(f"sentiment predictions need the columns post_id, label and confidence; missing {missing}")
    title = "Sentiment"
    if predictions.num_rows == 0:
        return ReportSection(title=title, key="sentiment", summary="No post has a sentiment prediction.", blocks=[
            Text("Predict sentiment with: socialfusion sentiment predict --store DIR --model MODEL (or the lexicon "
                 "baseline: socialfusion sentiment lexicon --store DIR), then analyse again.")])
    classes = _classes(predictions)
    labels = np.asarray(predictions.column("label").to_pylist(), dtype=object)
    counts = {name: int(np.sum(labels == name)) for name in classes}
    bars = bar_chart(classes, list(counts.values()), value_title="posts", label_title="predicted class")
    bars.update_traces(marker_color=[CLASS_COLORS.get(name, ACCENT) for name in classes])
    blocks: list = [
        Metrics({"posts scored": predictions.num_rows, **counts}),
        Figure(bars, caption="Posts per predicted class.", key="classes"),
    ]
    if "model" in predictions.column_names:
        models = pc.value_counts(predictions.column("model").fill_null("unknown")).to_pylist()
        blocks.append(Text("Predicted by: " + ", ".join(f"{row['values']} ({plural(row['counts'], 'post')})"
                                                       for row in models) + "."))
    if evaluation:
        blocks.append(_evaluation_table(evaluation))
    posts = _posts(data)
    position = pc.index_in(posts.column("post_id"), value_set=predictions.column("post_id"))
    in_corpus = pc.is_valid(position)
    scored_posts = keep_rows(posts, in_corpus)
    rows = pc.drop_null(position).to_numpy()
    score = predictions.column("score") if "score" in predictions.column_names else \
        pa.nulls(predictions.num_rows, pa.float64())
    scored = pa.table({"post_id": scored_posts.column("post_id"), "label": predictions.column("label").take(rows),
                       "confidence": predictions.column("confidence").take(rows).cast(pa.float64()),
                       "score": score.take(rows).cast(pa.float64()), "text": scored_posts.column("text")})
    scored_labels = labels[rows]
    if scored.num_rows == 0:
        blocks.append(Text("None of the predicted posts is in the corpus: no time line, hashtags or examples."))
    else:
        blocks += [_over_time(scored_posts.column("created_at").combine_chunks(), scored_labels, classes),
                   _by_hashtag(scored_posts.column("hashtags"), scored_labels, classes),
                   _examples(scored, classes, top)]
    total = predictions.num_rows
    shares = ", ".join(f"{_percent(count / total)} {name}" for name, count in sorted(
        counts.items(), key=lambda item: (-item[1], item[0])))
    summary = f"{plural(total, 'post')} scored: {shares}."
    return ReportSection(title=title, key="sentiment", summary=summary, blocks=blocks)
