"""Korean inside a page in another language is marked lang="ko" (WCAG 3.1.2), and nothing else changes."""

from __future__ import annotations

from flask import render_template_string

from portal.i18n import mark_korean
from portal.services.content import render_markdown

EN = {"Accept-Language": "en"}
KO = {"Accept-Language": "ko"}


def test_mark_korean_wraps_runs_of_korean_text_only():
    assert mark_korean("Hello, 교육지원청 관리자 (x)", "en") == 'Hello, <span lang="ko">교육지원청 관리자</span> (x)'
    assert mark_korean("columns (학급, 번호, 이름) work", "en") == (
        'columns (<span lang="ko">학급, 번호, 이름</span>) work')
    assert mark_korean('<a href="https://x.kr">경찰</a> 112', "en") == (
        '<a href="https://x.kr"><span lang="ko">경찰</span></a> 112')
    assert mark_korean("경찰 112", "ko") == "경찰 112"
    assert mark_korean("no Korean here", "en") == "no Korean here"


def test_markdown_of_a_lesson_in_english_marks_its_korean_terms():
    html = str(render_markdown("Children aged 10 to 13 are **촉법소년**.", "en"))
    assert '<strong><span lang="ko">촉법소년</span></strong>' in html
    assert "lang=" not in str(render_markdown("**촉법소년**은 형사처벌을 받지 않아요.", "ko"))


def test_inline_lang_filter_escapes_and_marks_by_page_language(app):
    template = "{{ name|inline_lang }} | {{ _('Hello, %(name)s', name=name|inline_lang) }} | {{ lang_attrs(name) }}"
    with app.test_request_context(headers=EN):
        marked = '&lt;<span lang="ko">김서연</span>&gt;'
        assert render_template_string(template, name="<김서연>") == (
            f"{marked} | Hello, {marked} | {{&#39;lang&#39;: &#39;ko&#39;}}")
    with app.test_request_context(headers=KO):
        assert render_template_string("{{ name|inline_lang }}", name="<김서연>") == "&lt;김서연&gt;"
