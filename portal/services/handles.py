"""Channel and account handles and links: one normal form for each, and finding them in free text.

The same Telegram channel reaches a school written as `https://t.me/SomeChannel/`, `telegram.me/somechannel` or
`@SomeChannel`; the takedown tracker (and later the district signal) must see one channel, not three. Telegram,
Instagram and X names ignore case, so their paths are lower-cased; other sites' paths keep their case (Discord and
KakaoTalk invite codes are case-sensitive), and every host is lower-cased without `www.`. Queries and fragments
are dropped: they name a view of the page, not the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PLATFORMS = ("telegram", "kakaotalk", "instagram", "discord", "x", "other")
TELEGRAM_HOSTS = ("t.me", "telegram.me", "telegram.dog")
# Hosts whose names ignore case, and the platform and normal host of each.
NAME_HOSTS = {
    **{host: ("telegram", "t.me") for host in TELEGRAM_HOSTS},
    "instagram.com": ("instagram", "instagram.com"), "instagr.am": ("instagram", "instagram.com"),
    "x.com": ("x", "x.com"), "twitter.com": ("x", "x.com"), "mobile.twitter.com": ("x", "x.com"),
    "mobile.x.com": ("x", "x.com"),
}
CODE_HOSTS = {
    "discord.gg": ("discord", "discord.gg"), "discord.com": ("discord", "discord.com"),
    "discordapp.com": ("discord", "discord.com"),
    "open.kakao.com": ("kakaotalk", "open.kakao.com"), "pf.kakao.com": ("kakaotalk", "pf.kakao.com"),
}
MAX_LENGTH = 2000

# A bare handle: Telegram's rules (5 to 32 letters, digits and "_", a letter first) loosened to 3 characters so
# that short Instagram or X names are found too; not part of an e-mail address. The edges are ASCII-only because
# Korean is written straight after a name ("@채널" no, "@somechannel에서" yes).
_HANDLE = r"(?<![A-Za-z0-9_@.])@([A-Za-z][A-Za-z0-9_]{2,31})(?![A-Za-z0-9_@]|\.[A-Za-z0-9])"
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_KNOWN_HOSTS = "|".join(re.escape(host) for host in sorted({*NAME_HOSTS, *CODE_HOSTS}, key=len, reverse=True))
_URL = (rf"(?:https?://{_URL_CHARS}+"  # anything with a scheme
        rf"|(?<![A-Za-z0-9_.@/])(?:www\.)?(?:{_KNOWN_HOSTS})/{_URL_CHARS}+"  # a known site without one
        rf"|(?<![A-Za-z0-9_.@/])www\.{_URL_CHARS}+)")  # any site written with www.
_FINDER = re.compile(rf"{_URL}|{_HANDLE}", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\"" + "。、"


@dataclass(frozen=True)
class Found:
    """One link or handle: its normal form and a guess at its platform."""

    normal: str
    platform: str


def _split(value: str) -> tuple[str, str]:
    """The host (lower case, without `www.` and port) and the path (without query, fragment and slashes at the
    ends) of a link written with or without a scheme."""
    if not re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        value = "//" + value
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "", ""
    if parts.username is not None:
        return "", ""  # name@school.kr is an e-mail address
    host = host.removeprefix("www.")
    return host, parts.path.strip("/")


def parse(value: str | None) -> Found | None:
    """The normal form and platform of one link or handle as a person wrote it; None when it is neither."""
    value = (value or "").strip()[:MAX_LENGTH]
    if re.search(r"\s", value):
        if not value.startswith("@") and "/" not in value:
            return None  # words, not a link
        value = re.sub(r"\s+", "", value)  # "t.me/ somechannel", "@ somechannel": a link has no spaces
    if not value:
        return None
    handle = re.fullmatch(r"@?([A-Za-z][A-Za-z0-9_]{0,63})", value)
    if handle:
        # A bare name or @name: in the cases the portal sees, almost always a Telegram channel or account.
        return Found(f"t.me/{handle.group(1).lower()}", "telegram")
    host, path = _split(value)
    if not host or "." not in host:
        return None
    if host in NAME_HOSTS or host in CODE_HOSTS:
        if not path:
            return None  # the site itself names no channel or account
    if host in NAME_HOSTS:
        platform, host = NAME_HOSTS[host]
        path = path.lower()
        if platform == "telegram":
            path = _telegram_path(value, path)
    elif host in CODE_HOSTS:
        platform, host = CODE_HOSTS[host]
    else:
        platform = "other"
    return Found(f"{host}/{path}" if path else host, platform)


def _telegram_path(value: str, path: str) -> str:
    """A Telegram path: the web preview `s/` dropped; an invite code (`+code`, `joinchat/code`) keeps its case."""
    path = path.removeprefix("s/")
    if path.startswith(("+", "joinchat/")):
        return _split(value)[1].removeprefix("s/")
    return path


def normalise(value: str | None) -> str | None:
    """The one normal form of a link or handle (`https://t.me/SomeChannel/` and `@somechannel` both give
    `t.me/somechannel`); None when the text is neither."""
    found = parse(value)
    return found.normal if found else None


def find(text: str | None) -> list[Found]:
    """Every link and @handle in free text, once each, in the order first written."""
    seen: dict[str, Found] = {}
    for match in _FINDER.finditer(text or ""):
        written = match.group(0).rstrip(_TRAILING)
        found = parse(written)
        if found and found.normal not in seen:
            seen[found.normal] = found
    return list(seen.values())
