import pytest

from monitor.language import detect_language
from monitor.normalize import clean_text, fingerprint, matching_text, readable_text

CLAIM = "Аким Алматы призвал всех жителей выйти 9 мая на шествие Бессмертного полка"


def test_reposts_that_differ_in_emoji_links_markup_and_case_share_a_fingerprint():
    variants = [
        CLAIM,
        f"⚡️**{CLAIM.upper()}**\n\n[](https://t.me/almaty_inside)",
        f"{CLAIM}!!! https://t.me/almaty_inside/1001 @almaty_inside",
        CLAIM.replace("Алматы", "Ал\u200bматы"),  # zero-width space inside a word
    ]
    assert len({fingerprint(text) for text in variants}) == 1


def test_different_claims_have_different_fingerprints():
    assert fingerprint(CLAIM) != fingerprint(CLAIM.replace("9 мая", "1 мая"))


def test_texts_too_short_to_tell_claims_apart_get_no_fingerprint():
    assert fingerprint("Срочно! Смотрите видео") is None
    assert fingerprint("🔥🔥🔥") is None


def test_links_in_any_case_and_mentions_do_not_count_for_matching_but_an_address_stays():
    assert matching_text(f"{CLAIM} HTTPS://T.ME/X/1 Www.Tengri.kz/a @Almaty_Inside") == matching_text(CLAIM)
    assert matching_text("пишите на info@tengri.kz") == "пишите на info tengri kz"


def test_readable_text_keeps_link_labels_and_drops_markup():
    assert readable_text("**Важно:** [читать](https://x.kz/a?b=1) далее") == "Важно: читать далее"


def test_readable_text_drops_every_form_of_link_even_one_glued_to_a_word_and_keeps_words_alike():
    text = "Смотрите:https://x.kz/a t.me/kanal/5 http://y.kz, Www.z.kz — what matters with twitter"
    assert readable_text(text) == "Смотрите: — what matters with twitter"


def test_readable_text_collapses_every_run_of_unicode_whitespace_into_one_space():
    spaced = " \t Аким\u2003Алматы\n\n\x1cпризвал\u3000выйти\u00a0 9 мая \r\n"
    assert readable_text(spaced) == "Аким Алматы призвал выйти 9 мая"


def test_matching_text_keeps_kazakh_letters_and_digits():
    assert matching_text("Өлмес полк — 9 мамыр!") == "өлмес полк 9 мамыр"


def test_clean_text_removes_only_what_a_database_cannot_store():
    assert clean_text("a\x00b") == "ab"
    assert clean_text("bad \ud800 surrogate") == "bad ? surrogate"
    assert clean_text("<script>alert(1)</script> ‮bidi") == "<script>alert(1)</script> ‮bidi"


def test_channel_signatures_asking_to_subscribe_do_not_count_for_matching():
    signed = f"{CLAIM}\n\n❤ [Подписаться](https://t.me/moscowtop) | [Прислать новость](https://t.me/bot)"
    assert matching_text(signed) == matching_text(CLAIM)
    assert fingerprint(f"{CLAIM}\n👉 Топор Live. Подписаться") == fingerprint(CLAIM)


@pytest.mark.parametrize("signature", [
    "📩 [Подпишитесь на «Контекст»](https://example.org/form) — рассылку, которая помогает понять новости",
    "Подписывайтесь на наш канал 👉 @channel",
    "Арнамызға жазылыңыз: t.me/channel",
    "Підписуйтесь на наш канал",
    "👉 Subscribe to our channel: t.me/channel",
    "Subscribe!",
])
def test_every_form_of_asking_to_subscribe_is_a_signature(signature):
    assert fingerprint(f"{CLAIM}\n{signature}") == fingerprint(CLAIM)


@pytest.mark.parametrize("line, word", [
    ("Мишустин поручил Минобороны подписать соглашение о военном сотрудничестве", "подписать"),
    ("Люди подписывали документы на получение кредита под высокий процент", "подписывали"),
    ("Бұл туралы министрліктің ресми парақшасында жазылған", "жазылған"),
    ("Президент підписав закон про мобілізацію", "підписав"),
    ("Netflix lost two hundred thousand subscribers in Kazakhstan", "subscribers"),
    ("Publish/Subscribe: одни горутины публикуют сообщения в канал", "subscribe"),
])
def test_news_of_signing_or_of_what_was_written_keeps_its_words(line, word):
    assert word in matching_text(line).split()
    assert fingerprint(f"{CLAIM}\n{line}") != fingerprint(CLAIM)


def test_html_markup_put_around_a_claim_does_not_count_for_matching():
    disguised = f'<script>window.x = 1</script><img src=x onerror="alert(1)"> <b>{CLAIM}</b><br/>'
    assert matching_text(disguised) == matching_text(CLAIM)
    assert matching_text("цена < 5 и > 3") == "цена 5 и 3"  # a lone angle bracket is no tag


def test_the_language_of_a_post_is_told_from_its_words_not_the_addresses_of_its_links():
    post = ("Bitcoin упал до $93.700 на [фоне](https://t.me/+XMYKyWqjoWM2YTU6) новости о военном "
            "положении в Корее. [@cryptoflash](https://t.me/+XMYKyWqjoWM2YTU6)")
    assert detect_language(post) == "ru"


def test_a_bracket_inside_a_link_label_ends_no_link_and_a_hostile_run_of_brackets_is_kept_as_text():
    assert readable_text("[a [b](https://x.kz) c") == "[a b c"  # the inner [b] is the label
    assert readable_text("[" * 5000 + "](https://x.kz)") == "[" * 4999  # the last one's label is empty


def test_script_blocks_go_up_to_their_closing_tag_and_unclosed_opening_tags_alone():
    assert matching_text(f"<script>x()</script>{CLAIM}<script>") == matching_text(CLAIM)
    assert matching_text(f"{CLAIM}<script>unclosed") == matching_text(f"{CLAIM} unclosed")
    assert matching_text("<script>" * 5000 + CLAIM) == matching_text(CLAIM)
    assert matching_text(f"</style>{'<style>' * 5000}{CLAIM}") == matching_text(CLAIM)
    assert matching_text(f"<STYLE>p {{}}</style >{CLAIM}<style>b {{}}</Style>") == matching_text(CLAIM)
