"""Who a post says is calling the public out, and to what.

The impersonation rule needs more than a watched name and a "call" word somewhere in one
post: news says "Путин поддержал идею", "поезда следуют по 3 и 4 пути", "Трамп собирается
поговорить". A post attributes a mobilisation call to a watched person when, in one
sentence, the person (in the nominative: the subject) is the one who calls
("Сапаров призвал всех выйти на шествие", "Сапаров барлығын шеруге шығуға шақырды"), or
when the person is the speaker of an imperative to gather ("Сапаров: «Приходите…»",
"Сапаров: …жиналыңдар"); and the call is to gather, come out, march or join, with an
event, a place or a time in the post. A call not to go ("призвал не выходить"), a denied
or debunked one ("не призывал", "якобы", "фейк") and a diplomatic appeal ("призвал
Меркель разрешить проблемы") are not such calls.

Names match as whole words in any of their forms: Russian forms through pymorphy3's
dictionary and guesser (Путина, Сапаровым; not пути, not трамваи), Kazakh case endings
on the nominative (Сапаровқа, Сапаровтың), the English possessive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

# Kazakh case and possessive endings, longest first, put on a name's nominative.
KAZAKH_ENDINGS = tuple(sorted({
    "ның", "нің", "дың", "дің", "тың", "тің", "ға", "ге", "қа", "ке", "на", "не", "а", "е",
    "ны", "ні", "ды", "ді", "ты", "ті", "н", "да", "де", "та", "те", "нда", "нде", "дан", "ден",
    "тан", "тен", "нан", "нен", "мен", "бен", "пен", "ұлы", "ұлының",
}, key=len, reverse=True))

# The calling verbs (lemmas, Russian) and their Kazakh stems and English forms.
CALLING_LEMMAS = {"призвать", "призывать", "позвать", "звать", "пригласить", "приглашать", "агитировать",
                  "зазывать", "созывать", "созвать"}
CALLING_STEMS = ("шақыр", "үнде")
CALLING_WORDS = {"urged", "urges", "urging", "invited", "invites", "calls", "called", "calling"}

# What a mobilisation call asks for: to come out, gather, march, join (Russian lemmas), and
# the events it names.
MOBILISING_VERBS = {"выйти", "выходить", "прийти", "приходить", "собраться", "собираться", "присоединиться",
                    "присоединяться", "участвовать", "явиться", "подтянуться", "пойти", "прогуляться"}
EVENTS = {"шествие", "марш", "митинг", "акция", "пикет", "демонстрация", "протест", "забастовка", "полк",
          "участие", "сбор", "собрание", "флешмоб", "манифестация", "сход", "выступление"}
PLACES = {"площадь", "огонь", "памятник", "мемориал", "парк", "сквер", "монумент", "улица", "проспект",
          "аким", "акимат", "стела", "центр"}
KAZAKH_MOBILISING = re.compile(
    r"^(?:(?:шығ(?!ар)|жинал(?!ыс)|жиын|қатыс|қосыл|шеру|митинг|акция|полк|тағзым)\w*"
    # кел- and бар- begin other words too (келісім, барлық): only their forms of going.
    r"|(?:кел|бар)(?:у|уге|уға|іңдер|ыңдар|іңіздер|ыңыздар|ейік|айық))$")
KAZAKH_EVENTS = ("шеру", "митинг", "акция", "жиын", "тағзым")
KAZAKH_PLACES = ("алаң", "алау", "ескерткіш", "саябақ", "көше", "мемориал", "монумент")
ENGLISH_MOBILISING = {"join", "come", "gather", "march", "rally", "protest", "attend", "turn", "take"}
ENGLISH_EVENTS = {"march", "rally", "protest", "parade", "demonstration", "regiment", "square", "memorial"}
# Imperatives and "let us" forms a speaker calls with (Kazakh endings on the stems above).
KAZAKH_IMPERATIVE = re.compile(
    r"^(?:шығ|жинал|қатыс|қосыл|кел|бар|жүр)(?:ыңдар|іңдер|ыңыздар|іңіздер|ыңыз|іңіз|айық|ейік|йық|йік|"
    r"у(?:ға|ге)?)$")
KAZAKH_NEGATED = re.compile(r"^(?:шығ|шық|жинал|қатыс|қосыл|кел|бар|жүр)(?:ма|ме|ба|бе|па|пе)")
ENGLISH_IMPERATIVES = {"join", "come", "gather", "march", "rally"}
NEGATIONS = {"не", "ни", "нельзя", "not", "never", "don't", "no", "емес", "жоқ"}
# A call to vote, to be vaccinated or to give blood asks for no gathering.
CIVIC = ("выбор", "голосова", "референдум", "сайлау", "дауыс", "vote", "voting", "election", "вакцин",
         "привив", "донор")
# Words that report a call as false or alleged: the post is about the call, not making it.
DOUBTS = ("якобы", "фейк", "дипфейк", "опроверг", "поддельн", "подделк", "жалған", "fake", "deepfake",
          "denied", "denies", "allegedly")
SENTENCE_ENDS = {".", "!", "?", "…", "\n"}
SPEECH_MARKS = {":", "«", "\"", "“", "„", "—", "–"}
DATE_OR_TIME = re.compile(
    r"^\d{1,2}[:.]\d{2}$|^(?:января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|"
    r"декабря|қаңтар|ақпан|наурыз|сәуір|мамыр|маусым|шілде|тамыз|қыркүйек|қазан|қараша|желтоқсан|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"сағат|часов|утра|вечера|завтра|ертең|tomorrow|суббот|воскресен)")
# How far a speaker's name may stand from the colon or quote that opens their words, and how
# far into them the imperative may come; how far from its calling verb the call's object may
# stand (after it in Russian and English, before it in Kazakh), in tokens.
SPEAKER_GAP, SPEECH_LENGTH, CALL_REACH = 6, 40, 14


@cache
def _morph():
    import pymorphy3  # its dictionaries load once per process (about 15 MB, 0.1 s)

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def _parses(word: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """(lemma, grammemes) of each reading of a Cyrillic word; none for other words."""
    if not re.search("[а-яё]", word):
        return ()
    return tuple((parse.normal_form, frozenset(parse.tag.grammemes)) for parse in _morph().parse(word))


def lemmas(word: str) -> set[str]:
    return {lemma for lemma, _ in _parses(word)} or {word}


_PROPER = frozenset({"Surn", "Name", "Patr", "Geox", "Orgn", "Abbr"})


@dataclass(frozen=True)
class NameWord:
    """One word of a watched spelling and the lemmas its readings as a name have."""

    word: str
    name_lemmas: frozenset[str]

    @classmethod
    def of(cls, word: str) -> "NameWord":
        readings = _parses(word)
        proper = {lemma for lemma, grammemes in readings if grammemes & _PROPER}
        # The spelling itself is a lemma too: the dictionary may read an unknown surname as
        # some other name's form (Сапаров as the genitive plural of Сапар).
        return cls(word, frozenset((proper or {lemma for lemma, _ in readings}) | {word}))

    def matches(self, token: str) -> bool | None:
        """None if TOKEN is no form of this word; else whether it is the nominative."""
        if token == self.word:
            return True
        if token[:3] != self.word[:3]:
            return None
        if token.startswith(self.word) and token[len(self.word):] in KAZAKH_ENDINGS + ("s",):
            return False
        readings = [(lemma, grammemes) for lemma, grammemes in _parses(token)
                    if grammemes & _PROPER and lemma in self.name_lemmas]
        if readings:
            return any("nomn" in grammemes for _, grammemes in readings)
        return None


class PersonName:
    """Every spelling of a watched person, matched against a text's tokens."""

    def __init__(self, spellings: list[str]):
        words_of = [re.findall(r"[^\W_]+", spelling.casefold()) for spelling in spellings]
        self.spellings = [[NameWord.of(word) for word in words] for words in words_of if words]
        self.first_letters = {words[0].word[:3] for words in self.spellings}

    def mentions(self, tokens: list[str]) -> list[tuple[int, int, bool]]:
        """(start, end, nominative) of each mention in TOKENS."""
        found = []
        for start, token in enumerate(tokens):
            if token[:3] not in self.first_letters:
                continue
            for words in self.spellings:
                end = start + len(words)
                if end > len(tokens):
                    continue
                forms = [word.matches(seen) for word, seen in zip(words, tokens[start:end], strict=True)]
                if all(form is not None for form in forms):
                    found.append((start, end, forms[-1]))
                    break
        return found


def _negated(tokens: list[str], at: int) -> bool:
    return at > 0 and tokens[at - 1] in NEGATIONS


def _calling(token: str, extra: tuple[str, ...] = ()) -> int:
    """+1 for a calling verb whose object follows it (Russian, English), -1 for one whose
    object comes before it (Kazakh), 0 for any other word."""
    if token.startswith(CALLING_STEMS + extra):
        return -1 if token.startswith(CALLING_STEMS) else 1
    return 1 if token in CALLING_WORDS or lemmas(token) & CALLING_LEMMAS else 0


def _mobilising(token: str) -> bool | None:
    """True for a word of coming out or gathering (or an event to gather at); False for one
    negated in its own form (Kazakh: қатыспауға); None for any other word."""
    if KAZAKH_NEGATED.match(token):
        return False
    if KAZAKH_MOBILISING.match(token) or token in ENGLISH_MOBILISING:
        return True
    return True if lemmas(token) & (MOBILISING_VERBS | EVENTS) else None


def _is_imperative(token: str) -> bool:
    if KAZAKH_IMPERATIVE.match(token) or token in ENGLISH_IMPERATIVES:
        return True
    return any(lemma in MOBILISING_VERBS and ("impr" in grammemes or {"1per", "plur", "futr"} <= grammemes)
               for lemma, grammemes in _parses(token))


def _has_occasion(tokens: list[str]) -> bool:
    """An event, a place or a time: what makes a call a mobilisation, not an appeal."""
    for token in tokens:
        if DATE_OR_TIME.match(token) or token.startswith(KAZAKH_PLACES) or token in ENGLISH_EVENTS:
            return True
        if token.startswith(KAZAKH_EVENTS) or lemmas(token) & (EVENTS | PLACES):
            return True
    return False


def _sentences(tokens: list[str]) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for at, token in enumerate(tokens):
        if token in SENTENCE_ENDS:
            if at > start:
                bounds.append((start, at))
            start = at + 1
    if start < len(tokens):
        bounds.append((start, len(tokens)))
    return bounds


def attributes_call(tokens: list[str], name: PersonName, extra_calling: tuple[str, ...] = ()) -> bool:
    """Whether the text (its sentence_tokens) puts a mobilisation call in this person's mouth;
    EXTRA_CALLING: more stems of calling verbs (ALERT_CALL_TO_ACTION_WORDS)."""
    mentions = [mention for mention in name.mentions(tokens) if mention[2]]
    if not mentions or not _has_occasion(tokens):
        return False
    for start, end in _sentences(tokens):
        sentence = tokens[start:end]
        if any(token.startswith(DOUBTS + CIVIC) for token in sentence):
            continue
        if any(start <= mention[0] < end for mention in mentions) and _calls_out(sentence, extra_calling):
            return True
    return any(_speaks_call(tokens, end) for _, end, _ in mentions)


def _calls_out(sentence: list[str], extra_calling: tuple[str, ...]) -> bool:
    """A calling verb, not negated, whose object asks to come out or gather; none of the
    sentence's words of gathering negated ("призвал не выходить на шествие")."""
    mobilising = [_mobilising(token) for token in sentence]
    if False in mobilising or any(found and _negated(sentence, at) for at, found in enumerate(mobilising)):
        return False
    for at, token in enumerate(sentence):
        direction = _calling(token, extra_calling)
        if not direction or _negated(sentence, at):
            continue
        reach = range(at + 1, min(at + 1 + CALL_REACH, len(sentence))) if direction > 0 \
            else range(max(0, at - CALL_REACH), at)
        if any(mobilising[index] for index in reach):
            return True
    return False


def _speaks_call(tokens: list[str], after: int) -> bool:
    """The name is followed closely by a colon, a dash or a quote, and the words they open
    call on people to come (an imperative or "let us" form), not to stay away."""
    for at in range(after, min(after + SPEAKER_GAP, len(tokens))):
        if tokens[at] in SPEECH_MARKS:
            speech = tokens[at + 1: at + 1 + SPEECH_LENGTH]
            if any(token.startswith(DOUBTS + CIVIC) for token in speech):
                return False
            return any(_is_imperative(token) and not _negated(speech, index)
                       for index, token in enumerate(speech))
        if tokens[at] in SENTENCE_ENDS:
            return False
    return False
