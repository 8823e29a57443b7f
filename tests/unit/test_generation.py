"""The code alphabet, the random characters, the size of the code space: pure arithmetic."""

from __future__ import annotations

import random
import string
from collections import Counter

import pytest

from discounts.codes.generation import ALPHABET, SPACE_FACTOR, CodeMaker, code_space, shortest_length


def test_the_alphabet_is_upper_case_letters_and_digits_without_look_alikes() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 31
    assert set(ALPHABET) == set(string.ascii_uppercase + string.digits) - set("0O1IL")


def test_every_character_is_equally_likely() -> None:
    """Each byte value below 248 stands for one character, 8 values each; the 8 above are dropped, never folded."""
    maker = CodeMaker("", 8, lambda n: bytes(range(256)) * (n // 256 + 1))
    chars = Counter("".join(maker.make(31)))  # 248 characters: one pass over the byte values
    assert chars == dict.fromkeys(ALPHABET, 8)


def test_codes_are_the_prefix_and_length_random_characters() -> None:
    maker = CodeMaker("SPRING-", 12, random.Random(7).randbytes)
    codes = maker.make(5000)
    assert len(codes) == 5000
    assert all(code.startswith("SPRING-") and len(code) == 19 for code in codes)
    assert set("".join(code[7:] for code in codes)) == set(ALPHABET)
    assert len(set(codes)) == 5000


def test_dropped_bytes_are_made_up_for_by_reading_more() -> None:
    reads = []

    def mostly_dropped(n: int) -> bytes:
        reads.append(n)
        return bytes([255] * (n - 1) + [3])  # one usable byte per read

    assert CodeMaker("", 7, mostly_dropped).make(2) == [ALPHABET[3] * 7] * 2
    assert len(reads) == 14


@pytest.mark.parametrize(("count", "length"), [(1, 7), (27, 7), (28, 8), (1000, 9), (100_000, 10), (1_000_000, 11)])
def test_the_shortest_length_leaves_a_space_a_billion_times_the_count(count: int, length: int) -> None:
    assert shortest_length(count) == length
    assert code_space(length) >= SPACE_FACTOR * count > code_space(length - 1)


def test_the_code_space_is_exact_however_long_the_code() -> None:
    """Integers, not floats: 31^64 has 96 digits, and no comparison with it overflows (Sylius #10912)."""
    assert code_space(64) == 31**64
    assert len(str(code_space(64))) == 96
    assert code_space(64) > SPACE_FACTOR * 1_000_000
