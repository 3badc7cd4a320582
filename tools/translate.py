"""Fill Italian translations from a JSON file of {msgid: msgstr}: `python tools/translate.py x.json`.

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
        if message.id and message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=76)
    missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    print("untranslated:", missing)


if __name__ == "__main__":
    main(sys.argv[1])
