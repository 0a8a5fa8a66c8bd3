"""The key list documented in gateway/store/keys.py is the list of keys `Keys` builds,
and no other module formats a Redis key by hand."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import gateway
from gateway.store import keys as keys_module
from gateway.store.keys import Keys

PREFIX = "{p}"
# A sample argument per parameter name, as the documented list writes it.
PLACEHOLDERS = {
    "generation": "<gen>",
    "bucket": "<bucket>",
    "e164": "<e164>",
    "token_id": "<token>",
    "request_id": "<request>",
}


def documented() -> set[str]:
    doc = keys_module.__doc__ or ""
    return {m.group(1) for m in re.finditer(r"^  (\{p\}\S+)", doc, re.MULTILINE)}


def built() -> tuple[set[str], set[str]]:
    """The key patterns `Keys` builds, and the beginnings of keys it hands to scripts."""
    keys = Keys(PREFIX)
    full: set[str] = set()
    beginnings: set[str] = set()
    for name, value in inspect.getmembers(keys):
        if name.startswith("_") or name == "prefix":
            continue
        if callable(value):
            params = inspect.signature(value).parameters
            assert set(params) <= set(PLACEHOLDERS), f"Keys.{name}: a parameter without a sample"
            value = value(*(PLACEHOLDERS[p] for p in params))
        assert isinstance(value, str) and value.startswith(PREFIX), name
        (beginnings if name.endswith("prefix") else full).add(value)
    return full, beginnings


def test_the_documented_keys_are_the_keys_built() -> None:
    full, _ = built()
    assert documented() == full


def test_every_beginning_of_a_key_begins_documented_keys() -> None:
    _, beginnings = built()
    for begins in beginnings:
        assert any(key.startswith(begins) for key in documented()), begins


def test_every_key_carries_the_prefix_it_is_given() -> None:
    full, beginnings = built()
    assert full and beginnings
    other = Keys("other:")
    assert other.attempts("+1") == "other:att:+1"
    assert other.dnc_bucket(3, 7).startswith(other.dnc_bucket_prefix(3))
    assert other.dnc_bucket_prefix(3).startswith(other.dnc_prefix)


# A Redis key formatted by hand: the prefix in an f-string, or a key's own beginning
# in a string literal.
_BY_HAND = re.compile(r"""(\.|redis_)prefix\}|["'](dnc|att|idem):""")


def test_no_module_but_keys_formats_a_key_by_hand() -> None:
    root = Path(gateway.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == Path(keys_module.__file__):
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if _BY_HAND.search(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    assert found == []
