"""Channels' Markdown shown as such, and nothing else: raw HTML stays text, only http, https
and tg links are made, and a post cannot make itself a heading or a list."""

import pytest

from web.markdown import render_markdown


def test_bold_italic_strikethrough_code_and_links_are_rendered():
    html = render_markdown("**отметку в 111 рублей** __да__ *нет* ~~было~~ `код` [Подписаться](https://t.me/channel)")
    assert "<strong>отметку в 111 рублей</strong>" in html
    assert "<strong>да</strong>" in html and "<em>нет</em>" in html
    assert "<s>было</s>" in html and "<code>код</code>" in html
    link = '<a href="https://t.me/channel" rel="noopener noreferrer nofollow" target="_blank">'
    assert link + "Подписаться</a>" in html


@pytest.mark.parametrize("link", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>",
                                  "vbscript:x", "/relative/path", "file:///etc/passwd"])
def test_a_link_to_anything_but_the_web_or_telegram_stays_plain_text(link):
    html = render_markdown(f"[click]({link})")
    assert "<a" not in html and "href" not in html


def test_tg_links_are_made():
    assert 'href="tg://resolve?domain=channel"' in render_markdown("[open](tg://resolve?domain=channel)")


def test_raw_html_is_escaped_and_blocks_are_not_made():
    html = render_markdown("<script>alert(1)</script><img src=x onerror=alert(1)>\n"
                           "# Заголовок\n- пункт\n> цитата")
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert "<h1" not in html and "<li" not in html and "<blockquote" not in html
    assert "# Заголовок" in html and "- пункт" in html


def test_an_empty_or_missing_text_renders_as_nothing():
    assert render_markdown("") == "" and render_markdown(None) == ""
