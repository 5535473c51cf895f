"""The monitor's configuration: the example parses, and every bad input names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialfusion.exceptions import ConfigurationError
from socialfusion.monitor import MonitorConfig, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monitor.toml"


def test_the_example_parses_and_its_sources_are_valid_queries():
    from socialfusion.collect import Source
    from socialfusion.collect._base import connector_class

    config = load_config(EXAMPLE)
    assert isinstance(config, MonitorConfig)
    assert [rule.kind for rule in config.rules] == ["opinion", "burst", "keyword", "reshares", "volume"]
    assert config.folder == EXAMPLE.parent
    for source in config.sources:
        connector_class(source.platform).check_query(Source(source.platform, source.query).query)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "interval_seconds = 60\n\n[[rules]]\nkind = 'volume'\nname = 'v'\nthreshold = 3\nthreshhold = 4\n",
            7,
            "key 'rules[0].threshhold': Extra inputs are not permitted",
        ),
        (
            "[[rules]]\nkind = 'volume'\nname = 'v'\nthreshold = 0\n",
            4,
            "key 'rules[0].threshold': Input should be greater",
        ),
        (
            "[[rules]]\nkind = 'opinion'\nname = 'o'\n[[rules]]\nkind = 'opinion'\nname = 'o2'\nwindow = 'three'\n",
            7,
            "key 'rules[1].window': Input should be a valid integer",
        ),
        ("[[rules]]\nkind = 'reshares'\nname = 'r'\n", 1, "key 'rules[0].threshold': Field required"),
        ("[[rules]]\nkind = 'sentiment'\nname = 'r'\n", 1, "key 'rules[0]': Input tag 'sentiment' found using 'kind'"),
        ("interval_seconds = 5\nintervall = 3\n", 2, "key 'intervall': Extra inputs are not permitted"),
        (
            "[[deliveries]]\nkind = 'webhook'\nname = 'h'\nurl = 'ftp://x'\nsecret_env = 'S'\n",
            4,
            "key 'deliveries[0].url': String should match pattern",
        ),
        ("[[sources]]\nplatform = 'mastodon'\nquery = '#a'\n  [sources.extra]\n  x = 1\n", 4, "key 'sources[0].extra'"),
    ],
)
def test_a_bad_key_or_value_names_the_file_the_line_and_the_key(tmp_path, text, line, message):
    path = tmp_path / "monitor.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        load_config(path)
    assert f"{path} line {line}: {message}" in str(raised.value)


def test_repeated_names_bad_toml_unknown_encoders_and_missing_files_are_clear():
    with pytest.raises(ConfigurationError, match="two rules are named 'same'"):
        parse_config(
            "[[rules]]\nkind='volume'\nname='same'\nthreshold=1\n[[rules]]\nkind='volume'\nname='same'\nthreshold=2\n"
        )
    with pytest.raises(ConfigurationError, match=r"m.toml: not valid TOML: .*line 1"):
        parse_config("interval_seconds = = 3", source="m.toml")
    with pytest.raises(ConfigurationError, match="line 1: key 'encoders'.*text/nope"):
        parse_config('encoders = ["text/nope"]')
    with pytest.raises(ConfigurationError, match="cannot read the monitor configuration"):
        load_config("/no/such/monitor.toml")
