"""The one folding function and the tokeniser: examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.rules.text import fold, tokens, tokens_with_spans

LATIN = "abcdefghijklmnopqrstuvwxyz"
TURKIC_LATIN = "çğıiöşüâîûəñ"  # Turkish, Azerbaijani, Turkmen, Uzbek letters
RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
KAZAKH = "әғқңөұүһі"
KYRGYZ = "ңөү"
UZBEK_CYRILLIC = "ўқғҳ"
SCRIPTS = {
    "latin": LATIN,
    "turkish-azerbaijani": LATIN + TURKIC_LATIN,
    "russian": RUSSIAN,
    "kazakh": RUSSIAN + KAZAKH,
    "kyrgyz": RUSSIAN + KYRGYZ,
    "uzbek": LATIN + "ʻ'" + RUSSIAN + UZBEK_CYRILLIC,
}
PUNCT = " ,.;:!?-'\"()0123456789\n"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Türkiye", "turkiye"),
        ("TÜRKİYE", "turkiye"),
        ("İstanbul ISTANBUL istanbul ıstanbul Istanbul", "istanbul " * 4 + "istanbul"),
        ("I\u0307stanbul", "istanbul"),  # decomposed dotted capital I
        ("Azərbaycan AZƏRBAYCAN", "azerbaycan azerbaycan"),
        ("Кубанычбек Омуралиев", "kubanychbek omuraliev"),
        ("Эрдоган", "erdogan"),
        ("Хазар Ибрагим", "khazar ibragim"),
        ("Фуад Мурадов", "fuad muradov"),
        ("Ёлка", "elka"),
        ("Қазақстан", "kazakstan"),
        ("Өзбекстан Ұлттық", "ozbekstan ulttyk"),
        ("Ўзбекистон Ҳукумати", "ozbekiston hukumati"),
        ("Oʻzbekiston", "ozbekiston"),
        ("ｏｔｓ", "ots"),  # full width
        ("Straße", "strasse"),
        ("Ελλάδα", "ελλαδα"),  # other scripts: case and accents only
        ("", ""),
    ],
)
def test_fold_examples(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_tokens_split_on_everything_but_letters_and_digits() -> None:
    assert tokens("OTS-led talks: Türkiye'nin $60bn, e-mail_x") == [
        "ots",
        "led",
        "talks",
        "turkiye",
        "nin",
        "60bn",
        "e",
        "mail",
        "x",
    ]
    assert tokens("Спам BOTS") == ["spam", "bots"]
    assert tokens("…—«»") == []


def test_spans_point_at_the_original_text() -> None:
    text = "Встреча: Kubanychbek Ömüraliev и İstanbul’da"
    words, spans = tokens_with_spans(text)
    assert words == ["vstrecha", "kubanychbek", "omuraliev", "i", "istanbul", "da"]
    assert [text[s:e] for s, e in spans] == [
        "Встреча",
        "Kubanychbek",
        "Ömüraliev",
        "и",
        "İstanbul",
        "da",
    ]


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fold_is_idempotent_and_never_raises(text: str) -> None:
    folded = fold(text)
    assert fold(folded) == folded


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fold_ignores_case_in_any_script(text: str) -> None:
    assert fold(text.upper()) == fold(text.lower())


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_fold_ignores_case_per_script(script: str) -> None:
    alphabet = (
        SCRIPTS[script] + SCRIPTS[script].upper() + PUNCT + ("İ" if "ı" in SCRIPTS[script] else "")
    )

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet=alphabet, max_size=40))
    def check(text: str) -> None:
        assert fold(text.upper()) == fold(text.lower()) == fold(text.title())
        assert fold(text) == fold(text.swapcase())

    check()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_both_tokenisers_agree_and_spans_fold_to_their_words(text: str) -> None:
    words, spans = tokens_with_spans(text)
    assert tokens(text) == words
    for word, (start, end) in zip(words, spans, strict=True):
        assert word in tokens(text[start:end])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=LATIN + LATIN.upper() + PUNCT))
def test_ascii_fast_path_matches_the_general_path(text: str) -> None:
    # A non-ASCII character far away forces the general path for the same words.
    assert tokens(text + " é") == [*tokens(text), "e"]
