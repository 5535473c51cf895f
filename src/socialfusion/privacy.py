"""Privacy at ingest: find and scrub PII in every text column; keyed pseudonyms for user ids and handles.

Examples:
    >>> scrub_text("mail me at ann@example.org or +44 20 7946 0958")
    ('mail me at [EMAIL] or [PHONE]', {'email': 1, 'phone': 1})
    >>> scrub_text("身份证11010519491231002X，服务器 2001:db8::1")
    ('身份证[NATIONAL_ID]，服务器 [IP]', {'national_id': 1, 'ip': 1})
    >>> pseudonymizer = Pseudonymizer(b"a secret key the user holds")
    >>> pseudonymizer.pseudonym("alice") == pseudonymizer.pseudonym("alice")
    True
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from socialfusion.exceptions import ConfigurationError
from socialfusion.schema import TABLES

__all__ = [
    "DEFAULT_PHONE_REGIONS",
    "KEY_ENV_VAR",
    "PII_KINDS",
    "PiiMatch",
    "Pseudonymizer",
    "PII_HINT_RE2",
    "find_pii",
    "holds_text",
    "may_hold_pii",
    "protect_raw",
    "pseudonym_key",
    "scrub_record",
    "scrub_text",
]

# What the scrubber looks for, in the order overlaps are settled: an earlier kind keeps a contested span (an ID
# number, checked against its date and check character, may also pass the Luhn check of a Maestro card; both
# also read as long phone numbers). Street addresses are not found: see find_pii.
PII_KINDS = ("email", "national_id", "card", "ip", "phone")
_PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in PII_KINDS}
# Regions whose national formats (no +country code) are recognised; +CC and 00CC numbers of any country are.
DEFAULT_PHONE_REGIONS = ("US", "GB", "CN", "DE", "FR")


class PiiMatch(NamedTuple):
    """One piece of PII in a text: ``text[start:end]`` is of ``kind`` (one of ``PII_KINDS``)."""

    start: int
    end: int
    kind: str


# -- e-mail ------------------------------------------------------------------------------------------------------
# The local part is ASCII or a European script, so a CJK word glued in front ("邮箱ann@example.org") stays out;
# the domain may be internationalised (bücher.de, 例子.中国). "@ann@mastodon.social" is a fediverse handle (left to
# the pseudonymiser), not an e-mail address.
_LOCAL = r"A-Za-z0-9._%+\-\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF"
_EMAIL = re.compile(
    rf"(?<![{_LOCAL}@])[{_LOCAL}]+@"
    r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
    r"(?:xn--[A-Za-z0-9-]{2,59}|[A-Za-z]{2,63}(?![A-Za-z0-9])|[^\W\d_A-Za-z]{2,24})"
)

# -- numbers -----------------------------------------------------------------------------------------------------
# ASCII-only boundaries: CJK characters count as \w and often touch a number directly (电话13812345678).
_CARD = re.compile(r"(?<![A-Za-z0-9_.,/-])\d(?:[ -]?\d){12,18}(?![A-Za-z0-9_]|[ -]?\d|[.,/]\d)")
_LONG_NUMBER = re.compile(r"\d(?:[ -]?\d){12}")
# GB 11643: 6-digit region, birth date, 3-digit sequence, check character (ISO 7064 MOD 11-2).
_NATIONAL_ID = re.compile(
    r"(?<![A-Za-z0-9_])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![A-Za-z0-9_])"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91"
    .split()
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# An address may end a sentence ("... is 10.0.0.1."), but not run on into more digits or a longer version number.
_IPV4 = re.compile(rf"(?<![A-Za-z0-9_.])(?:{_OCTET}\.){{3}}{_OCTET}(?![0-9_]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?:\bv|\bver\.?|\bversion|版本)\s*$", re.IGNORECASE)
_IPV6 = re.compile(
    r"(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[A-Za-z0-9_.]+)?"
    r"(?![A-Za-z0-9_:])"
)
# A run of at least seven digits (a phone number needs them), with its international prefix when it has one.
_DIGIT_RUN = re.compile(r"(?:\+|\(\+)?\d(?:[\s().\-/]{0,3}\d){6,}")
# Dates and times: blanked out before phone numbers are looked for, so that they cost no libphonenumber call.
_DATE_OR_TIME = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|1[0-2])\2(?:19|20)\d\d"
    r"|(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?)(?!\d)"
)
# The national numbers each region's matcher can find, by their digits (a run with separators is matched at its
# start only, as it may hold several numbers): a run no region can read costs no libphonenumber call. Unix times,
# long ids and millisecond timestamps start with 1 and are not 11 digits long, so they are skipped here.
_NATIONAL_DIGITS = {
    "US": re.compile(r"1?[2-9]\d{9}"),
    "CN": re.compile(r"0[1-9]\d{8,10}|1[3-9]\d{9}|[48]00\d{7}"),  # 400 and 800: service numbers
    "GB": re.compile(r"0[1-9]\d{8,9}"),
    "DE": re.compile(r"0[1-9]\d{5,13}"),
    "FR": re.compile(r"0[1-9]\d{8}"),
}
# A number named as some other kind of number ("order 0123456789", "ISBN 0306406152", "订单号 …") is not a phone
# number, unless it carries a country code.
_OTHER_NUMBER_BEFORE = re.compile(
    r"(?:\b(?:isbn(?:-1[03])?|issn|order|invoice|ticket|tracking|ref(?:erence)?|account|acct|sku|serial|patent|"
    r"imei|barcode|ean|upc)\b|订单|单号|编号|账号|序列号)[^\d+]{0,12}$",
    re.IGNORECASE,
)
# A grouped number next to a currency sign or code is an amount ("¥13 800 000", "1.250.000.000 €").
_CURRENCY_BEFORE = re.compile(r"(?:[€$£¥₹]|EUR|USD|GBP|CNY|RMB)\s?$")
_CURRENCY_AFTER = re.compile(r"\s?(?:[€$£¥₹元]|EUR|USD|GBP|CNY|RMB|euros?|dollars?)")
# The path of a URL ("x.com/a/status/1790000000000000000", ".../photo/1234567890") holds ids, not phone numbers;
# the host (an IP) and the query ("?tel=13812345678") are searched.
_URL_PATH = re.compile(
    r"(?:\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+|(?<![\w@.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?::\d+)?)(/[^\s?#]*)"
)
_ANY_DIGIT = re.compile(r"\d")
PII_HINT_RE2 = (r"@\S*\.|\p{Nd}(?:[\s().\-/]{0,3}\p{Nd}){6,}|\p{Nd}\.\p{Nd}|:[0-9A-Fa-f]{0,4}:")
"""A cheap RE2 test (Arrow's regex engine) that every text holding PII passes: an ``@`` with a dot after it (an
e-mail), seven digits in a run (a phone, card or ID number), a digit, dot, digit (IPv4), or two colons with hex
between (IPv6). A superset of what ``find_pii`` finds, so a column can be screened in C before Python looks."""

# Issuer prefixes and lengths of the card networks (Visa, Mastercard, Amex, Discover, JCB, UnionPay, Diners, Mir,
# Maestro, RuPay): with the Luhn check they keep ids, timestamps and order numbers out.
_CARD_RANGES = (
    ("4", "4", (13, 16, 19)),
    ("51", "55", (16,)),
    ("2221", "2720", (16,)),
    ("2200", "2204", (16, 17, 18, 19)),
    ("34", "34", (15,)),
    ("37", "37", (15,)),
    ("300", "305", range(14, 20)),
    ("36", "36", range(14, 20)),
    ("38", "39", range(14, 20)),
    ("3528", "3589", range(16, 20)),
    ("50", "50", range(12, 20)),
    ("56", "69", range(12, 20)),
    ("81", "82", (16,)),
)


def _luhn_valid(digits: str) -> bool:
    checksum = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        checksum += digit
    return checksum % 10 == 0


def _is_card_number(found: str) -> bool:
    digits = found.replace(" ", "").replace("-", "")
    issued = any(
        low <= digits[: len(low)] <= high and len(digits) in lengths for low, high, lengths in _CARD_RANGES
    )
    return issued and _luhn_valid(digits)


def _is_national_id(found: str) -> bool:
    if found[:2] not in _ID_PROVINCES:
        return False
    try:
        dt.date(int(found[6:10]), int(found[10:12]), int(found[12:14]))
    except ValueError:
        return False
    remainder = sum(int(digit) * weight for digit, weight in zip(found, _ID_WEIGHTS)) % 11
    return "10X98765432"[remainder] == found[17].upper()


def _is_ipv6(found: str) -> bool:
    if not any(char.isdigit() for char in found) or ("::" not in found and found.count(":") != 7):
        return False  # "de:ad:be:ef" and C++'s "a::b" are not addresses worth a placeholder
    try:
        ipaddress.IPv6Address(found.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_other_number(text: str, start: int, end: int) -> bool:
    """An amount next to a currency, or a number named as an order, ISBN, account... number."""
    if _CURRENCY_BEFORE.search(text, max(0, start - 5), start) or _CURRENCY_AFTER.match(text, end):
        return True
    international = text.startswith(("+", "00"), start)
    return not international and bool(_OTHER_NUMBER_BEFORE.search(text, max(0, start - 24), start))


_phone_module: Any = None


def _phonenumbers() -> Any:
    global _phone_module
    if _phone_module is None:
        import phonenumbers  # imported on first use: importing socialfusion stays fast

        _phone_module = phonenumbers
    return _phone_module


def _regions_for(run: str, regions: tuple[str, ...]) -> tuple[str, ...]:
    """The regions whose matcher may find a number in a run of digits: none for most long numbers in posts."""
    if run.startswith(("+", "(+", "00")):
        # Any region reads +CC numbers; 00CC needs a region whose international prefix is 00 (not the US).
        return (next((region for region in regions if region != "US"), regions[0]),)
    digits = "".join(char for char in run if char.isdigit())
    # A long run with separators may be several numbers side by side: it is matched at its start only.
    merged = len(digits) > 12 and len(digits) != len(run)
    return tuple(
        region
        for region in regions
        if (national := _NATIONAL_DIGITS.get(region)) is None
        or (national.match(digits) if merged else national.fullmatch(digits))
    )


@functools.lru_cache(maxsize=65_536)
def _phones_in(window: str, regions: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    # Cached: posts repeat the same numbers (hotlines, spam), and a libphonenumber call costs ~0.3 ms.
    phonenumbers = _phonenumbers()
    leniency = phonenumbers.Leniency.STRICT_GROUPING
    return tuple(
        (match.start, match.end)
        for region in regions
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency)
    )


def _phone_spans(text: str, regions: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """Spans that libphonenumber reads as a valid number of one of ``regions`` (or with a country code).

    Each run of digits is handed to libphonenumber's matcher with a few characters around it, for the regions
    that could read it. STRICT_GROUPING leniency: the number must be valid and its digits grouped as the country
    groups them, which keeps coordinates ("37.7749"), dates and amounts out while "138 1234 5678" and
    "(415) 555-2671" stay in.
    """
    if ":" in text or "." in text or "/" in text:
        text = _DATE_OR_TIME.sub(lambda m: " " * len(m.group()), text)
    for run in _DIGIT_RUN.finditer(text):
        wanted = _regions_for(run.group(), regions)
        if wanted:
            offset = max(0, run.start() - 3)
            for start, end in _phones_in(text[offset : run.end() + 3], wanted):
                yield offset + start, offset + end


def _mask_url_paths(text: str) -> str:
    """``text`` with the path of each URL blanked out, keeping every offset."""
    return _URL_PATH.sub(lambda m: m.group(0)[: m.start(1) - m.start()] + " " * (m.end(1) - m.start(1)), text)


def find_pii(text: str, *, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> list[PiiMatch]:
    """Find e-mail addresses, card numbers, Chinese resident ID numbers, IP addresses and phone numbers.

    - e-mails, internationalised domains included (``ann@bücher.de``), not fediverse handles (``@a@b.social``);
    - card numbers of the known card networks that pass the Luhn check;
    - Chinese resident ID numbers (18 characters, GB 11643: region, birth date and check character verified);
    - IPv4 and IPv6 addresses (not version numbers such as ``v1.2.3.4``);
    - phone numbers that libphonenumber finds valid, with a country code (``+44 …``, ``0044 …``) or in the
      national format of ``phone_regions`` (Chinese mobiles included); amounts, dates, times, Unix times and
      long ids are not phone numbers.

    Numbers in the path of a URL (post ids in ``…/status/1790000000000000000``) are ids, not PII; the query of a
    URL is searched. Street addresses are not found: the rules we measured did not reach 95% recall and precision.

    Args:
        text: any text.
        phone_regions: ISO 3166 region codes whose national phone formats are recognised.

    Returns:
        The matches in text order; they never overlap.

    Examples:
        >>> find_pii("ann@example.org, 4111 1111 1111 1111")
        [PiiMatch(start=0, end=15, kind='email'), PiiMatch(start=17, end=36, kind='card')]
    """
    if not text:
        return []
    has_digit = _ANY_DIGIT.search(text) is not None
    if not has_digit and "@" not in text:
        return []  # the common case: a post with neither digits nor "@" holds none of these kinds
    found: list[PiiMatch] = []
    if "@" in text:
        found.extend(PiiMatch(m.start(), m.end(), "email") for m in _EMAIL.finditer(text))
    if has_digit:
        searched = _mask_url_paths(text) if "/" in text else text
        if _LONG_NUMBER.search(searched):
            found.extend(PiiMatch(m.start(), m.end(), "card") for m in _CARD.finditer(searched)
                         if _is_card_number(m.group()))
            found.extend(PiiMatch(m.start(), m.end(), "national_id") for m in _NATIONAL_ID.finditer(searched)
                         if _is_national_id(m.group()))
        if "." in searched:
            found.extend(PiiMatch(m.start(), m.end(), "ip") for m in _IPV4.finditer(searched)
                         if not _VERSION_BEFORE.search(searched, max(0, m.start() - 10), m.start()))
        if ":" in searched:
            found.extend(PiiMatch(m.start(), m.end(), "ip") for m in _IPV6.finditer(searched) if _is_ipv6(m.group()))
        if _DIGIT_RUN.search(searched):
            found.extend(PiiMatch(start, end, "phone") for start, end in _phone_spans(searched, phone_regions)
                         if not _is_other_number(searched, start, end))
    return _without_overlaps(found)


def _without_overlaps(found: list[PiiMatch]) -> list[PiiMatch]:
    """Keep, of overlapping matches, the one of the earlier kind in ``PII_KINDS`` (then the longer one)."""
    if len(found) < 2:
        return found
    rank = {kind: position for position, kind in enumerate(PII_KINDS)}
    kept: list[PiiMatch] = []
    for match in sorted(found, key=lambda m: (rank[m.kind], m.start - m.end, m.start)):
        if all(match.end <= other.start or other.end <= match.start for other in kept):
            kept.append(match)
    return sorted(kept)


def scrub_text(text: str, *, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> tuple[str, dict[str, int]]:
    """Replace PII in ``text`` with placeholders such as ``[EMAIL]`` (what is found: see ``find_pii``).

    Args:
        text: any text.
        phone_regions: ISO 3166 region codes whose national phone formats are recognised.

    Returns:
        The scrubbed text and how many items of each kind were replaced (only kinds found).
    """
    matches = find_pii(text, phone_regions=phone_regions)
    if not matches:
        return text, {}
    counts: dict[str, int] = {}
    pieces: list[str] = []
    position = 0
    for start, end, kind in matches:
        pieces += (text[position:start], _PLACEHOLDERS[kind])
        counts[kind] = counts.get(kind, 0) + 1
        position = end
    pieces.append(text[position:])
    return "".join(pieces), counts


# Fields that hold a user identifier or handle, per table.
USER_FIELDS: dict[str, tuple[str, ...]] = {
    "posts": ("author_id",),
    "users": ("user_id", "handle"),
    "interactions": ("user_id",),
    "edges": ("src", "dst"),
    "labels": (),
}
USER_LIST_FIELDS: dict[str, tuple[str, ...]] = {"posts": ("mentions",)}
# Fields that hold post ids, which embed the author's DID on Bluesky ("at://did:plc:…/app.bsky.feed.post/…").
POST_ID_FIELDS: dict[str, tuple[str, ...]] = {
    "posts": ("post_id", "reply_to", "reshare_of", "quote_of"),
    "interactions": ("post_id",),
}
# Fields that hold free text (a string, a list of strings or, for ``extra``, any JSON), per table: all are scrubbed.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "posts": ("text", "hashtags", "mentions", "urls", "extra"),
    "users": ("display_name", "profile_text", "location", "extra"),
    "interactions": ("extra",),
    "edges": ("extra",),
    "labels": ("extra",),
}


def may_hold_pii(values: Any) -> Any:
    """Which rows of a string or list-of-strings Arrow column may hold PII (see ``PII_HINT_RE2``); nulls: False.

    Examples:
        >>> import pyarrow as pa
        >>> may_hold_pii(pa.array(["call 020 7946 0958", "no digits here", None])).to_pylist()
        [True, False, False]
        >>> may_hold_pii(pa.array([["tag", "13812345678"], ["tag"], None])).to_pylist()
        [True, False, False]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        items = pc.match_substring_regex(pc.list_flatten(values), PII_HINT_RE2)
        parents = pc.list_parent_indices(values)
        hits = np.zeros(len(values), bool)
        hits[parents.to_numpy()[pc.fill_null(items, False).to_numpy(zero_copy_only=False)]] = True
        return pa.array(hits)
    return pc.fill_null(pc.match_substring_regex(values, PII_HINT_RE2), False)


def _scrub_value(value: Any, found: dict[str, int]) -> Any:
    if isinstance(value, str):
        scrubbed, counts = scrub_text(value)
        for kind, count in counts.items():
            found[kind] = found.get(kind, 0) + count
        return scrubbed
    if isinstance(value, list):
        return [_scrub_value(item, found) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_value(item, found) for key, item in value.items()}
    return value


def scrub_record(table: str, record: dict[str, Any]) -> dict[str, int]:
    """Scrub PII from every text field of one canonical record in place (lists and ``extra`` values included).

    Returns:
        How many items of each kind were replaced.

    Examples:
        >>> record = {"text": "hi", "hashtags": ["13812345678"], "urls": ["https://x.io/?mail=ann@example.org"]}
        >>> scrub_record("posts", record), record["hashtags"], record["urls"]
        ({'phone': 1, 'email': 1}, ['[PHONE]'], ['https://x.io/?mail=[EMAIL]'])
    """
    found: dict[str, int] = {}
    for field in TEXT_FIELDS.get(table, ()):
        value = record.get(field)
        if value is not None:
            record[field] = _scrub_value(value, found)
    return found


def holds_text(table: str, rows: Any) -> bool:
    """Whether any text field of ``rows`` (an Arrow table of ``table``) has a value: else scrubbing changes nothing.

    Lets a bulk writer skip the per-row path for, say, an edge table whose ``extra`` column is all null.
    """
    for field in TEXT_FIELDS.get(table, ()):
        if field in rows.column_names:
            column = rows.column(field)
            if column.null_count < len(column) and (
                not hasattr(column.type, "value_type") or any(len(chunk.values) for chunk in column.chunks)
            ):
                return True
    return False


# -- pseudonyms --------------------------------------------------------------------------------------------------

_PSEUDONYM = re.compile(r"anon_[0-9a-f]{20}")
# "@bob", and "@bob@mastodon.social" whole, as Mastodon's ``acct`` (its readers' handles and mentions) writes it.
_MENTION = re.compile(r"(?<![\w@])@([\w.-]*\w(?:@[\w-]+(?:\.[\w-]+)+)?)")
# Profile and post URLs whose first path segment is the account: x.com/alice, instagram.com/alice.
_HANDLE_HOSTS = r"(?:www\.|mobile\.|m\.)?(?:x|twitter|instagram|threads)\.(?:com|net)"
_RESERVED_PATHS = frozenset(
    "i home search explore hashtag intent share settings messages notifications compose login signup logout tos "
    "privacy about help p reel reels stories watch groups events pages".split()
)
_PROFILE_URL = re.compile(
    rf"(?i)(?P<head>\b(?:https?://)?{_HANDLE_HOSTS}/)(?P<first>[A-Za-z0-9_.]*[A-Za-z0-9_])"
    r"|(?P<at_head>\bhttps?://[^\s/?#]+/)@(?P<at>[\w.-]*\w(?:@[\w-]+(?:\.[\w-]+)+)?)"  # mastodon, tiktok, youtube
    r"|(?P<users_head>\bhttps?://[^\s/?#]+/users/)(?P<users>[\w.-]*\w)"  # ActivityPub actor URLs
    r"|(?P<reddit_head>\b(?:https?://)?(?:www\.|old\.|new\.)?(?:reddit|weibo)\.com/u(?:ser)?/|(?<![\w/])/?u/)"
    r"(?P<reddit>[\w-]{3,20})"  # reddit.com/u/alice, u/alice in text, weibo.com/u/1234567890
    r"|(?P<bsky_head>\b(?:https?://)?bsky\.app/profile/)(?P<bsky>[\w.:-]*\w)"
)
_DID = re.compile(r"\bdid:(?:plc:[A-Za-z0-9]+|web:[A-Za-z0-9.%-]*[A-Za-z0-9])")


class Pseudonymizer:
    """Keyed pseudonyms for user ids and handles: HMAC-SHA256(key, value), shortened.

    The same key gives the same pseudonym for the same value, so joins across tables and across ingests keep
    working; without the key the mapping cannot be recomputed. Handles are case-folded and stripped of a
    leading ``@`` first, so ``@Alice`` in a mention and ``alice`` as a handle map to the same pseudonym.

    ``apply`` pseudonymises every place of a record where an id or handle can appear: the id fields, @mentions
    and profile URLs in text and ``urls`` (``x.com/alice``, ``…/@alice``, ``reddit.com/u/alice``,
    ``bsky.app/profile/alice.bsky.social``), Bluesky DIDs inside post ids and remote media URIs; it drops
    ``display_name`` (a real name has no useful pseudonym) and ``extra`` (platform extras hold ids in any shape).

    Args:
        key: the secret key (bytes or str, at least 16 bytes). Keep it: losing it means new pseudonyms.

    Raises:
        ConfigurationError: the key is too short.
    """

    prefix = "anon_"
    digest_chars = 20

    def __init__(self, key: bytes | str):
        self.key = key

    def _key_bytes(self) -> bytes:
        key = self.key.encode() if isinstance(self.key, str) else bytes(self.key)
        if len(key) < 16:
            raise ConfigurationError("the pseudonymisation key must be at least 16 bytes long")
        return key

    def fingerprint(self) -> str:
        """A short public fingerprint of the key, recorded in store metadata to detect a key change."""
        return hashlib.sha256(b"socialfusion-key-fingerprint" + self._key_bytes()).hexdigest()[:16]

    def pseudonym(self, value: str) -> str:
        """The pseudonym of one id or handle (a value that already is a pseudonym is returned as it is)."""
        if self.is_pseudonym(value):
            return value
        normalised = value.removeprefix("@").casefold()
        digest = hmac.new(self._key_bytes(), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
        return self.prefix + digest[: self.digest_chars]

    def is_pseudonym(self, value: str) -> bool:
        """True for a value of the exact pseudonym shape (``anon_`` and 20 hex digits); ``anon_bob`` is a handle."""
        return len(value) == len(self.prefix) + self.digest_chars and bool(_PSEUDONYM.fullmatch(value))

    def pseudonymize_text(self, text: str) -> str:
        """``text`` with @mentions, profile URLs and DIDs replaced by pseudonyms.

        Examples:
            >>> p = Pseudonymizer(b"0123456789abcdef")
            >>> p.pseudonymize_text("hi @Bob, see https://x.com/bob/status/1") == (
            ...     f"hi @{p.pseudonym('bob')}, see https://x.com/{p.pseudonym('bob')}/status/1")
            True
        """
        if "did:" in text:
            text = _DID.sub(lambda m: self.pseudonym(m.group()), text)
        if "@" in text:
            text = _MENTION.sub(lambda m: "@" + self.pseudonym(m.group(1)), text)
        if "/" in text:
            text = _PROFILE_URL.sub(self._profile_url, text)
        return text

    def _profile_url(self, match: re.Match[str]) -> str:
        kind = match.lastgroup
        handle = match.group(kind)
        if kind == "first" and handle.casefold() in _RESERVED_PATHS:
            return match.group(0)
        head = match.group(f"{kind}_head" if kind != "first" else "head")
        return head + ("@" if kind == "at" else "") + self.pseudonym(handle)

    def _pseudonymize_ids_in(self, value: Any) -> Any:
        return _DID.sub(lambda m: self.pseudonym(m.group()), value) if isinstance(value, str) and "did:" in value \
            else value

    def apply(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """Pseudonymise every id and handle of one canonical record in place and return it (see the class)."""
        for field in USER_FIELDS.get(table, ()):
            value = record.get(field)
            if isinstance(value, str) and value:
                record[field] = self.pseudonym(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                record[field] = self.pseudonym(str(value))  # numeric ids of platform exports
        if table == "labels" and isinstance(record.get("item_id"), str):
            item_id = record["item_id"]
            record["item_id"] = self.pseudonym(item_id) if record.get("item_kind") == "user" \
                else self._pseudonymize_ids_in(item_id)
        for field in POST_ID_FIELDS.get(table, ()):
            if field in record:
                record[field] = self._pseudonymize_ids_in(record[field])
        for field in USER_LIST_FIELDS.get(table, ()):
            values = record.get(field)
            if isinstance(values, list):
                record[field] = [self.pseudonym(v) if isinstance(v, str) else v for v in values]
        for field in ("text", "urls", "profile_text", "location"):
            if field in TEXT_FIELDS.get(table, ()):
                value = record.get(field)
                if isinstance(value, str):
                    record[field] = self.pseudonymize_text(value)
                elif isinstance(value, list):
                    record[field] = [self.pseudonymize_text(v) if isinstance(v, str) else v for v in value]
        if table == "posts" and isinstance(record.get("media"), list):
            for item in record["media"]:
                if isinstance(item, dict) and isinstance(item.get("uri"), str) and "://" in item["uri"] \
                        and not item["uri"].startswith("file:"):
                    item["uri"] = self.pseudonymize_text(item["uri"])  # remote references only: never fetched
        if table == "users" and "display_name" in record:
            record["display_name"] = None
        if "extra" in record:
            record["extra"] = None
        return record


def protect_raw(raw: str | None, table: str | None, *, scrub_pii: bool,
                pseudonymizer: Pseudonymizer | None) -> str | None:
    """The raw preview a ``rejects`` row may keep, treated like the rows of the store.

    Without a key the preview is scrubbed (when ``scrub_pii``). With a key only a canonical record (a JSON object
    for a known table) is kept, reduced to the table's fields and pseudonymised field by field; any other preview
    (a raw input line of a platform export, a media path) may hold ids in any shape and is dropped.

    Args:
        raw: the preview: a JSON record, an input line or a media URI.
        table: the table the record was meant for.
        scrub_pii: whether PII is scrubbed at this ingest.
        pseudonymizer: the run's pseudonymiser, or None.
    """
    if raw is None or pseudonymizer is None:
        return scrub_text(raw)[0] if raw is not None and scrub_pii else raw
    if table not in USER_FIELDS:
        return None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    fields = TABLES[table].model_fields
    record = {name: value for name, value in record.items() if name in fields}
    # A value of the wrong shape (the reason the record was rejected, often) cannot be pseudonymised: drop it.
    for name in (*USER_FIELDS[table], *POST_ID_FIELDS.get(table, ()), "item_id", "text", "profile_text", "location"):
        if isinstance(record.get(name), (dict, list)):
            record[name] = None
    for name in (*USER_LIST_FIELDS.get(table, ()), "urls"):
        if name in record:
            values = record[name]
            record[name] = [v for v in values if isinstance(v, str)] if isinstance(values, list) else None
    if scrub_pii:
        scrub_record(table, record)
    return orjson.dumps(pseudonymizer.apply(table, record), default=str).decode()


KEY_ENV_VAR = "SOCIALFUSION_PSEUDONYM_KEY"


def pseudonym_key(key_file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> bytes | None:
    """The pseudonymisation key from a file the user names or from ``$SOCIALFUSION_PSEUDONYM_KEY``.

    Never from a command-line argument, which every user of the machine sees in the process list. The file's
    content is the key, less surrounding whitespace (a trailing newline).

    Args:
        key_file: a file holding the key, or None to read the environment variable.
        environ: the environment (default: ``os.environ``).

    Returns:
        The key, or None when neither gives one.

    Raises:
        ConfigurationError: both are given, the file cannot be read, or the key is shorter than 16 bytes.
    """
    environ = os.environ if environ is None else environ
    from_env = environ.get(KEY_ENV_VAR) or None
    if key_file is None:
        key = from_env.encode() if from_env else None
    elif from_env:
        raise ConfigurationError(f"give the pseudonymisation key once: both {KEY_ENV_VAR} and a key file are set")
    else:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the pseudonymisation key file {key_file}: {error.strerror}"
            ) from None
    if key is not None:
        Pseudonymizer(key).fingerprint()  # fails early on a short key
    return key


def privacy_metadata(scrub_pii: bool, pseudonymizer: Pseudonymizer | None) -> Mapping[str, Any]:
    """What the store records about the privacy treatment applied at ingest."""
    return {
        "pii_scrubbed": scrub_pii,
        "pii_kinds": sorted(PII_KINDS) if scrub_pii else [],
        "pseudonymized": pseudonymizer is not None,
        "key_fingerprint": pseudonymizer.fingerprint() if pseudonymizer else None,
    }
