from __future__ import annotations

import pytest

from gateway.policy import NumberSet


def test_membership_of_e164_numbers():
    numbers = NumberSet.of(["+8613812345678", "+861012345678", "+8613812345678"])
    assert len(numbers) == 2
    assert "+8613812345678" in numbers
    assert "+861012345678" in numbers
    assert "+8613912345678" not in numbers


@pytest.mark.parametrize("value", ["13812345678", "+86 138", "", "+", "+0123", 8613812345678, None])
def test_anything_but_e164_is_not_a_member(value):
    assert value not in NumberSet.of(["+8613812345678"])


@pytest.mark.parametrize(
    "value", ["13812345678", "+86 138 1234 5678", "+", "+0861", "+1" + "0" * 15]
)
def test_building_from_anything_but_e164_is_refused(value):
    with pytest.raises(ValueError):
        NumberSet.of([value])


def test_iterates_in_order_and_compares_by_content():
    numbers = NumberSet.of(["+8613912345678", "+8613812345678"])
    assert list(numbers) == ["+8613812345678", "+8613912345678"]
    assert numbers == NumberSet.of_ints([8613812345678, 8613912345678])
    assert hash(numbers) == hash(NumberSet.of(list(numbers)))
    assert NumberSet.of(()) == NumberSet()
    assert "2 numbers" in repr(numbers)


def test_a_million_numbers_take_eight_megabytes():
    numbers = NumberSet.of_ints(8613000000000 + 7 * i for i in range(1_000_000))
    assert len(numbers) == 1_000_000
    assert numbers.nbytes == 8_000_000
    assert f"+{8613000000000 + 7 * 500_000}" in numbers
    assert f"+{8613000000000 + 7 * 500_000 + 1}" not in numbers


def test_a_large_set_builds_from_strings():
    numbers = NumberSet.of(f"+86138{i:08d}" for i in range(0, 200_000, 3))
    assert "+8613800000003" in numbers
    assert "+8613800000004" not in numbers
