"""Word forms: which forms of a Russian or Ukrainian word count as it, and an English word's lemma.

The only module that imports pymorphy3 and simplemma. Why these two (bench/morphology_compare.py
measures the candidates on the matching table of tests/test_matching_table.py):

- Russian and Ukrainian: pymorphy3's dictionaries give a word's whole paradigm (`lexeme`): «Минск»
  -> минска, минске, минском...; «Беларусь» -> беларуси, беларусью; an unknown name gets the paradigm
  its ending predicts. A Snowball stemmer cuts endings instead, and cuts «Беларусь» to `белар` but
  «Беларуси» to `беларус`, and `газета` to `газет` beside `газ`: it misses some forms and merges
  others. The paradigm is taken of the term's words only (a few hundred µs per distinct word, cached),
  so news text is never analysed: it is looked up by its exact forms.
- English: simplemma's dictionary lemma (sanctions, sanctioned, sanctioning -> sanction; pipelines ->
  pipeline), applied to the words of the news and of the terms alike. A dictionary keeps "Putinism"
  apart from "Putin", which Snowball's English stemmer merges.

Both analysers load on first use (pymorphy3 about 0.3 s, simplemma's English table about 0.4 s), in
whichever thread asks first; results are cached per word, within a bound.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_UKRAINIAN_LETTERS = re.compile("[іїєґ]")
_CACHE_LIMIT = 200_000  # words per cache: a day of news in three languages fits; beyond, start again

_NAMES = frozenset({"Geox", "Name", "Surn", "Patr", "Orgn", "Trad"})  # pymorphy3's grammemes of proper names

_lock = threading.Lock()
_analyzers: dict[str, Any] = {}
_forms: dict[tuple[str, bool], frozenset[str]] = {}
_lemmas: dict[str, str] = {}


def _analyzer(lang: str) -> Any:
    analyzer = _analyzers.get(lang)
    if analyzer is None:
        with _lock:
            analyzer = _analyzers.get(lang)
            if analyzer is None:
                import pymorphy3  # loads its dictionaries: only when a Cyrillic term is compiled

                analyzer = _analyzers[lang] = pymorphy3.MorphAnalyzer(lang=lang)
    return analyzer


def cyrillic_forms(word: str, name: bool = False) -> frozenset[str]:
    """Every form of a Russian or Ukrainian word (case-folded, ё as е), the word itself included.

    A word written with a capital (`name`) that can be a name stands for the name: «Газа» for Gaza, not
    the genitive of «газ»; «Путина» for «Путин», not «путина» (a fishing season); «Белоусов» not «белоус».

    A word written in its base form («газ») stands for that lexeme only, not for others whose forms
    it shares («газа», a bay, whose plural is also «газ»): parses that have the word as their base
    form are preferred, when the likeliest reading is one of them. A word whose likeliest reading is
    an inflected form stands for every reading: «Силой» is «сила»'s and the adverb «силой».

    Ukrainian letters (і, ї, є, ґ) select the Ukrainian dictionary, and so does a word only the
    Ukrainian dictionary knows; any other word gets its Russian forms."""
    cached = _forms.get((word, name))
    if cached is not None:
        return cached
    # One language a word: Ukrainian when it has a Ukrainian letter or only the Ukrainian dictionary knows it,
    # else Russian. Both at once would give a Russian name the forms of a Ukrainian word it looks like
    # (Ким -> кому, Мали -> мало).
    uk = _UKRAINIAN_LETTERS.search(word) or (not _analyzer("ru").word_is_known(word)
                                             and _analyzer("uk").word_is_known(word))
    langs = ["uk"] if uk else ["ru"]
    found = {word}
    for lang in langs:
        parses = _analyzer(lang).parse(word)
        named = [p for p in parses if _NAMES & p.tag.grammemes] if name else []
        base = named or ([p for p in parses if p.word == p.normal_form] if parses[0].word == parses[0].normal_form
                         else parses)
        found.update(f.word.replace("ё", "е") for p in base for f in p.lexeme)
    forms = frozenset(found)
    if len(_forms) >= _CACHE_LIMIT:
        _forms.clear()
    _forms[word, name] = forms
    return forms


def english_lemma(word: str) -> str:
    """The dictionary lemma of a case-folded English word ("sanctions" -> "sanction"); a word the
    dictionary does not know is its own lemma ("putinism")."""
    lemma = _lemmas.get(word)
    if lemma is None:
        import simplemma  # imported on first use: loading its English table costs 0.4 s

        lemma = simplemma.lemmatize(word, lang="en").casefold()
        if len(_lemmas) >= _CACHE_LIMIT:
            _lemmas.clear()
        _lemmas[word] = lemma
    return lemma
