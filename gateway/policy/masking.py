"""Masking the numbers in what an auditor reads (rule 13): every customer's or employee's
number becomes `139****5678` (mask_number), wherever it sits in an answer.

The mask walks the answer's structure, never its serialised text:

- a string under a key that holds numbers (`callee`, `number`, `numbers`, ...) is masked
  whole, in whatever form it was written, even one that is no valid number;
- in any other string, every stretch that reads as a callable number in a form the
  gateway accepts (`13912345678`, `+86 139 1234 5678`, `0086-139...`, full-width digits,
  `(010) 6234 5678`, ...) is masked, also inside free text (`客户13912345678拒绝`);
- the company's registered caller ids are its own published numbers, not personal data:
  they are left in full wherever they appear;
- hashes, UUIDs, times and the company's reference numbers (policy, licence, filing) are
  left as they are, so that ids and the audit chain stay readable.

A string that reads as a number by accident (a date written `2026-11-23 10`) may be masked
too; that costs the auditor a detail, while missing a number would leak it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence
from typing import Any, Final

from gateway.policy.numbers import mask_number, normalize_caller_id, normalize_number

# Keys whose string values are phone numbers, masked whole whatever their form.
NUMBER_KEYS: Final = frozenset(
    {"callee", "callee_e164", "callee_raw", "number", "numbers", "customers", "input"}
)
# Keys whose values are digests: left as they are (the audit chain must stay checkable).
DIGEST_KEYS: Final = frozenset({"hash", "prev_hash", "sha256"})
# Keys whose values are the company's own reference numbers (policy, licence, filing):
# left as they are, though `P2026000123` holds digits that read as a Guangzhou landline.
REFERENCE_KEYS: Final = frozenset({"policy_no", "licence_no", "filing_ref"})
# Keys whose values are times and dates (`created_at`, `valid_until`, `day`): validated
# as such when written, and left as they are (`2026-11-23 10:00` reads as a landline).
_TIME_KEY: Final = re.compile(r"(.*_)?(at|until|day|date)")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HEX: Final = re.compile(r"[0-9a-fA-F]{32,}")
_SEPARATORS: Final = frozenset(" ().-\t\n\r\f\v")
_DIGITS: Final = frozenset("0123456789")
# Fewest and most digits of a number in an accepted form (`0086` + `0` + 11 digits).
_MIN_DIGITS: Final = 7
_MAX_DIGITS: Final = 17
_MASKED: Final = "****"


def _char_class(ch: str) -> tuple[int, int]:
    """(kind, digits) of one character as normalize_number() would read it: kind 1 for a
    digit or `+` (full-width and other compatibility forms included), 2 for a separator,
    0 for anything else."""
    if "0" <= ch <= "9":
        return 1, 1
    if ch in _SEPARATORS:
        return 2, 0
    if ch.isascii() and ch != "+":
        return 0, 0
    folded = unicodedata.normalize("NFKC", ch)
    if not folded:
        return 0, 0
    digits = sum(1 for c in folded if c in _DIGITS)
    if digits or "+" in folded:
        if all(c in _DIGITS or c == "+" or c in _SEPARATORS for c in folded):
            return 1, digits
        return 0, 0
    if folded.isspace() or all(c in _SEPARATORS for c in folded):
        return 2, 0
    return 0, 0


class NumberMask:
    """Masks numbers in answers; `company_numbers` are the registered caller ids (in
    normalize_caller_id() form), which stay in full."""

    def __init__(self, company_numbers: Container[str] = frozenset()) -> None:
        self._company = company_numbers

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON-like value with its numbers masked; `key` is the key it is found under."""
        if isinstance(value, str):
            if key is not None and (
                key in DIGEST_KEYS or key in REFERENCE_KEYS or _TIME_KEY.fullmatch(key)
            ):
                return value
            if key in NUMBER_KEYS:
                return self.number(value)
            return self.text(value)
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.value(v, k)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item, key) for item in value]
        return value

    def record(self, header: Sequence[str], row: Sequence[Any]) -> list[Any]:
        """A CSV row with its numbers masked, each cell read under its column's name."""
        return [self.value(cell, name) for name, cell in zip(header, row, strict=False)]

    def number(self, raw: str) -> str:
        """A value that is meant to be a number, masked whatever its form."""
        if self._is_company(raw):
            return raw
        e164 = normalize_number(raw)
        if e164 is not None:
            return mask_number(e164)
        scanned = self.text(raw)  # numbers written inside it
        if scanned != raw or _MASKED in raw or not any(_char_class(ch)[1] for ch in raw):
            return scanned  # masked now or already, or it holds no digits
        return mask_number(unicodedata.normalize("NFKC", raw))

    def text(self, text: str) -> str:
        """Free text with every stretch that reads as a callable number masked."""
        if len(text) < _MIN_DIGITS or _UUID.fullmatch(text) or _HEX.fullmatch(text):
            return text
        classes = [_char_class(ch) for ch in text]
        if sum(d for _, d in classes) < _MIN_DIGITS:
            return text
        out: list[str] = []
        done = 0
        for start, end, e164 in self._number_spans(text, classes):
            out.append(text[done:start])
            out.append(mask_number(e164))
            done = end
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)

    def _number_spans(
        self, text: str, classes: list[tuple[int, int]]
    ) -> list[tuple[int, int, str]]:
        """Where the numbers to mask are, with their E.164: within each run of digits and
        separators, its groups of digits taken from the left, each with as many following
        groups as make the longest number."""
        spans: list[tuple[int, int, str]] = []
        i, n = 0, len(text)
        while i < n:
            if classes[i][0] == 0:
                i += 1
                continue
            run_end = i
            while run_end < n and classes[run_end][0] != 0:
                run_end += 1
            spans.extend(self._spans_in_run(text, classes, i, run_end))
            i = run_end
        return spans

    def _spans_in_run(
        self, text: str, classes: list[tuple[int, int]], start: int, end: int
    ) -> list[tuple[int, int, str]]:
        groups: list[tuple[int, int, int]] = []  # (start, end, digits)
        i = start
        while i < end:
            if classes[i][0] != 1:
                i += 1
                continue
            j, digits = i, 0
            while j < end and classes[j][0] == 1:
                digits += classes[j][1]
                j += 1
            groups.append((i, j, digits))
            i = j
        found: list[tuple[int, int, str]] = []
        g = 0
        while g < len(groups):
            best: tuple[int, str] | None = None  # (last group, E.164)
            digits = 0
            for last in range(g, len(groups)):
                digits += groups[last][2]
                if digits > _MAX_DIGITS:
                    break
                if digits >= _MIN_DIGITS:
                    e164 = normalize_number(text[groups[g][0] : groups[last][1]])
                    if e164 is not None:
                        best = (last, e164)
            if best is None:
                g += 1
                continue
            last, e164 = best
            if e164 not in self._company:
                found.append((groups[g][0], groups[last][1], e164))
            g = last + 1
        return found

    def _is_company(self, raw: str) -> bool:
        return bool(self._company) and normalize_caller_id(raw) in self._company
