"""Fill Italian translations from a JSON file of {msgid: msgstr}: `python tools/translate.py x.json`.

For a plural entry the key is the singular msgid and the value a list of the plural forms.

Keeps the catalogue's formatting (Babel's own reader and writer) and clears fuzzy flags of
the entries it fills. Prints what is still untranslated.
"""
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "marketplace/translations/it/LC_MESSAGES/messages.po"


def main(path: str) -> None:
    translations = json.loads(Path(path).read_text(encoding="utf-8"))
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        key = message.id[0] if message.pluralizable else message.id
        if key and key in translations:
            value = translations[key]
            if message.pluralizable:
                if not isinstance(value, list) or len(value) != catalog.num_plurals:
                    raise SystemExit(f"{key!r}: expected a list of {catalog.num_plurals} forms")
                value = tuple(value)
            elif not isinstance(value, str):
                raise SystemExit(f"{key!r}: expected a string")
            message.string = value
            message.flags.discard("fuzzy")
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=76)
    missing = [m.id for m in catalog if m.id and (m.fuzzy or not m.string
                                                  or (isinstance(m.string, tuple) and not all(m.string)))]
    print("untranslated:", missing)


if __name__ == "__main__":
    main(sys.argv[1])
