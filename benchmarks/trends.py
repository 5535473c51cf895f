"""Topics, trends, forecasting and knowledge-graph figures, in one run.

1. Topics on the same TweetEval texts: NPMI coherence, diversity and wall time of socialfusion's topics vs
   BERTopic's default pipeline (installed only for this benchmark: ``make bench`` or ``pip install -e .[bench]``);
2. burst detection on the synthetic generator's planted bursts: precision, recall and detection delay;
3. next-day hashtag volume on the Weibo COVID-19 daily counts (time-ordered split): MAE of the forecaster vs
   naive persistence and a 7-day moving average;
4. knowledge-graph build throughput (posts/s).

    python benchmarks/trends.py [--only topics|bursts|forecast|kg] [--topic-sample 4000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _trend_kg import kg_table  # noqa: E402
from _trend_series import burst_table, forecast_table  # noqa: E402
from _trend_topics import topic_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["topics", "bursts", "forecast", "kg"], default=None)
    parser.add_argument("--topic-sample", type=int, default=4000, help="TweetEval texts for the topic table")
    arguments = parser.parse_args()
    tables = {
        "topics": lambda: topic_table(sample=arguments.topic_sample),
        "bursts": burst_table,
        "forecast": forecast_table,
        "kg": kg_table,
    }
    for name, table in tables.items():
        if arguments.only in (None, name):
            table()


if __name__ == "__main__":
    main()
