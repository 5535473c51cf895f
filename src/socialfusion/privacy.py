"""Privacy at ingest: scrub PII (e-mails, phones, card numbers, IPs) from text; keyed pseudonyms for user ids.

Examples:
    >>> scrub_text("mail me at ann@example.org or +44 20 7946 0958")
    ('mail me at [EMAIL] or [PHONE]', {'email': 1, 'phone': 1})
    >>> pseudonymizer = Pseudonymizer(b"a secret key the user holds")
    >>> pseudonymizer.pseudonym("alice") == pseudonymizer.pseudonym("alice")
    True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from socialfusion.exceptions import ConfigurationError

__all__ = ["PII_PATTERNS", "Pseudonymizer", "scrub_text"]


def _luhn_valid(number: str) -> bool:
    digits = [int(char) for char in number if char.isdigit()]
    checksum = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        checksum += digit
    return len(digits) >= 13 and checksum % 10 == 0


# Order matters: card numbers before phones (a card number also looks like a long phone number).
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "card": re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"),
    # An address may end a sentence ("... is 10.0.0.1."), but not run on into more digits.
    "ip": re.compile(
        r"(?<!\d)(?<!\d\.)(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)"
    ),
    # 9-15 digits with separators: international (+CC, any grouping, e.g. +33 6 12 34 56 78), North-American
    # (1-800-555-0199, (555) 123-4567), European and Chinese mobile formats. Dates (2024-05-01) are not phones,
    # and a number that runs into a time ("2024-05-01 10:30") is not one either. ASCII-only boundaries: CJK
    # characters count as \w and often touch a number directly (电话13812345678).
    "phone": re.compile(
        r"(?<![A-Za-z0-9_+])(?!\d{4}-\d{2}-\d{2}(?!\d))"
        r"(?:\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{1,4}){1,5}"
        r"|(?:1[\s.-])?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4})"
        r"(?![A-Za-z0-9_:])"
    ),
}
_REPLACEMENTS = {"email": "[EMAIL]", "card": "[CARD]", "ip": "[IP]", "phone": "[PHONE]"}
_MIN_PHONE_DIGITS = 9
# One pass over the text: the alternation tries the kinds in PII_PATTERNS order at each position.
_ANY_PII = re.compile("|".join(f"(?P<{kind}>{pattern.pattern})" for kind, pattern in PII_PATTERNS.items()))
_PII_HINT = re.compile(r"@[\w-]+\.|\d[\d\s().-]{5,}\d")
# A grouped number next to a currency sign or code is an amount ("€1 250 000 000", "1.250.000.000 €").
_CURRENCY_BEFORE = re.compile(r"[€$£¥₹]\s?[\d\s.,]*$|(?:EUR|USD|GBP|CNY|RMB)\s?[\d\s.,]*$")
_CURRENCY_AFTER = re.compile(r"^\s?(?:[€$£¥₹元]|EUR|USD|GBP|CNY|RMB|euros?|dollars?)")


def _is_amount(match: re.Match[str]) -> bool:
    before = match.string[max(0, match.start() - 24) : match.start()]
    return bool(_CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.match(match.string[match.end() : match.end() + 8]))


def _replacement(counts: dict[str, int]):
    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        found = match.group(0)
        if kind == "card" and not _luhn_valid(found):
            return found
        if kind == "phone" and (sum(char.isdigit() for char in found) < _MIN_PHONE_DIGITS or _is_amount(match)):
            return found
        counts[kind] = counts.get(kind, 0) + 1
        return _REPLACEMENTS[kind]

    return replace


def scrub_text(text: str) -> tuple[str, dict[str, int]]:
    """Replace PII in ``text`` with placeholders such as ``[EMAIL]``.

    Finds e-mail addresses, card numbers (Luhn-checked), IPv4 addresses and phone numbers (9 to 15 digits, with
    international, bracketed, North-American and Chinese mobile formats). Dates and times such as
    2024-05-01 10:30, amounts next to a currency, and short numbers are kept.

    Args:
        text: any text.

    Returns:
        The scrubbed text and how many items of each kind were replaced (only kinds found).
    """
    if not text or not _PII_HINT.search(text):
        return text, {}
    counts: dict[str, int] = {}
    return _ANY_PII.sub(_replacement(counts), text), counts


# Fields that hold a user identifier or handle, per table.
USER_FIELDS: dict[str, tuple[str, ...]] = {
    "posts": ("author_id",),
    "users": ("user_id", "handle"),
    "interactions": ("user_id",),
    "edges": ("src", "dst"),
    "labels": (),
}
USER_LIST_FIELDS: dict[str, tuple[str, ...]] = {"posts": ("mentions",)}
TEXT_FIELDS: dict[str, tuple[str, ...]] = {"posts": ("text",), "users": ("profile_text", "display_name")}


_PSEUDONYM = re.compile(r"anon_[0-9a-f]{20}")


class Pseudonymizer:
    """Keyed pseudonyms for user ids and handles: HMAC-SHA256(key, value), shortened.

    The same key gives the same pseudonym for the same value, so joins across tables and across ingests keep
    working; without the key the mapping cannot be recomputed. Handles are case-folded and stripped of a
    leading ``@`` first, so ``@Alice`` in a mention and ``alice`` as a handle map to the same pseudonym.

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

    def apply(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """Pseudonymise the user fields of one canonical record in place and return it."""
        for field in USER_FIELDS.get(table, ()):
            value = record.get(field)
            if isinstance(value, str) and value:
                record[field] = self.pseudonym(value)
        if table == "labels" and record.get("item_kind") == "user" and isinstance(record.get("item_id"), str):
            record["item_id"] = self.pseudonym(record["item_id"])
        for field in USER_LIST_FIELDS.get(table, ()):
            values = record.get(field)
            if isinstance(values, list):
                record[field] = [self.pseudonym(v) if isinstance(v, str) else v for v in values]
        return record


def scrub_record(table: str, record: dict[str, Any]) -> dict[str, int]:
    """Scrub PII from the text fields of one canonical record in place; returns counts per PII kind."""
    found: dict[str, int] = {}
    for field in TEXT_FIELDS.get(table, ()):
        value = record.get(field)
        if isinstance(value, str):
            record[field], counts = scrub_text(value)
            for kind, count in counts.items():
                found[kind] = found.get(kind, 0) + count
    return found


def privacy_metadata(scrub_pii: bool, pseudonymizer: Pseudonymizer | None) -> Mapping[str, Any]:
    """What the store records about the privacy treatment applied at ingest."""
    return {
        "pii_scrubbed": scrub_pii,
        "pii_kinds": sorted(PII_PATTERNS) if scrub_pii else [],
        "pseudonymized": pseudonymizer is not None,
        "key_fingerprint": pseudonymizer.fingerprint() if pseudonymizer else None,
    }
