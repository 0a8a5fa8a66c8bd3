"""A compact, immutable set of E.164 numbers."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Final

_MAX_DIGITS: Final = 15  # E.164; 10**15 fits an unsigned 64-bit int


def _as_int(e164: str) -> int | None:
    digits = e164[1:]
    if (
        e164[:1] != "+"
        or not 1 <= len(digits) <= _MAX_DIGITS
        or digits[0] == "0"
        or not digits.isascii()
        or not digits.isdigit()
    ):
        return None
    return int(digits)


class NumberSet:
    """E.164 numbers held as a sorted `array('Q')` of their digits: 8 bytes a number.

    Lookups are a binary search. Build it from normalised numbers (see
    `normalize_number`); anything that is not E.164 is refused with ValueError.
    """

    __slots__ = ("_items",)
    _items: array[int]

    def __init__(self, e164s: Iterable[str] = ()) -> None:
        values: set[int] = set()
        for e164 in e164s:
            value = _as_int(e164)
            if value is None:
                raise ValueError(f"not an E.164 number: {e164[:4]!r}...")
            values.add(value)
        self._items = array("Q", sorted(values))

    @classmethod
    def of(cls, e164s: Iterable[str]) -> NumberSet:
        return cls(e164s)

    @classmethod
    def of_ints(cls, digits: Iterable[int]) -> NumberSet:
        """From the digits of E.164 numbers as integers (`8613812345678`), e.g. bigint columns."""
        values = sorted(set(digits))
        if values and (values[0] < 1 or values[-1] >= 10**_MAX_DIGITS):
            raise ValueError("E.164 digits must be 1 to 15 digits long")
        number_set = cls()
        number_set._items = array("Q", values)
        return number_set

    def __contains__(self, e164: object) -> bool:
        if not isinstance(e164, str):
            return False
        value = _as_int(e164)
        if value is None:
            return False
        items = self._items
        index = bisect_left(items, value)
        return index < len(items) and items[index] == value

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return (f"+{value}" for value in self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items.tobytes())

    def __repr__(self) -> str:
        return f"NumberSet(<{len(self._items)} numbers>)"

    @property
    def nbytes(self) -> int:
        return self._items.itemsize * len(self._items)
