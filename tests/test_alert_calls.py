"""Which posts put a call to come out in a watched person's mouth: the impersonation rule's
reading of Russian, Kazakh and English sentences (monitor/alerts/calls.py)."""

import pytest

from monitor.alerts.calls import PersonName, attributes_call
from monitor.normalize import sentence_tokens

SAPAROV = PersonName(["Ерлан Сапаров", "Сапаров", "Saparov"])
TLEUBAYEVA = PersonName(["Айгерим Тлеубаева", "Тлеубаева"])
PUTIN, TRUMP, MERKEL = PersonName(["Путин"]), PersonName(["Трамп"]), PersonName(["Меркель"])
TOKAYEV = PersonName(["Токаев", "Тоқаев"])


@pytest.mark.parametrize("name, text", [
    (SAPAROV, "Журналист Ерлан Сапаров призвал всех выйти 9 мая в 10:00 к Вечному огню на шествие"),
    (SAPAROV, "Сапаров: «Приходите все 9 мая в 10:00 к Вечному огню!»"),
    (SAPAROV, "Сапаров в видео: присоединяйтесь к шествию 9 мая!"),
    (SAPAROV, "Ерлан Сапаров барлығын 9 мамыр күні сағат 10:00-де Мәңгілік алау басына шеруге шығуға "
              "шақырды"),
    (SAPAROV, "Сапаров: 9 мамырда сағат 10:00-де Мәңгілік алау басына жиналыңдар!"),
    (TLEUBAYEVA, "Айгерим Тлеубаева зовёт людей на митинг против тарифов: суббота, площадь Республики"),
    (TOKAYEV, "Тоқаев халықты 16 желтоқсанда Тәуелсіздік алаңындағы жиынға қатысуға үндеді."),
    (PersonName(["Saparov"]), "Saparov urged everyone to join the march on May 9 at 10:00"),
])
def test_a_call_to_come_out_is_attributed_to_the_person_who_makes_it(name, text):
    assert attributes_call(sentence_tokens(text), name)


@pytest.mark.parametrize("name, text", [
    (PUTIN, "Путин поддержал идею создания нового парка в Москве"),
    (PUTIN, "На выходных поезда следуют по 3 и 4 пути"),  # пути is no form of Путин
    (TRUMP, "Трамваи ходят по расписанию выходных"),
    (TRUMP, "Байден принимает Трампа в Белом доме, они собираются поговорить"),
    (PUTIN, "Армения заявила о выходе из ОДКБ — Путин"),
    (MERKEL, "Путин призвал Меркель скорее разрешить проблемы"),  # Меркель is called on, not calling
    (SAPAROV, "Сапаров призвал не выходить на шествие 9 мая"),
    (SAPAROV, "Сапаров не призывал выходить на шествие: видео оказалось дипфейком"),
    (SAPAROV, "Видео, на котором Сапаров якобы призывает выйти на шествие 9 мая, — фейк"),
    (SAPAROV, "Сапаров выступил против шествия 9 мая у Вечного огня"),
    (SAPAROV, "Сапаров тұрғындарды 9 мамырда жиынға қатыспауға шақырды."),
    (TLEUBAYEVA, "Тлеубаева выступила против митинга в субботу и призвала решать вопрос в диалоге."),
    (TLEUBAYEVA, "Тлеубаева: «Я никого не звала на площадь, не приходите на митинг, это провокация»."),
    (PersonName(["Собянин"]), "Собянин призвал москвичей прийти на выборы мэра 8 сентября."),
    (TOKAYEV, "Токаев призвал правительство ускорить строительство дорог в регионах."),
    (TOKAYEV, "Тоқаев Үкіметті шешімді 16 желтоқсанға дейін шығаруға шақырды."),  # to issue, not come out
    (TOKAYEV, "Тоқаев барлық әкімдерді 16 желтоқсандағы жиналысқа дайындалуға шақырды."),  # a session
])
def test_news_of_a_person_is_no_call_put_in_their_mouth(name, text):
    assert not attributes_call(sentence_tokens(text), name)


def test_names_match_in_their_russian_and_kazakh_forms_as_whole_words():
    tokens = sentence_tokens("Путина, Путину и Сапаровым; Сапаровқа, Сапаровтың. Пути, путём, Трамваи")
    assert [tokens[start] for start, _, _ in PersonName(["Путин"]).mentions(tokens)] == ["путина", "путину"]
    found = [tokens[start] for start, _, _ in SAPAROV.mentions(tokens)]
    assert found == ["сапаровым", "сапаровқа", "сапаровтың"]
    assert TRUMP.mentions(tokens) == []
