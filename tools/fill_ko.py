"""Developer helper: merge Korean translations from a JSON file {msgid: msgstr} into translations/ko.

Usage: python tools/fill_ko.py new-strings.json   (then `portal translate compile`)
Only empty or fuzzy entries are filled; existing translations are kept unless --force is given.
"""

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "translations" / "ko" / "LC_MESSAGES" / "messages.po"


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def main() -> None:
    pairs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    force = "--force" in sys.argv
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="ko")
    filled = 0
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id  # plurals: keyed by the singular
        if key in pairs and (force or not _translated(message) or message.fuzzy):
            # Korean has one plural form: a plural entry takes the same sentence.
            message.string = (pairs[key],) if isinstance(message.id, tuple) else pairs[key]
            message.flags.discard("fuzzy")
            filled += 1
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=0)
    left = [m.id for m in catalog if m.id and not _translated(m)]
    print(f"filled {filled}; still untranslated: {len(left)}")
    for msgid in left:
        print("  ", json.dumps(msgid, ensure_ascii=False))


if __name__ == "__main__":
    main()
