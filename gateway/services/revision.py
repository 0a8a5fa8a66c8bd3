"""Which rule code judged a decision: `RULES_REVISION`, the package version plus a hash
of the rules' source, computed once at import and carried by every answer and stored
with every decision, so a decision can be explained later even after the rules changed.

The hash covers the rule code and nothing else:

- every `*.py` file of `gateway/policy/` and its subpackages (the rules, the engine, how
  a number, a day and a time are read, the DNC scopes that block a purpose);
- `gateway/store/lua/precheck.lua`, the check script, which holds the other half of the
  do-not-call and attempt-cap rules: it matches a number's entry and counts the attempts
  against the caps, atomically, in Redis.

Not covered: the registries, lists, calendar and policy document a check was judged
against (that is `policy_version`, the registry snapshot), the libraries (phone number
metadata, time zones) and the code around the rules (HTTP, storage). A change there that
changes a decision changes the package version when released.

Deterministic across processes and machines: files in order of their path relative to
`gateway/` in `/` form, each hashed as its path, its size and its bytes as read (no line
end or encoding normalised)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from gateway import __version__

_GATEWAY = Path(__file__).resolve().parents[1]
HASH_HEX = 12


def rules_files(root: Path) -> list[tuple[str, Path]]:
    """The rule code's source files under a `gateway/` directory, by relative name, sorted."""
    policy = root / "policy"
    files = [(p.relative_to(root).as_posix(), p) for p in policy.rglob("*.py") if p.is_file()]
    check = root / "store" / "lua" / "precheck.lua"
    files.append((check.relative_to(root).as_posix(), check))
    return sorted(files)


def source_hash(files: Iterable[tuple[str, bytes]]) -> str:
    """The first HASH_HEX hex digits of a SHA-256 over (name, bytes) pairs, in the order given;
    each part length-prefixed, so no two different file sets hash alike by concatenation."""
    h = hashlib.sha256()
    for name, data in files:
        encoded = name.encode()
        h.update(b"%d:%s\n%d:" % (len(encoded), encoded, len(data)))
        h.update(data)
    return h.hexdigest()[:HASH_HEX]


def rules_revision(version: str, root: Path) -> str:
    """`<version>+<hash>` of the rule code under a `gateway/` directory."""
    return f"{version}+{source_hash((name, p.read_bytes()) for name, p in rules_files(root))}"


RULES_REVISION = rules_revision(__version__, _GATEWAY)
