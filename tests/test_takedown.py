"""The takedown tracker: one normal form per channel, links found in the report and the log, confirmed items with
their statuses in the chronology, and none of it outside the encrypted columns."""

from __future__ import annotations

import pytest

from portal.services import handles


@pytest.mark.parametrize("written", [
    "https://t.me/SomeChannel/", "t.me/somechannel", "@SomeChannel", "telegram.me/somechannel",
    " https://www.t.me/somechannel ", "HTTP://T.ME/SOMECHANNEL", "t.me/s/SomeChannel", "somechannel",
    "https://telegram.dog/somechannel?start=1", "t.me/ somechannel", "@ SomeChannel", "t.me/somechannel//",
])
def test_every_way_of_writing_a_telegram_channel_gives_one_normal_form(written):
    assert handles.parse(written) == handles.Found("t.me/somechannel", "telegram")


@pytest.mark.parametrize(("written", "normal", "platform"), [
    ("https://www.Instagram.com/Some.User/?igsh=abc", "instagram.com/some.user", "instagram"),
    ("https://twitter.com/SomeUser#top", "x.com/someuser", "x"),
    ("x.com/SomeUser/", "x.com/someuser", "x"),
    ("https://discord.gg/AbCdEf", "discord.gg/AbCdEf", "discord"),  # invite codes keep their case
    ("https://open.kakao.com/o/gAbCdEf", "open.kakao.com/o/gAbCdEf", "kakaotalk"),
    ("https://t.me/+AbCdEf", "t.me/+AbCdEf", "telegram"),
    ("http://Example.COM/Some/Path/?q=1#frag", "example.com/Some/Path", "other"),
    ("www.example.com", "example.com", "other"),
])
def test_other_platforms_keep_host_and_path(written, normal, platform):
    assert handles.parse(written) == handles.Found(normal, platform)


@pytest.mark.parametrize("written", ["", "   ", "two words", "name@school.kr", "t.me", "https://", "@", "://x"])
def test_what_is_not_a_link_or_handle_is_refused(written):
    assert handles.normalise(written) is None


def test_links_and_handles_are_found_in_free_text_once_each():
    text = ("채널 https://t.me/SomeChannel/, 그리고 @SomeChannel이 올렸어요. t.me/other_room에서도 봤어요. "
            "담임 메일 kim@school.kr. (instagram.com/bad_user) 그리고 https://open.kakao.com/o/gAbC.")
    assert handles.find(text) == [
        handles.Found("t.me/somechannel", "telegram"), handles.Found("t.me/other_room", "telegram"),
        handles.Found("instagram.com/bad_user", "instagram"), handles.Found("open.kakao.com/o/gAbC", "kakaotalk"),
    ]
    assert handles.find(None) == [] and handles.find("nothing here @ all") == []
