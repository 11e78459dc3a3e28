"""Inflected forms and name spellings: the keys that let a term find more than its letters.

A term or alias is written in its dictionary form; the text declines it. Each word of a
rule gets a few *form keys* at compile time, and each word of an item gets every form key
its script allows (``text_forms``); a term matches a word that is its folded self or that
shares a form key with it. A key is ``family:base``; ``:`` never occurs in a folded word,
so keys and words share the matcher's word table without meeting.

Which families a rule word gets depends on the letters of the term or alias it belongs to
(a phrase is one language, so ``devletleri`` in "Türk Devletleri Teşkilatı" is Turkish):

==========================  ======================================  =====================
the phrase has              its Latin words get                     its Cyrillic words get
==========================  ======================================  =====================
ə, or oʻ / gʻ (az, uz)      ``+tl`` suffix chains
ç ğ ı İ ş ö ü â î û (tr)    ``+tl`` and ``$tr`` (Snowball Turkish)
ә ғ қ ң ө ұ ү һ і ў ҳ                                               ``+tc`` suffix chains
(kk, ky, uz)
other Cyrillic (ru)                                                 ``+ru`` and ``$ru``
                                                                    (Snowball Russian);
                                                                    a name also ``+tc``
only plain Latin letters    nothing: English and other plain Latin text is matched as
                            written (a hand-written ``*`` still works)
==========================  ======================================  =====================

A word shorter than three letters, an acronym (OTS, ОТГ: upper case, five letters at most),
a word with a digit and the suffix after an apostrophe (``nin`` of Türkiye'nin, but not
``zbekiston`` of O'zbekiston, where the apostrophe is part of a letter) get no form keys,
and neither does a term written with a leading ``=`` (an exact form).

``$tr`` and ``$ru`` are Snowball stems (PyStemmer): a text word matches when it has the
same stem, of four letters or more. Snowball is used where it is maintained; it is not
enough alone, as it stems Алиев to ``ал`` but Алиевым to ``алиев``, and diaspora and
diasporası apart, so every family also has a suffix rule. ``+tl``, ``+tc`` and ``+ru``
are those rules: a text word matches when it is the term's word followed by a chain of
suffixes from the lists below (plural, then possessive, then case; any part may be
missing), compared on folded letters so that vowel harmony and the script do not matter.
The term's word is never shortened, so a short English word never matches a longer one
by losing an ending. A chain that starts with a vowel follows a consonant, and one that
starts with a linking y or s and a vowel (ya, sı) follows a vowel; vowel harmony is not
checked (folding has already merged ı and i, ü and u). A dictionary form often ends in a
possessive (Teşkilatı, ұйымы), so the cases that follow a possessive may follow the word.

Turkic, Latin script (``+tl``: Turkish, Azerbaijani, Uzbek)::

    plural           lar ler lər
    possessive       ı i u ü sı si su sü
    case (tr)        ın in un ün nın nin nun nün yı yi yu yü a e ya ye da de ta te dan
                     den tan ten la le yla yle daki deki taki teki
    case (az)        nı ni nu nü ə yə də dən lə ylə dakı dəki
    case (uz)        ning ni ga ka qa da dan dagi
    after possessive nın nin nun nün nı ni nu nü na ne nə nda nde ndə ndan nden ndən yla
    (tr, az)         yle ylə ndaki ndeki ndakı
    after possessive ning ni ga da dan dagi
    (uz)

Turkic, Cyrillic script (``+tc``: Kazakh, Kyrgyz, Uzbek)::

    plural           лар лер дар дер тар тер лор лөр дор дөр тор төр
    possessive       ы і и у ү сы сі си су сү
    case (kk)        ның нің дың дің тың тің ны ні ды ді ты ті ға ге қа ке да де та те
                     дан ден тан тен нан нен дағы дегі тағы тегі
    case (ky)        нын нин нун нүн дын дин дун дүн тын тин тун түн ну нү ду дү ту тү
                     га го гө ка ко кө до дө то тө дон дөн тон төн нон нөн дагы деги
    case (uz)        нинг ни га ка қа да дан даги
    after possessive ның нің н на не нда нде нан нен ндағы ндегі
    (kk)
    after possessive нын нин нун нүн н на не но нө нда нде ндо ндө нан нен нон нөн
    (ky)
    after possessive нинг ни га да дан даги
    (uz)

Russian endings after a word that ends in a consonant (``+ru``: surnames such as Алиев,
whose Snowball stem is unstable, and nouns such as совет)::

    а у ом е ы ой ым ых ыми ов ам ами ах я ю ем ей и ям ями ях ев ою ею

Kazakh and Kyrgyz words often have none of the letters that mark them (Кыргызстан, Астана),
so a capitalised word of a Cyrillic phrase without them, a name, gets ``+tc`` beside
``+ru`` and ``$ru``: Кыргызстандын, Астанада.

Name keys (``nk``, see ``monitor.rules.names``) are given to the words of entity aliases
that are written with a capital letter and have four letters or more: a text word has the
name key of itself and of each base the suffix rules of its script leave, so Aliyev finds
Алиевым, Əliyevin and Тоқаевтың finds Tokayev.

A text word's language is not guessed: its script alone says which families it is
analysed in (Cyrillic: ``+ru``, ``+tc``, ``$ru``; Latin: ``+tl``, ``$tr``), and the rule
side decides which of them it asks for. English text therefore only matches a Turkic or
Russian term through a real suffix chain of that term.
"""

from __future__ import annotations

import re
from itertools import product

import Stemmer

from monitor.rules.names import name_key
from monitor.rules.text import fold, tokens, tokens_with_spans

__all__ = ["EMPTY", "families", "phrase_forms", "text_forms"]

EMPTY: frozenset[str] = frozenset()

# --------------------------------------------------------------------------- the lists

TL_PLURAL = "lar ler lər"
TL_POSSESSIVE = "ı i u ü sı si su sü"
TL_CASES = (
    "ın in un ün nın nin nun nün yı yi yu yü a e ya ye da de ta te dan den tan ten la le "
    "yla yle daki deki taki teki",
    "nı ni nu nü ə yə də dən lə ylə dakı dəki",
    "ning ni ga ka qa da dan dagi",
)
TL_AFTER_POSSESSIVE = (
    "nın nin nun nün nı ni nu nü na ne nə nda nde ndə ndan nden ndən yla yle ylə ndaki ndeki ndakı",
    "ning ni ga da dan dagi",
)
TC_PLURAL = "лар лер дар дер тар тер лор лөр дор дөр тор төр"
TC_POSSESSIVE = "ы і и у ү сы сі си су сү"
TC_CASES = (
    "ның нің дың дің тың тің ны ні ды ді ты ті ға ге қа ке да де та те дан ден тан тен нан "
    "нен дағы дегі тағы тегі",
    "нын нин нун нүн дын дин дун дүн тын тин тун түн ну нү ду дү ту тү га го гө ка ко кө "
    "до дө то тө дон дөн тон төн нон нөн дагы деги",
    "нинг ни га ка қа да дан даги",
)
TC_AFTER_POSSESSIVE = (
    "ның нің н на не нда нде нан нен ндағы ндегі",
    "нын нин нун нүн н на не но нө нда нде ндо ндө нан нен нон нөн",
    "нинг ни га да дан даги",
)
RU_ENDINGS = "а у ом е ы ой ым ых ыми ов ам ами ах я ю ем ей и ям ями ях ев ою ею"

#: A suffix rule: its folded chains, the length of the longest, and the letters that
#: count as vowels when a chain is fitted to the word before it.
_Chains = tuple[frozenset[str], int, str]


def _chains(
    plural: str, possessive: str, cases: tuple[str, ...], after: tuple[str, ...], vowels: str
) -> _Chains:
    """Every folded chain plural? (possessive after? | case?) that is not empty. A case
    that follows a possessive may also follow the word alone, as a dictionary form often
    ends in one (Teşkilatı, ұйымы)."""
    with_possessive = ["", *(c for group in after for c in group.split())]
    plain = [*with_possessive, *(c for group in cases for c in group.split())]
    plurals = ["", *plural.split()]
    chains = {fold(p + c) for p, c in product(plurals, plain)}
    chains |= {fold(p + s + c) for p, s, c in product(plurals, possessive.split(), with_possessive)}
    chains.discard("")
    return frozenset(chains), max(map(len, chains)), vowels


_TL = _chains(TL_PLURAL, TL_POSSESSIVE, TL_CASES, TL_AFTER_POSSESSIVE, "aeiou")
_TC = _chains(TC_PLURAL, TC_POSSESSIVE, TC_CASES, TC_AFTER_POSSESSIVE, "aeiouy")
_RU = _chains("", "", (RU_ENDINGS,), (), "aeiouy")
#: A suffix rule leaves at least this many letters.
_MIN_BASE = 3
#: A Snowball stem shorter than this is not used (Turkish stems günü to "g").
_MIN_STEM = 4

_STEMMERS = {"$ru": Stemmer.Stemmer("russian"), "$tr": Stemmer.Stemmer("turkish")}

# --------------------------------------------------------------------------- scripts

_CYRILLIC_RE = re.compile("[\u0400-\u052f]")
_TURKIC_CYRILLIC_RE = re.compile("[әғқңөұүһіўҳӘҒҚҢӨҰҮҺІЎҲ]")
_AZ_UZ_LATIN_RE = re.compile("[əƏʻʼ]|[oOgG][‘’'][a-z]")
_TURKISH_RE = re.compile("[çğıİşöüâîûÇĞŞÖÜÂÎÛ]")
_TURKISH_LETTERS_RE = re.compile("[çğışöüÇĞŞÖÜİ]")
_APOSTROPHES = "'’‘`´"


def families(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The families the Latin words and the Cyrillic words of a phrase are matched in."""
    if text.isascii() and "'" not in text:
        return (), ()  # plain Latin letters: matched as written
    latin: tuple[str, ...] = ()
    if _AZ_UZ_LATIN_RE.search(text):
        latin = ("+tl",)
    elif _TURKISH_RE.search(text):
        latin = ("+tl", "$tr")
    cyrillic: tuple[str, ...] = ()
    if _CYRILLIC_RE.search(text):
        cyrillic = ("+tc",) if _TURKIC_CYRILLIC_RE.search(text) else ("+ru", "$ru")
    return latin, cyrillic


def _stem(family: str, original: str) -> str:
    """The folded Snowball stem of a word as written."""
    if family == "$tr" and _TURKISH_LETTERS_RE.search(original):
        lower = original.replace("I", "ı").replace("İ", "i").lower()
    else:
        lower = original.lower()
    return fold(_STEMMERS[family].stemWord(lower))


def _bases(folded: str, rule: _Chains) -> set[str]:
    """The word itself and what is left of it once a chain of the rule is cut off. A chain
    that starts with a vowel follows a consonant; one that starts with a linking y or s
    and a vowel (ya, sı) follows a vowel."""
    chains, longest, vowels = rule
    out = {folded}
    n = len(folded)
    for k in range(1, min(longest, n - _MIN_BASE) + 1):
        chain = folded[n - k :]
        if chain not in chains:
            continue
        base = folded[: n - k]
        if chain[0] in vowels:
            if base[-1] in vowels:
                continue
        elif chain[0] in "ys" and k > 1 and chain[1] in vowels and base[-1] not in vowels:
            continue
        out.add(base)
    return out


# --------------------------------------------------------------------------- text side


def text_forms(word: str) -> frozenset[str]:
    """Every form key of one word of text, as written (or already folded, for ASCII)."""
    parts = tokens(word)
    if len(parts) != 1:
        return EMPTY
    folded = parts[0]
    if len(folded) < _MIN_BASE or not (folded.isascii() and folded.isalpha()):
        return EMPTY
    keys: set[str] = set()
    if _CYRILLIC_RE.search(word):
        ru = _bases(folded, _RU)
        tc = _bases(folded, _TC)
        keys.update("+ru:" + b for b in ru)
        keys.update("+tc:" + b for b in tc)
        keys.add("$ru:" + _stem("$ru", word))
        bases = ru | tc
    else:
        bases = _bases(folded, _TL)
        keys.update("+tl:" + b for b in bases)
        keys.add("$tr:" + _stem("$tr", word))
    keys.update("nk:" + name_key(b) for b in bases)
    return frozenset(keys)


# --------------------------------------------------------------------------- rule side


def _after_apostrophe(text: str, start: int) -> bool:
    """Whether the word at ``start`` is a suffix after an apostrophe (Türkiye'nin), not a
    word after a letter apostrophe (Uzbek O'zbekiston, G'afur)."""
    if start < 3 or text[start - 1] not in _APOSTROPHES:
        return False
    return text[start - 2].isalpha() and text[start - 3].isalpha()


def phrase_forms(
    text: str, *, inflect: bool = True, names: bool = False
) -> tuple[tuple[str, ...], tuple[frozenset[str], ...]]:
    """The folded words of a term or alias and the form keys of each.

    ``inflect``: give the words the families of the phrase's language; ``names``: give
    capitalised words of four letters or more a name key (entity aliases).
    """
    latin, cyrillic = families(text) if inflect else ((), ())
    if not (latin or cyrillic or names):
        plain = tuple(tokens(text))
        return plain, (EMPTY,) * len(plain)
    words, spans = tokens_with_spans(text)
    forms: list[frozenset[str]] = []
    for word, (start, end) in zip(words, spans, strict=True):
        original = text[start:end]
        if (
            len(word) < _MIN_BASE
            or not (word.isascii() and word.isalpha())
            or (original.isupper() and len(original) <= 5)
            or _after_apostrophe(text, start)
            or len(tokens(original)) != 1
        ):
            forms.append(EMPTY)
            continue
        keys: set[str] = set()
        if _CYRILLIC_RE.search(original):
            script = cyrillic
            if script and script[0] == "+ru" and original[0].isupper():
                script = (*script, "+tc")  # Кыргызстан, Астана: Kyrgyz or Kazakh too
        else:
            script = latin
        for family in script:
            if family[0] == "+":
                keys.add(f"{family}:{word}")
            else:
                stem = _stem(family, original)
                if len(stem) >= _MIN_STEM:
                    keys.add(f"{family}:{stem}")
        if names and len(word) >= 4 and original[0].isupper():
            keys.add("nk:" + name_key(word))
        forms.append(frozenset(keys))
    return tuple(words), tuple(forms)
