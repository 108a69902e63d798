"""Normalisation: obfuscated abuse is undone, ordinary text survives, offsets point into the original."""

from __future__ import annotations

import pytest

from civility.model.normalize import Normalized, Vocabulary, default_vocabulary, normalize


def check_offsets(result: Normalized, original: str) -> None:
    assert len(result.offsets) == len(result.text)
    assert all(0 <= o < len(original) for o in result.offsets)
    assert result.offsets == sorted(result.offsets), "offsets must not go backwards"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # leetspeak and masking inside words
        ("sh1t", "shit"),
        ("you 1d10t", "you idiot"),
        ("b!tch", "bitch"),
        ("$hit happens", "shit happens"),
        ("b@stard", "bastard"),
        ("what the f*ck", "what the fuck"),
        ("a f*ck1ng m0r0n", "a fucking moron"),
        ("sh#t", "shit"),
        # spaced-out letters and inserted punctuation
        ("f u c k you", "fuck you"),
        ("i.d.i.o.t", "idiot"),
        ("f-u-c-k off", "fuck off"),
        ("y o u  are an idiot", "you  are an idiot"),
        ("y o u a r e a n i d i o t", "you are an idiot"),
        ("fu.ck off", "fuck off"),
        ("id-iot", "idiot"),
        # homoglyphs (Cyrillic, Greek) inside Latin text
        ("you іdіоt", "you idiot"),  # Cyrillic і and о
        ("ѕtupid", "stupid"),
        ("ΙDΙΟΤ", "IDIOT"),  # Greek capitals
        # NFKC: full-width and mathematical letters
        ("ｆｕｃｋ", "fuck"),
        ("𝐟𝐮𝐜𝐤 you", "fuck you"),
        # zero-width and control characters
        ("fu\u200bck", "fuck"),
        ("id\u200di\ufeffot", "idiot"),
        ("bad\x00word", "badword"),
        ("zalgo i̷d̸i̵o̶t̷", "zalgo idiot"),
        # repeated letters
        ("stuuuuupid", "stupid"),
        ("sooooo good", "soo good"),
    ],
)
def test_obfuscation_is_undone(text: str, expected: str) -> None:
    result = normalize(text)
    assert result.text == expected
    check_offsets(result, text)


@pytest.mark.parametrize(
    "text",
    [
        "Call 555-1234 on the 10th at 3am.",
        "It costs $100, or 1,000.50 euros, up 4.5% in Q3.",
        "The 4x4 and the mp3, covid19 and 4chan, version 1.2.3, 1st 2nd 3rd 4th.",
        "Read https://www.example.com/a_b?x=1 or mail j0hn.doe@example.co.uk",
        "Plan B is fine; vitamin C too.",
        "Привет, как дела?",
        "Καλημέρα σας",
        "Café naïve résumé",
        "I think so.",
        "a well-known co-op",
        "Hello!!! Are you there???",
    ],
)
def test_ordinary_text_survives(text: str) -> None:
    result = normalize(text)
    assert result.text == text
    assert result.offsets == list(range(len(text)))


def test_initials_in_a_sentence_stay_readable() -> None:
    # Spaced capitals either stay as they are or join into the abbreviation they spell.
    assert normalize("the A B C of economics").text in {"the A B C of economics", "the ABC of economics"}
    assert normalize("the U.S.A and the U.K.").text.startswith("the USA and the U")
    assert normalize("Q X Z").text == "Q X Z"


def test_offsets_map_back_to_the_original() -> None:
    original = "you are a f u c k i n g іdіоt"
    result = normalize(original)
    assert result.text == "you are a fucking idiot"
    begin = result.text.index("fucking")
    start, stop = result.original_span(begin, begin + len("fucking"))
    assert original[start:stop] == "f u c k i n g"
    begin = result.text.index("idiot")
    start, stop = result.original_span(begin, begin + len("idiot"))
    assert original[start:stop] == "іdіоt"


def test_offsets_skip_removed_characters_and_keep_combining_marks() -> None:
    original = "a\u200bb cafe\u0301"
    result = normalize(original)
    assert result.text == "ab café"
    assert result.offsets[:2] == [0, 2]
    start, stop = result.original_span(3, 7)
    assert original[start:stop] == "cafe\u0301"


def test_original_span_rejects_spans_outside_the_text() -> None:
    with pytest.raises(ValueError, match="outside"):
        normalize("abc").original_span(2, 9)


def test_genuine_cyrillic_is_not_latinised() -> None:
    assert normalize("сука").text == "сука"  # all Cyrillic, in Cyrillic text: a real Russian word
    assert normalize("Москва and Київ").text == "Москва and Київ"


def test_without_a_vocabulary_only_the_safe_rules_apply() -> None:
    empty = Vocabulary([])
    assert normalize("m0r0n", empty).text == "moron"  # leet inside a word of 3+ letters
    assert normalize("f*ck", empty).text == "f*ck"  # masks need a vocabulary to resolve
    assert normalize("10th 3am", empty).text == "10th 3am"
    assert normalize("i.d.i.o.t", empty).text == "idiot"  # punctuation-separated letters still join


def test_vocabulary_comes_from_the_packaged_encoder() -> None:
    vocabulary = default_vocabulary()
    assert vocabulary is not None and len(vocabulary) > 10_000
    assert "idiot" in vocabulary and "##ing" not in vocabulary


def test_empty_and_whitespace() -> None:
    assert normalize("").text == ""
    assert normalize("\u200b\u200b").text == ""
    assert normalize("one\ttwo\nthree").text == "one two three"
