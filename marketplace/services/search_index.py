"""Italian full-text search terms, the same way PostgreSQL's 'italian' configuration
makes them (Snowball stemmer + stop words), so SQLite finds what PostgreSQL finds."""
from __future__ import annotations

import functools
import re

import snowballstemmer

# PostgreSQL's italian.stop list (the Snowball one), most frequent part.
STOP_WORDS = frozenset("""
a ad al allo ai agli all agl alla alle con col coi da dal dallo dai dagli dall dagl dalla
dalle di del dello dei degli dell degl della delle in nel nello nei negli nell negl nella
nelle su sul sullo sui sugli sull sugl sulla sulle per tra contro io tu lui lei noi voi
loro mio mia miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro
vostra vostri vostre mi ti ci vi lo la li le gli ne il un uno una ma ed se perché anche
come dov dove che chi cui non più quale quanto quanti quanta quante quello quelli quella
quelle questo questi questa queste si tutto tutti e è o ho hai ha abbiamo avete hanno
sono sei siamo siete era erano essere fare stato
""".split())

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)


@functools.lru_cache(maxsize=1)
def _stemmer():
    return snowballstemmer.stemmer("italian")


def terms(text: str) -> list[str]:
    """Stemmed, lower-cased words of ``text`` without stop words, in order."""
    words = [w for w in _WORD.findall((text or "").lower()) if w not in STOP_WORDS]
    return _stemmer().stemWords(words)


def index_text(*parts: str) -> str:
    """The stored form: each distinct stem once, space-separated with spaces around."""
    seen: dict[str, None] = {}
    for part in parts:
        for term in terms(part):
            seen.setdefault(term, None)
    return " " + " ".join(seen) + " " if seen else ""
