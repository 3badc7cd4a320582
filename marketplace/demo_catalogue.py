"""Demo catalogue for `flask seed-demo`: municipalities, sub-categories and services.

The services are generated from a few dozen hand-written base services (``TEMPLATES``),
combined with each territory's municipalities and cooperatives, plus some territory-only
entries (``SPECIALS``, mostly culture). Everything is deterministic, so two runs build the
same catalogue; a territory that already has services is left alone.

Names, e-mail addresses and phone numbers are fictional; the municipalities are real
(coordinates and population approximate).
"""
from __future__ import annotations

import math
import re
import unicodedata
import zlib

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Category, Cooperative, Municipality, Service, Territory, User
from marketplace.services import catalogue

# ---------------------------------------------------------------------------- places

# (name, ISTAT code or "", latitude, longitude, population, postal code)
MUNICIPALITIES = {
    "cremona": [
        ("Cremona", "019036", 45.1333, 10.0244, 71000, "26100"),
        ("Crema", "019035", 45.3628, 9.6875, 34000, "26013"),
        ("Casalmaggiore", "", 44.9864, 10.4154, 15200, "26041"),
        ("Castelleone", "", 45.2938, 9.7643, 9300, "26012"),
        ("Pandino", "", 45.4071, 9.5535, 8900, "26025"),
        ("Soresina", "", 45.2865, 9.8570, 8800, "26015"),
        ("Rivolta d'Adda", "", 45.4707, 9.5126, 8000, "26027"),
        ("Soncino", "", 45.3990, 9.8744, 7600, "26029"),
        ("Spino d'Adda", "", 45.3989, 9.4923, 7100, "26016"),
        ("Pizzighettone", "", 45.1891, 9.7899, 6400, "26026"),
        ("Offanengo", "", 45.3789, 9.7424, 6000, "26010"),
        ("Vailate", "", 45.4633, 9.6028, 4500, "26019"),
        ("Casalbuttano ed Uniti", "", 45.2456, 9.9739, 4000, "26011"),
        ("Vescovato", "", 45.1751, 10.1646, 3900, "26039"),
        ("Piadena Drizzona", "", 45.1358, 10.3581, 3800, "26034"),
        ("Sergnano", "", 45.4289, 9.7017, 3600, "26010"),
        ("Sospiro", "", 45.1086, 10.1577, 3100, "26048"),
        ("Gussola", "", 45.0113, 10.3501, 2700, "26040"),
    ],
    "milano": [
        ("Milano", "015146", 45.4668, 9.1905, 1371000, "20121"),
        ("Sesto San Giovanni", "", 45.5357, 9.2377, 79000, "20099"),
        ("Cinisello Balsamo", "", 45.5561, 9.2143, 74500, "20092"),
        ("Legnano", "", 45.5947, 8.9184, 60000, "20025"),
        ("Rho", "", 45.5285, 9.0402, 50500, "20017"),
        ("Paderno Dugnano", "", 45.5719, 9.1681, 47000, "20037"),
        ("Cologno Monzese", "", 45.5286, 9.2782, 46500, "20093"),
        ("Rozzano", "", 45.3832, 9.1541, 41500, "20089"),
        ("San Giuliano Milanese", "", 45.3943, 9.2919, 38500, "20098"),
        ("Segrate", "", 45.4907, 9.2948, 36500, "20054"),
        ("Pioltello", "", 45.5010, 9.3263, 36500, "20096"),
        ("Bollate", "", 45.5438, 9.1177, 35500, "20021"),
        ("Corsico", "", 45.4307, 9.1102, 34500, "20094"),
        ("Cernusco sul Naviglio", "", 45.5246, 9.3309, 34000, "20063"),
        ("San Donato Milanese", "", 45.4181, 9.2716, 32000, "20097"),
        ("Abbiategrasso", "", 45.3987, 8.9162, 32000, "20081"),
        ("Bresso", "", 45.5367, 9.1877, 26000, "20091"),
        ("Magenta", "", 45.4654, 8.8838, 24000, "20013"),
        ("Melzo", "", 45.4986, 9.4243, 18500, "20066"),
        ("Opera", "", 45.3731, 9.2111, 14000, "20073"),
    ],
    "sondrio": [
        ("Sondrio", "014061", 46.1699, 9.8719, 21300, "23100"),
        ("Morbegno", "", 46.1324, 9.5695, 12400, "23017"),
        ("Tirano", "", 46.2157, 10.1732, 8900, "23037"),
        ("Chiavenna", "", 46.3200, 9.3981, 7200, "23022"),
        ("Livigno", "", 46.5378, 10.1363, 6900, "23041"),
        ("Cosio Valtellino", "", 46.1337, 9.5292, 5400, "23013"),
        ("Talamona", "", 46.1385, 9.6129, 4800, "23018"),
        ("Teglio", "", 46.1727, 10.0641, 4500, "23036"),
        ("Grosio", "", 46.2989, 10.2745, 4400, "23033"),
        ("Berbenno di Valtellina", "", 46.1689, 9.7424, 4200, "23010"),
        ("Bormio", "", 46.4692, 10.3722, 4100, "23032"),
        ("Sondalo", "", 46.3314, 10.3249, 4000, "23035"),
        ("Valdisotto", "", 46.4252, 10.3574, 3500, "23030"),
        ("Delebio", "", 46.1361, 9.4606, 3200, "23014"),
        ("Albosaggia", "", 46.1472, 9.8532, 3100, "23010"),
        ("Villa di Tirano", "", 46.2039, 10.1339, 2900, "23030"),
        ("Traona", "", 46.1496, 9.5258, 2600, "23019"),
        ("Chiesa in Valmalenco", "", 46.2651, 9.8486, 2400, "23023"),
        ("Ponte in Valtellina", "", 46.1750, 9.9779, 2200, "23026"),
        ("Novate Mezzola", "", 46.2216, 9.4498, 1800, "23025"),
    ],
}
PROVINCES = {"cremona": "CR", "milano": "MI", "sondrio": "SO"}

# Streets used for generated addresses: (street, postal code or "", lat or None, lon or None).
GENERIC_STREETS = [
    "Via Roma", "Via Giuseppe Garibaldi", "Via Giuseppe Mazzini", "Via Dante Alighieri",
    "Via Alessandro Manzoni", "Piazza della Libertà", "Via XX Settembre", "Via Cavour",
    "Via Giacomo Matteotti", "Via Giuseppe Verdi", "Via San Francesco", "Via IV Novembre",
    "Via Vittorio Veneto", "Viale della Repubblica", "Via Papa Giovanni XXIII", "Via Don Milani",
    "Via dei Mille", "Via Aldo Moro", "Via Sandro Pertini", "Via Antonio Gramsci",
]
TOWN_STREETS = {
    "Cremona": ["Via Massarotti", "Corso Garibaldi", "Via Brescia", "Via Bergamo", "Via Giordano",
                "Via Mantova", "Corso Matteotti", "Via Palestro", "Via Decia", "Viale Trento e Trieste"],
    "Crema": ["Via Mercato", "Via Bacchetta", "Via Cremona", "Via Libero Comune", "Viale Santa Maria"],
    "Sondrio": ["Via Mazzini", "Via Bonfadini", "Viale Milano", "Via Lungo Mallero Cadorna",
                "Via Nazario Sauro", "Via Aldo Moro", "Via Vanoni"],
    "Tirano": ["Viale Italia", "Via Roma", "Piazza Basilica", "Via Polveriera"],
    "Morbegno": ["Via Ezio Vanoni", "Via Stelvio", "Corso Vittorio Emanuele", "Via San Marco"],
}
MILANO_STREETS = [
    ("Via Padova", "20127", 45.4970, 9.2260), ("Viale Monza", "20127", 45.5005, 9.2235),
    ("Via Giambellino", "20146", 45.4505, 9.1440), ("Via Ripamonti", "20141", 45.4380, 9.2000),
    ("Via Ornato", "20162", 45.5150, 9.1965), ("Via Lorenteggio", "20146", 45.4530, 9.1380),
    ("Via Tibaldi", "20136", 45.4460, 9.1800), ("Via Gallarate", "20151", 45.4960, 9.1250),
    ("Via dei Cinquecento", "20139", 45.4345, 9.2310), ("Via Novara", "20147", 45.4700, 9.1070),
    ("Via Console Marcello", "20156", 45.4980, 9.1560), ("Via Val di Sole", "20141", 45.4260, 9.2000),
]

# Where generated at-location services go, in turn: bigger towns come up more often.
ROTATION = {
    "cremona": ["Cremona", "Crema", "Casalmaggiore", "Cremona", "Soresina", "Castelleone", "Crema",
                "Pizzighettone", "Cremona", "Rivolta d'Adda", "Pandino", "Soncino", "Crema",
                "Casalbuttano ed Uniti", "Cremona", "Offanengo", "Vescovato", "Piadena Drizzona",
                "Spino d'Adda", "Casalmaggiore", "Vailate", "Sospiro", "Sergnano", "Gussola"],
    "milano": ["Milano", "Sesto San Giovanni", "Milano", "Cinisello Balsamo", "Rho", "Milano",
               "Legnano", "San Donato Milanese", "Milano", "Cologno Monzese", "Paderno Dugnano",
               "Rozzano", "Milano", "Corsico", "Abbiategrasso", "Bollate", "Segrate", "Milano",
               "Cernusco sul Naviglio", "San Giuliano Milanese", "Pioltello", "Magenta", "Bresso",
               "Melzo", "Opera"],
    "sondrio": ["Sondrio", "Morbegno", "Tirano", "Sondrio", "Chiavenna", "Livigno", "Bormio",
                "Sondrio", "Talamona", "Cosio Valtellino", "Teglio", "Morbegno", "Grosio", "Sondalo",
                "Berbenno di Valtellina", "Tirano", "Delebio", "Albosaggia", "Chiavenna",
                "Villa di Tirano", "Valdisotto", "Traona", "Chiesa in Valmalenco",
                "Ponte in Valtellina", "Novate Mezzola"],
}

TERRITORY_TEXT = {
    "cremona": {"area": "del Cremonese", "prefix": "0372", "price": 1.0},
    "milano": {"area": "dell'area metropolitana milanese", "prefix": "02", "price": 1.2},
    "sondrio": {"area": "della Valtellina", "prefix": "0342", "price": 0.95},
}

# Which of the territory's three cooperatives (by position in demo.TERRITORIES) gives
# which kind of service; instances of a template take turns in the list.
FOCUS = {
    "cremona": {"childcare": [0, 1], "elderly": [2, 1], "disability": [1, 2, 0],
                "culture": [0], "other": [2, 0]},
    "milano": {"childcare": [1], "elderly": [2], "disability": [1, 2],
               "culture": [0], "other": [2, 1]},
    "sondrio": {"childcare": [0, 2], "elderly": [1, 0], "disability": [2, 1],
                "culture": [1, 2], "other": [0, 1]},
}

# ---------------------------------------------------------------------------- categories

CATEGORIES = {
    "childcare": [("Nido d'infanzia", "Nursery (0-3 years)"), ("Centro estivo", "Summer camp"),
                  ("Babysitting", "Babysitting"), ("Doposcuola", "After-school club")],
    "elderly": [("Assistenza domiciliare", "Home care"), ("Centro diurno", "Day centre"),
                ("Compagnia e telefonia sociale", "Companionship and phone support"),
                ("Pasti a domicilio", "Meals on wheels")],
    "disability": [("Trasporto", "Transport"), ("Assistenza scolastica", "Support at school"),
                   ("Sollievo per le famiglie", "Respite for families"),
                   ("Centro socio-educativo", "Social and educational day centre")],
    "culture": [("Visite guidate", "Guided tours"), ("Laboratori", "Workshops"), ("Eventi", "Events")],
    "other": [("Sportello", "Help desk"), ("Consulenza", "Counselling")],
}

# ---------------------------------------------------------------------------- prices


def _bands(*rows):
    """ISEE bands from (upper limit in euro or None, price in euro)."""
    bands = []
    previous = None
    for limit, price in rows:
        if limit is None:
            label = f"ISEE oltre {_euro(previous)} € o non presentato"
        elif previous is None:
            label = f"ISEE fino a {_euro(limit)} €"
        else:
            label = f"ISEE da {_euro(previous)} a {_euro(limit)} €"
        bands.append({"label": label, "isee_max_cents": None if limit is None else limit * 100,
                      "price_cents": int(round(price * 100))})
        previous = limit
    return bands


def _euro(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def free():
    return {"model": "free"}


def fixed(euro):
    return {"model": "fixed", "cents": int(round(euro * 100))}


def per_hour(euro):
    return {"model": "per_hour", "cents": int(round(euro * 100))}


def per_session(euro):
    return {"model": "per_session", "cents": int(round(euro * 100))}


def income(*rows):
    return {"model": "income_based", "bands": _bands(*rows)}


# ---------------------------------------------------------------------------- base services
#
# Text fields are str.format templates: {town} (where the service is given), {name} (the
# instance's name, from ``names``), {area} (e.g. "del Cremonese"), {coop}, {extra} (one of
# ``extras``). ``count``: how many published instances each territory gets. ``price`` may be
# a list: instance k uses price[k % len]. ``locations``: one name pattern per address (the
# second one goes to another town); ``home``: how many neighbouring municipalities home
# visits cover. Instances take the next town of the territory's ROTATION.

CHILDCARE = [
    dict(
        key="nido", vertical="childcare", category="Nido d'infanzia", count=3,
        title="Nido d'infanzia {name}",
        names=["Il Girotondo", "Piccoli Passi", "Il Melograno", "Arcobaleno", "La Coccinella",
               "Bolle di Sapone", "Nuvola Blu"],
        summary="Nido per bambine e bambini da 3 a 36 mesi a {town}: tempo pieno o part-time, "
                "cucina interna e giardino.",
        description=(
            "Il nido {name} accoglie i bambini in tre gruppi per età (lattanti, semi-divezzi e "
            "divezzi), con educatrici qualificate e una coordinatrice pedagogica.\n\n"
            "L'inserimento è graduale e concordato con la famiglia, di solito in due settimane. "
            "I pasti sono preparati ogni giorno nella cucina interna, con menù validato da ATS e "
            "diete speciali su certificato medico.\n\n{extra}"
        ),
        extras=[
            "Il giardino attrezzato si usa in ogni stagione: crediamo nell'educazione all'aperto.",
            "Una sera al mese i genitori possono incontrare la pedagogista per parlare di sonno, "
            "alimentazione e regole.",
            "I bambini più grandi curano con le educatrici un piccolo orto didattico.",
        ],
        target_group="Bambine e bambini da 3 a 36 mesi", age=(0, 3),
        eligibility="Bambini residenti o domiciliati nel territorio {area}. In caso di liste "
                    "d'attesa hanno la precedenza le famiglie in cui lavorano entrambi i genitori "
                    "e le situazioni segnalate dai servizi sociali.",
        documents="Domanda di iscrizione; attestazione ISEE in corso di validità per la retta "
                  "ridotta; certificato delle vaccinazioni obbligatorie.",
        modes="at_location",
        schedule=["Lunedì-venerdì 7:30-16:30 (tempo pieno); part-time 7:30-13:00",
                  "Lunedì-venerdì 7:30-18:00, da settembre a luglio",
                  "Lunedì-venerdì 8:00-16:00; prolungamento fino alle 18:00 su richiesta"],
        languages=["it", "it,en", "it,ro", "it,ar"],
        accessibility="Struttura su un solo piano, senza barriere architettoniche; bagno accessibile "
                      "e parcheggio riservato davanti all'ingresso.",
        wheelchair=True,
        price=income((8000, 160), (18000, 320), (30000, 450), (None, 580)),
        voucher=True, welfare=True, locations=["Nido {name}"],
    ),
    dict(
        key="primavera", vertical="childcare", category="Nido d'infanzia", count=1,
        title="Sezione primavera {name}",
        names=["Primi Passi", "Stella Stellina", "Il Trenino"],
        summary="Un anno ponte tra nido e scuola dell'infanzia per i bambini dai 24 ai 36 mesi.",
        description=(
            "La sezione primavera {name} accoglie un piccolo gruppo di bambini, al massimo venti, "
            "nell'anno che precede la scuola dell'infanzia.\n\n"
            "La giornata alterna gioco libero, musica, manipolazione e uscite in cortile; il "
            "pranzo è servito alle 11:45 e il riposo è nella stanza della nanna.\n\n"
            "Quota: retta mensile fissa, pranzo e merenda compresi."
        ),
        target_group="Bambine e bambini dai 24 ai 36 mesi", age=(2, 3),
        eligibility="Bambini che compiono due anni entro il 31 dicembre dell'anno scolastico.",
        documents="Domanda di iscrizione; certificato delle vaccinazioni obbligatorie.",
        modes="at_location", schedule=["Lunedì-venerdì 8:30-15:30, da settembre a giugno"],
        languages=["it", "it,en"],
        accessibility="Ingresso con rampa; bagni attrezzati al piano terra.", wheelchair=True,
        price=fixed(340), voucher=True, welfare=True, locations=["Sezione primavera {name}"],
    ),
    dict(
        key="spazio_gioco", vertical="childcare", category="Nido d'infanzia", count=1,
        title="Spazio gioco {name} per bambini e genitori",
        names=["Tana Libera Tutti", "Il Cerchio Magico", "Casa dei Bimbi"],
        summary="Mattine di gioco per bambini fino a 3 anni insieme a un genitore, a un nonno o a "
                "chi se ne prende cura. Gratuito.",
        description=(
            "Uno spazio accogliente dove i più piccoli giocano con altri bambini e gli adulti "
            "scambiano esperienze, con un'educatrice sempre presente.\n\n"
            "Non serve prenotare: basta passare. Il servizio è gratuito grazie al contributo del "
            "Comune di {town}."
        ),
        target_group="Bambini da 0 a 3 anni con un adulto di riferimento", age=(0, 3),
        eligibility="Aperto a tutti, anche a chi non risiede a {town}.",
        documents="Nessuno: alla prima visita si compila una breve scheda.",
        modes="at_location",
        schedule=["Martedì e giovedì 9:30-11:30; sabato 10:00-12:00"],
        languages=["it,en,ar", "it,uk,ro"],
        accessibility="Locali al piano terra, spazio per i passeggini.", wheelchair=True,
        price=free(), voucher=False, welfare=False, locations=["Spazio gioco {name}"],
    ),
    dict(
        key="centro_estivo", vertical="childcare", category="Centro estivo", count=2,
        title="Centro estivo {name}",
        names=["Estate Ragazzi", "Sole e Avventura", "Estate in Cascina", "Ali di Luglio"],
        summary="Da metà giugno a fine agosto: giochi, laboratori, piscina e gite per bambini dai 3 "
                "agli 11 anni, con iscrizione a settimane.",
        description=(
            "Ogni settimana ha un tema diverso (il bosco, il circo, l'acqua, i pirati) e si chiude "
            "con una festa insieme alle famiglie.\n\n"
            "- gruppi divisi per età: 3-5 anni e 6-11 anni\n"
            "- un educatore ogni 8 bambini (uno ogni 5 per i più piccoli)\n"
            "- piscina una volta alla settimana, gita il venerdì\n"
            "- pranzo preparato da una cucina convenzionata\n\n"
            "Quota settimanale, pranzo compreso; sconto del 10% dal secondo figlio."
        ),
        target_group="Bambine e bambini dai 3 agli 11 anni", age=(3, 11),
        eligibility="Aperto a tutti; precedenza ai residenti per le iscrizioni entro il 15 maggio.",
        documents="Modulo di iscrizione, delega per il ritiro, eventuali certificati per allergie "
                  "o diete.",
        modes="at_location",
        schedule=["Dal 16 giugno al 29 agosto, lunedì-venerdì 8:00-17:00 (entrata 7:30-9:00)",
                  "Dal 9 giugno al 1 agosto e dal 25 agosto al 5 settembre, lunedì-venerdì 7:45-16:45"],
        languages=["it", "it,en", "it,es"],
        accessibility="Le sedi sono accessibili; per i bambini con disabilità è possibile "
                      "l'affiancamento di un educatore dedicato.",
        wheelchair=True, price=[fixed(95), fixed(110)], voucher=True, welfare=True,
        locations=["{name} – sede di {town}", "{name} – sede di {town}"],
    ),
    dict(
        key="campus", vertical="childcare", category="Centro estivo", count=1,
        title="Campus estivo {name} (11-14 anni)",
        names=["Sport e Natura", "Avventura Verticale", "Ragazzi in Movimento"],
        summary="Giornate di sport, orienteering, arrampicata e laboratori per ragazze e ragazzi "
                "della scuola secondaria di primo grado.",
        description=(
            "Il campus propone attività all'aperto guidate da istruttori ed educatori: "
            "orienteering, arrampicata su parete artificiale, canoa, giochi di squadra.\n\n"
            "Nei giorni di pioggia ci sono laboratori di fotografia, cucina e robotica. Si paga a "
            "giornata: ognuno sceglie i giorni che gli servono."
        ),
        target_group="Ragazze e ragazzi dagli 11 ai 14 anni", age=(11, 14),
        eligibility="Ragazzi che frequentano la scuola secondaria di primo grado.",
        documents="Modulo di iscrizione e certificato medico per attività sportiva non agonistica.",
        modes="at_location", schedule=["Dal 23 giugno al 25 luglio, lunedì-venerdì 8:30-17:00"],
        languages=["it,en"], accessibility="Attività in parte su sentieri non accessibili in "
                                          "carrozzina: contattateci per valutare insieme.",
        wheelchair=False, price=per_session(32), voucher=False, welfare=True,
        locations=["Campus {name}"],
    ),
    dict(
        key="babysitting", vertical="childcare", category="Babysitting", count=1,
        title="Babysitting a domicilio a {town} e dintorni",
        summary="Babysitter formate e selezionate dalla cooperativa, per qualche ora o per "
                "l'intera giornata, a casa vostra.",
        description=(
            "Le nostre babysitter hanno frequentato un corso di primo soccorso pediatrico e sono "
            "seguite da una coordinatrice che conosce ogni famiglia.\n\n"
            "Potete chiedere un aiuto fisso (per esempio l'uscita da scuola) oppure occasionale, "
            "con almeno 24 ore di preavviso. Il primo incontro di conoscenza è gratuito."
        ),
        target_group="Famiglie con bambini da 0 a 12 anni", age=(0, 12),
        eligibility="Famiglie dei comuni elencati.",
        documents="Nessun documento: si firma un accordo di servizio al primo incontro.",
        modes="at_home", schedule=["Lunedì-sabato 7:00-20:00, con almeno 24 ore di preavviso"],
        languages=["it,en", "it,en,fr"], accessibility="", wheelchair=False,
        price=per_hour(12), voucher=False, welfare=True, home=6,
    ),
    dict(
        key="babysitting_sera", vertical="childcare", category="Babysitting", count=1,
        title="Tata al bisogno: babysitting serale e nel fine settimana",
        summary="Una babysitter la sera, il sabato e la domenica, anche all'ultimo momento, "
                "per bambini da 1 a 10 anni.",
        description=(
            "Per una cena fuori, un turno di lavoro imprevisto o un matrimonio: prenotate entro le "
            "14 del giorno stesso e vi confermiamo la babysitter entro due ore.\n\n"
            "Dopo la mezzanotte la tariffa oraria aumenta di 3 euro."
        ),
        target_group="Famiglie con bambini da 1 a 10 anni", age=(1, 10),
        eligibility="Famiglie dei comuni elencati, iscritte al servizio.",
        documents="Modulo di iscrizione con i recapiti di un secondo adulto di riferimento.",
        modes="at_home", schedule=["Venerdì e sabato 18:00-1:00; domenica 9:00-20:00"],
        languages=["it,en", "it,es"], accessibility="", wheelchair=False,
        price=per_hour(14), voucher=False, welfare=True, home=5,
    ),
    dict(
        key="doposcuola", vertical="childcare", category="Doposcuola", count=2,
        title="Doposcuola {name}",
        names=["Compiti Insieme", "Il Ponte", "Zaino Leggero", "Matite Colorate"],
        summary="Aiuto nei compiti, metodo di studio e merenda per ragazzi della primaria e della "
                "secondaria di primo grado.",
        description=(
            "Piccoli gruppi seguiti da educatori, con attenzione ai ragazzi con disturbi specifici "
            "dell'apprendimento (DSA) e a chi sta imparando l'italiano.\n\n"
            "Dopo i compiti c'è sempre un momento di gioco o di laboratorio. Una volta al mese "
            "gli educatori incontrano i genitori e, se la famiglia è d'accordo, gli insegnanti.\n\n"
            "{extra}"
        ),
        extras=["La retta è mensile e dipende dall'ISEE della famiglia.",
                "Quota mensile fissa, merenda compresa."],
        target_group="Ragazze e ragazzi dai 6 ai 14 anni", age=(6, 14),
        eligibility="Alunni delle scuole di {town} e dei comuni vicini.",
        documents="Modulo di iscrizione; attestazione ISEE per la retta ridotta; eventuale diagnosi "
                  "DSA.",
        modes="at_location",
        schedule=["Lunedì-giovedì 14:30-17:30, da ottobre a maggio",
                  "Lunedì, mercoledì e venerdì 14:00-18:00"],
        languages=["it,ar", "it,en,ro", "it,sq"],
        accessibility="Aula al primo piano con ascensore.", wheelchair=True,
        price=[income((10000, 30), (20000, 60), (None, 90)), fixed(75)],
        voucher=False, welfare=True, locations=["Doposcuola {name}"],
    ),
    dict(
        key="doposcuola_online", vertical="childcare", category="Doposcuola", count=1,
        title="{name}",
        names=["Ripetizioni e aiuto compiti online", "Tutor online per il metodo di studio"],
        summary="Lezioni individuali in videochiamata con educatori e studenti universitari "
                "selezionati: matematica, italiano, inglese e metodo di studio.",
        description=(
            "Si sceglie la materia e l'orario e si riceve un link per la lezione: basta un "
            "computer o un tablet con la videocamera.\n\n"
            "La prima lezione serve a conoscersi e a capire dove il ragazzo ha bisogno di aiuto; "
            "dopo ogni lezione la famiglia riceve un breve resoconto."
        ),
        target_group="Studenti dagli 11 ai 18 anni", age=(11, 18),
        eligibility="Studenti della scuola secondaria di primo e secondo grado.",
        documents="Nessuno.", modes="online",
        schedule=["Lunedì-venerdì 15:00-20:00; sabato 9:00-13:00"],
        languages=["it,en", "it,en,es"], accessibility="Piattaforma compatibile con i lettori di "
                                                       "schermo; lezioni anche con sottotitoli.",
        wheelchair=False, price=per_hour(15), voucher=False, welfare=True,
    ),
]

ELDERLY = [
    dict(
        key="sad", vertical="elderly", category="Assistenza domiciliare", count=3,
        title="{name}",
        names=["Assistenza domiciliare anziani a {town} e dintorni",
               "Aiuto a casa: igiene, pasti e commissioni",
               "Assistenza familiare a ore",
               "Operatori socio-sanitari a domicilio"],
        summary="Operatori socio-sanitari (OSS) a casa per l'igiene personale, la mobilizzazione, "
                "la preparazione dei pasti e le piccole commissioni.",
        description=(
            "Il servizio aiuta la persona anziana a restare nella propria casa il più a lungo "
            "possibile, in sicurezza.\n\n"
            "**Cosa facciamo**\n\n"
            "- igiene personale e bagno assistito\n"
            "- aiuto ad alzarsi, vestirsi e muoversi in casa\n"
            "- preparazione dei pasti e riordino\n"
            "- spesa, farmacia e accompagnamento alle visite\n\n"
            "{extra}"
        ),
        extras=[
            "Dopo una prima visita gratuita concordiamo con la famiglia un piano personalizzato, "
            "con un'operatrice di riferimento stabile.",
            "Interventi anche brevi, da un'ora, e reperibilità telefonica tutti i giorni per le "
            "urgenze.",
            "Su richiesta affianchiamo l'assistente familiare nei giorni di riposo o durante le "
            "sue ferie.",
        ],
        target_group="Persone anziane, anche non autosufficienti, e i loro familiari",
        age=(65, None),
        eligibility="Anziani che vivono nei comuni elencati. Accettiamo i voucher dell'Ambito "
                    "territoriale e della misura B2 di Regione Lombardia.",
        documents="Documento d'identità e tessera sanitaria; eventuale verbale di invalidità.",
        modes="at_home",
        schedule=["Tutti i giorni 7:00-21:00, anche festivi, su appuntamento",
                  "Lunedì-sabato 7:30-19:30", "Lunedì-venerdì 8:00-18:00; sabato 8:00-13:00"],
        languages=["it", "it,ro", "it,uk", "it,sq"], accessibility="", wheelchair=False,
        price=[per_hour(22), per_hour(21), per_hour(23.5)], voucher=True, welfare=False, home=7,
    ),
    dict(
        key="sad_comunale", vertical="elderly", category="Assistenza domiciliare", count=1,
        title="Servizio di assistenza domiciliare (SAD) del Comune di {town}",
        summary="Il servizio comunale di assistenza a casa per anziani e persone fragili, gestito "
                "dalla cooperativa: la tariffa oraria dipende dall'ISEE.",
        description=(
            "Il Comune di {town} ha affidato alla cooperativa il servizio di assistenza "
            "domiciliare. Gli interventi sono decisi insieme all'assistente sociale, che valuta "
            "il bisogno con una visita a casa.\n\n"
            "La tariffa è oraria e dipende dall'ISEE socio-sanitario; sotto i 6.000 euro si paga "
            "solo un contributo simbolico."
        ),
        target_group="Anziani e adulti fragili residenti a {town}", age=(18, None),
        eligibility="Residenza nel Comune di {town}. La domanda si presenta ai servizi sociali "
                    "comunali, anche con l'aiuto della cooperativa.",
        documents="Domanda ai servizi sociali; ISEE socio-sanitario; documentazione sanitaria.",
        modes="at_home", schedule=["Lunedì-sabato 7:00-19:00"], languages=["it"],
        accessibility="", wheelchair=False,
        price=income((6000, 3), (12000, 8), (20000, 14), (None, 20)),
        voucher=True, welfare=False, home=1,
    ),
    dict(
        key="centro_diurno", vertical="elderly", category="Centro diurno", count=2,
        title="Centro diurno integrato {name}",
        names=["Il Glicine", "Casa Aperta", "Le Querce", "Il Focolare"],
        summary="Un luogo accogliente dove passare la giornata: attività, pranzo, assistenza "
                "infermieristica e trasporto da casa.",
        description=(
            "Il centro diurno {name} accoglie anziani che vivono a casa ma hanno bisogno di "
            "compagnia, stimoli e assistenza durante il giorno.\n\n"
            "Ogni giornata comprende ginnastica dolce, laboratori di memoria, musica, il pranzo e "
            "il riposo pomeridiano. L'infermiera controlla la terapia e la fisioterapista propone "
            "esercizi personalizzati.\n\n"
            "Quota giornaliera, pranzo compreso; il trasporto da casa si paga a parte."
        ),
        target_group="Anziani parzialmente autosufficienti", age=(65, None),
        eligibility="Anziani con valutazione dell'ASST o del medico di base; è possibile una "
                    "giornata di prova gratuita.",
        documents="Domanda di ammissione, scheda sanitaria compilata dal medico, documento "
                  "d'identità.",
        modes="at_location",
        schedule=["Lunedì-venerdì 8:30-17:30; sabato mattina su richiesta",
                  "Lunedì-venerdì 9:00-17:00"],
        languages=["it", "it,ro"],
        accessibility="Struttura completamente accessibile, bagni assistiti, sala riposo.",
        wheelchair=True, price=[per_session(38), per_session(42)], voucher=True, welfare=False,
        locations=["Centro diurno {name}"],
    ),
    dict(
        key="caffe_alzheimer", vertical="elderly", category="Centro diurno", count=1,
        title="Caffè Alzheimer {name}",
        names=["Momenti Insieme", "Il Ricordo", "Tazza e Memoria"],
        summary="Un pomeriggio al mese per le persone con demenza e chi le assiste: un caffè, "
                "attività leggere e il confronto con psicologi ed educatori.",
        description=(
            "Mentre le persone con demenza partecipano a musica e attività di stimolazione, i "
            "familiari possono parlare con la psicologa e con altri caregiver.\n\n"
            "La partecipazione è libera e gratuita; è gradita una telefonata la prima volta."
        ),
        target_group="Persone con demenza e i loro familiari", age=None,
        eligibility="Aperto a tutti.", documents="Nessuno.", modes="at_location",
        schedule=["Primo giovedì del mese, 15:00-17:30", "Ultimo sabato del mese, 15:30-18:00"],
        languages=["it"], accessibility="Sala al piano terra con bagno accessibile.",
        wheelchair=True, price=free(), voucher=False, welfare=False,
        locations=["Caffè Alzheimer {name}"],
    ),
    dict(
        key="telefonia", vertical="elderly", category="Compagnia e telefonia sociale", count=1,
        title="{name}",
        names=["Pronto, come stai? Telefonia sociale", "Filo Amico: compagnia al telefono"],
        summary="Una telefonata amica due o tre volte alla settimana per chi vive solo: due "
                "chiacchiere, un promemoria per le medicine, un aiuto se serve.",
        description=(
            "Volontari formati e operatori della cooperativa chiamano ogni settimana, nei giorni "
            "e negli orari concordati.\n\n"
            "Se emerge un bisogno (una spesa, una visita medica, un guasto in casa) attiviamo la "
            "rete dei servizi e, con il consenso della persona, avvisiamo i familiari."
        ),
        target_group="Anziani che vivono soli", age=(65, None),
        eligibility="Persone anziane del territorio {area}, segnalate anche da familiari, medici o "
                    "vicini di casa.",
        documents="Nessuno.", modes="online",
        schedule=["Chiamate dal lunedì al sabato, 9:00-12:00 e 15:00-18:00"],
        languages=["it", "it,ro"], accessibility="Servizio telefonico, adatto anche a chi non usa "
                                                  "internet.",
        wheelchair=False, price=free(), voucher=False, welfare=False,
    ),
    dict(
        key="compagnia", vertical="elderly", category="Compagnia e telefonia sociale", count=1,
        title="{name}",
        names=["Compagnia e passeggiate per anziani", "Un amico a casa: compagnia per anziani"],
        summary="Qualche ora di compagnia a casa o fuori: una passeggiata, una partita a carte, "
                "la lettura del giornale, una visita al cimitero.",
        description=(
            "Un operatore o un'operatrice sempre la stessa persona, scelta in base ai gusti e "
            "agli interessi dell'anziano.\n\n"
            "Il servizio è pensato anche per dare qualche ora di respiro a chi assiste un "
            "familiare ogni giorno."
        ),
        target_group="Anziani soli o con poca rete familiare", age=(65, None),
        eligibility="Anziani dei comuni elencati.", documents="Nessuno.", modes="at_home",
        schedule=["Lunedì-domenica 9:00-19:00, minimo due ore"], languages=["it", "it,en"],
        accessibility="", wheelchair=False, price=per_hour(15), voucher=True, welfare=True, home=5,
    ),
    dict(
        key="pasti", vertical="elderly", category="Pasti a domicilio", count=2,
        title="{name}",
        names=["Pasti caldi a domicilio", "Pranzo a casa: pasti a domicilio per anziani",
               "Pasti a domicilio per persone fragili"],
        summary="Il pranzo consegnato ogni giorno a casa, caldo, con menù che cambia ogni "
                "settimana e diete per diabete e problemi di masticazione.",
        description=(
            "I pasti sono preparati nella cucina della cooperativa e consegnati in contenitori "
            "termici. Ogni pasto comprende primo, secondo, contorno, pane e frutta.\n\n"
            "L'operatore che consegna si ferma qualche minuto: se qualcosa non va, avvisa subito "
            "la famiglia o i servizi sociali.\n\n{extra}"
        ),
        extras=["Prezzo a pasto; la cena fredda si può aggiungere con un piccolo supplemento.",
                "Il prezzo a pasto dipende dall'ISEE."],
        target_group="Anziani e persone che non possono cucinare", age=None,
        eligibility="Persone dei comuni elencati che non sono in grado di prepararsi il pranzo.",
        documents="Modulo di richiesta; eventuale certificato per diete speciali; ISEE per la "
                  "tariffa ridotta.",
        modes="at_home", schedule=["Consegna tutti i giorni 11:30-12:30, domenica compresa",
                                   "Consegna dal lunedì al sabato 11:45-12:45"],
        languages=["it"], accessibility="", wheelchair=False,
        price=[per_session(7.5), income((8000, 3.5), (15000, 5.5), (None, 8))],
        voucher=True, welfare=False, home=5,
    ),
    dict(
        key="memoria", vertical="elderly", category="Centro diurno", count=1,
        title="{name}",
        names=["Ginnastica dolce e palestra della memoria", "Mente e corpo in forma: corso per over 60"],
        summary="Un ciclo di 10 incontri per tenersi in forma: esercizi di equilibrio, "
                "respirazione e giochi per allenare la memoria.",
        description=(
            "Gli incontri sono condotti da una fisioterapista e da una psicologa in piccoli gruppi "
            "di 12 persone.\n\n"
            "- 45 minuti di movimento adatto a tutti, anche da seduti\n"
            "- 45 minuti di giochi di parole, numeri e ricordi\n\n"
            "Quota per l'intero ciclo di 10 incontri."
        ),
        target_group="Persone over 60", age=(60, None),
        eligibility="Persone autosufficienti; per chi ha patologie serve il parere del medico.",
        documents="Certificato del medico di base.", modes="at_location",
        schedule=["Martedì e venerdì 10:00-11:30, cicli da ottobre e da febbraio"],
        languages=["it"], accessibility="Palestra al piano terra con spogliatoi accessibili.",
        wheelchair=True, price=fixed(60), voucher=False, welfare=False,
        locations=["Sala polivalente di {town}"],
    ),
]

DISABILITY = [
    dict(
        key="trasporto", vertical="disability", category="Trasporto", count=2,
        title="{name}",
        names=["Trasporto accessibile per persone con disabilità",
               "Accompagnamento a visite e terapie",
               "Trasporto sociale con mezzi attrezzati"],
        summary="Trasporto con pulmini attrezzati con pedana per carrozzina, verso scuole, centri "
                "diurni, ospedali e ambulatori.",
        description=(
            "L'autista e, quando serve, un accompagnatore aiutano la persona dalla porta di casa "
            "fino a destinazione e al ritorno.\n\n"
            "Il servizio si prenota al telefono o per e-mail almeno 48 ore prima; per i trasporti "
            "fissi (scuola, terapie) si concorda un calendario.\n\n{extra}"
        ),
        extras=["Prezzo per singola tratta entro 20 km; oltre si aggiungono 0,60 euro al km.",
                "La tariffa per tratta dipende dall'ISEE; per i trasporti verso la scuola "
                "dell'obbligo il servizio è gratuito."],
        target_group="Persone con disabilità motoria, sensoriale o intellettiva", age=None,
        eligibility="Persone con invalidità civile o riconoscimento della legge 104/92 che vivono "
                    "nei comuni elencati.",
        documents="Verbale di invalidità o di legge 104/92; modulo di prenotazione.",
        modes="at_home", schedule=["Lunedì-sabato 7:00-19:00, prenotazione almeno 48 ore prima"],
        languages=["it"],
        accessibility="Mezzi con pedana elettrica e ancoraggi per carrozzina; autisti formati.",
        wheelchair=True, price=[per_session(12), income((10000, 3), (20000, 6), (None, 12))],
        voucher=True, welfare=False, home=8,
    ),
    dict(
        key="scolastica", vertical="disability", category="Assistenza scolastica", count=2,
        title="{name}",
        names=["Assistenza educativa scolastica a {town}",
               "Assistente all'autonomia e alla comunicazione – {town}",
               "Educatori a scuola per alunni con disabilità – {town}"],
        summary="Educatori che affiancano a scuola gli alunni con disabilità, per l'autonomia, la "
                "comunicazione e la partecipazione alla vita di classe.",
        description=(
            "Il servizio è finanziato dal Comune di {town} ed è gratuito per le famiglie. "
            "L'educatore lavora insieme agli insegnanti sul piano educativo individualizzato "
            "(PEI).\n\n"
            "Per gli alunni sordi è disponibile un'assistente alla comunicazione che conosce la "
            "Lingua dei Segni Italiana (LIS)."
        ),
        target_group="Alunni con disabilità dalla scuola dell'infanzia alle superiori",
        age=(3, 19),
        eligibility="Alunni con certificazione ai sensi della legge 104/92 che frequentano le "
                    "scuole di {town}.",
        documents="Richiesta della scuola e della famiglia al Comune; certificazione di disabilità.",
        modes="at_location", schedule=["Durante l'orario scolastico, da settembre a giugno"],
        languages=["it,lis", "it"],
        accessibility="Le scuole servite sono accessibili; l'educatore segue l'alunno anche nelle "
                      "uscite didattiche.",
        wheelchair=True, price=free(), voucher=False, welfare=False,
        locations=["Istituto comprensivo di {town}"],
    ),
    dict(
        key="sollievo_weekend", vertical="disability", category="Sollievo per le famiglie",
        count=1, title="Weekend di sollievo {name}",
        names=["Casa Vacanze Insieme", "Il Rifugio", "Fuori Casa"],
        summary="Un fine settimana al mese fuori casa per ragazzi e adulti con disabilità, mentre "
                "le famiglie si riposano.",
        description=(
            "Piccoli gruppi di 6-8 persone passano il weekend in un appartamento attrezzato, con "
            "educatori e operatori presenti giorno e notte.\n\n"
            "Si cucina insieme, si esce per una pizza o una passeggiata, si impara a fare da sé. "
            "Il prezzo è per giornata, pasti compresi."
        ),
        target_group="Ragazzi e adulti con disabilità intellettiva", age=(14, 60),
        eligibility="Persone con disabilità che vivono in famiglia; colloquio di conoscenza "
                    "prima del primo weekend.",
        documents="Verbale di invalidità, scheda sanitaria e terapie in corso.",
        modes="at_location", schedule=["Un fine settimana al mese, dal sabato 10:00 alla domenica "
                                       "18:00"],
        languages=["it"], accessibility="Appartamento senza barriere con bagno attrezzato.",
        wheelchair=True, price=per_session(95), voucher=True, welfare=False,
        locations=["Appartamento {name}"],
    ),
    dict(
        key="sollievo_casa", vertical="disability", category="Sollievo per le famiglie", count=1,
        title="{name}",
        names=["Sollievo a domicilio per famiglie con figli disabili",
               "Un educatore a casa: ore di sollievo per i genitori"],
        summary="Un educatore a casa per qualche ora, così i genitori possono uscire, riposare o "
                "dedicarsi agli altri figli.",
        description=(
            "L'educatore propone giochi, attività e uscite sul territorio, secondo gli obiettivi "
            "concordati con la famiglia e, se c'è, con il servizio di neuropsichiatria.\n\n"
            "Si può usare il voucher della misura B2 o del Fondo per la non autosufficienza."
        ),
        target_group="Famiglie con bambini e ragazzi con disabilità", age=(3, 25),
        eligibility="Famiglie dei comuni elencati.",
        documents="Certificazione di disabilità; eventuale decreto del voucher.",
        modes="at_home", schedule=["Lunedì-sabato 8:00-20:00, minimo due ore"],
        languages=["it", "it,en"], accessibility="", wheelchair=False,
        price=per_hour(18), voucher=True, welfare=True, home=6,
    ),
    dict(
        key="cse", vertical="disability", category="Centro socio-educativo", count=2,
        title="Centro socio-educativo {name}",
        names=["Il Faro", "La Bottega dei Talenti", "L'Aquilone", "Officina Creativa"],
        summary="Un centro diurno per giovani e adulti con disabilità: laboratori, autonomie, "
                "sport e attività nel quartiere.",
        description=(
            "Il CSE {name} accoglie fino a 30 persone dal lunedì al venerdì. Ognuno ha un "
            "progetto individuale, rivisto ogni anno con la famiglia e i servizi.\n\n"
            "- laboratori di falegnameria, ceramica e cucina\n"
            "- piscina e attività motoria\n"
            "- uscite per imparare a usare i mezzi pubblici e fare la spesa\n\n"
            "La retta mensile dipende dall'ISEE; il resto è coperto dal Comune di residenza."
        ),
        target_group="Giovani e adulti con disabilità dai 16 ai 65 anni", age=(16, 65),
        eligibility="Persone con disabilità inviate dai servizi sociali del Comune di residenza.",
        documents="Verbale di invalidità, relazione dei servizi sociali, ISEE.",
        modes="at_location", schedule=["Lunedì-venerdì 9:00-16:00, chiuso ad agosto"],
        languages=["it", "it,lis"],
        accessibility="Sede completamente accessibile, bagni attrezzati, sollevatore.",
        wheelchair=True, price=income((10000, 80), (25000, 200), (None, 350)),
        voucher=True, welfare=False, locations=["CSE {name}"],
    ),
    dict(
        key="autonomie", vertical="disability", category="Centro socio-educativo", count=1,
        title="Laboratorio di autonomie per giovani adulti",
        summary="Un percorso di tre mesi per imparare a gestire il denaro, cucinare, muoversi in "
                "città e usare il telefono in modo sicuro.",
        description=(
            "Due pomeriggi a settimana, in gruppi di 5 persone, con due educatori. Si lavora "
            "nell'appartamento didattico e per le vie di {town}.\n\n"
            "Alla fine del percorso la famiglia riceve una relazione con i progressi e i prossimi "
            "obiettivi. Quota per l'intero percorso."
        ),
        target_group="Giovani con disabilità intellettiva lieve o moderata", age=(16, 35),
        eligibility="Giovani che hanno finito o stanno finendo la scuola superiore.",
        documents="Verbale di invalidità o di legge 104/92.", modes="at_location",
        schedule=["Martedì e giovedì 14:30-17:30, percorsi da ottobre e da febbraio"],
        languages=["it"], accessibility="Appartamento didattico al piano terra.", wheelchair=True,
        price=fixed(240), voucher=True, welfare=False, locations=["Appartamento didattico"],
    ),
]

OTHER = [
    dict(
        key="sportello_badanti", vertical="other", category="Sportello", count=1,
        title="Sportello assistenti familiari",
        summary="Aiuto gratuito per trovare un'assistente familiare (badante) e mettere in regola "
                "il contratto.",
        description=(
            "Allo sportello le famiglie trovano un elenco di assistenti familiari formate e un "
            "aiuto per il colloquio, il contratto di lavoro e le pratiche con l'INPS.\n\n"
            "Chi cerca lavoro come assistente familiare può iscriversi all'elenco e partecipare ai "
            "corsi di formazione gratuiti."
        ),
        target_group="Famiglie e assistenti familiari", age=None, eligibility="Aperto a tutti.",
        documents="Documento d'identità; per chi cerca lavoro anche il permesso di soggiorno.",
        modes="at_location", schedule=["Martedì 9:00-12:30; giovedì 14:00-17:30"],
        languages=["it,ro,uk", "it,es,sq"], accessibility="Sportello al piano terra.",
        wheelchair=True, price=free(), voucher=False, welfare=False,
        locations=["Sportello assistenti familiari"],
    ),
    dict(
        key="sportello_welfare", vertical="other", category="Sportello", count=1,
        title="{name}",
        names=["Sportello welfare: bonus, ISEE e domande online",
               "Punto famiglie: aiuto per bonus e pratiche online"],
        summary="Ti aiutiamo a capire a quali bonus e contributi hai diritto e a presentare le "
                "domande, anche online con SPID.",
        description=(
            "Allo sportello trovi operatori che ti aiutano con:\n\n"
            "- richiesta dell'ISEE e della DSU\n"
            "- bonus nido, assegno unico, contributi per l'affitto\n"
            "- domande per voucher e misure regionali per anziani e disabili\n\n"
            "Si riceve su appuntamento, in sede o in videochiamata."
        ),
        target_group="Famiglie, anziani e persone con disabilità", age=None,
        eligibility="Aperto a tutti.", documents="Documento d'identità, tessera sanitaria e i "
                                                 "documenti richiesti per la pratica.",
        modes="at_location,online", schedule=["Lunedì e mercoledì 9:00-13:00; venerdì 14:00-18:00"],
        languages=["it,en,ar", "it,en,zh"], accessibility="Sede accessibile, con parcheggio.",
        wheelchair=True, price=free(), voucher=False, welfare=False,
        locations=["Sportello welfare di {town}"],
    ),
    dict(
        key="consulenza_caregiver", vertical="other", category="Consulenza", count=1,
        title="Consulenza psicologica per chi assiste un familiare",
        summary="Colloqui con una psicologa per chi si prende cura di un genitore anziano o di un "
                "familiare con disabilità.",
        description=(
            "Prendersi cura di qualcuno ogni giorno è faticoso. I colloqui aiutano a gestire lo "
            "stress, i sensi di colpa e le decisioni difficili.\n\n"
            "Sono possibili incontri in studio o in videochiamata; ogni due mesi organizziamo "
            "anche un gruppo di auto-mutuo aiuto gratuito."
        ),
        target_group="Caregiver familiari", age=(18, None), eligibility="Aperto a tutti.",
        documents="Nessuno.", modes="at_location,online",
        schedule=["Su appuntamento, lunedì-venerdì 9:00-19:00"], languages=["it,en", "it,de"],
        accessibility="Studio al primo piano con ascensore.", wheelchair=True,
        price=per_session(45), voucher=False, welfare=True, locations=["Studio di consulenza"],
    ),
    dict(
        key="consulenza_genitori", vertical="other", category="Consulenza", count=1,
        title="{name}",
        names=["Consulenza pedagogica per genitori", "Spazio genitori: colloqui con la pedagogista"],
        summary="Incontri con una pedagogista per affrontare capricci, sonno, scuola, uso degli "
                "schermi e adolescenza.",
        description=(
            "Uno spazio per i genitori che vogliono confrontarsi su un momento difficile con i "
            "figli, da 0 a 18 anni.\n\n"
            "Il primo colloquio è gratuito; gli incontri successivi si pagano a seduta. Possibili "
            "anche colloqui online in serata."
        ),
        target_group="Genitori di bambini e ragazzi", age=None, eligibility="Aperto a tutti.",
        documents="Nessuno.", modes="at_location,online",
        schedule=["Martedì e giovedì 16:00-20:00; sabato 9:00-12:00"], languages=["it,en,fr"],
        accessibility="Studio al piano terra.", wheelchair=True, price=per_session(50),
        voucher=False, welfare=True, locations=["Spazio famiglie"],
    ),
]

CULTURE = [
    dict(
        key="laboratori", vertical="culture", category="Laboratori", count=1,
        title="{name}",
        names=["Laboratori creativi del sabato per bambini", "Piccoli artisti: laboratori in biblioteca"],
        summary="Ogni sabato mattina un laboratorio diverso: pittura, carta, riciclo, fumetto e "
                "piccoli esperimenti scientifici.",
        description=(
            "I laboratori si tengono in biblioteca e durano un'ora e mezza. I bambini lavorano in "
            "piccoli gruppi con due educatrici; i genitori possono restare o fare un giro in "
            "città.\n\nPrezzo per singolo laboratorio, materiali compresi."
        ),
        target_group="Bambine e bambini dai 5 agli 11 anni", age=(5, 11),
        eligibility="Aperto a tutti, su prenotazione.", documents="Nessuno.",
        modes="at_location", schedule=["Sabato 10:00-11:30, da ottobre a maggio"],
        languages=["it,en"], accessibility="Biblioteca accessibile con ascensore.",
        wheelchair=True, price=per_session(8), voucher=False, welfare=True,
        locations=["Biblioteca civica di {town}"],
    ),
    dict(
        key="cinema", vertical="culture", category="Eventi", count=1,
        title="{name}",
        names=["Cinema per tutti: film con audiodescrizione e sottotitoli",
               "Cinema inclusivo della domenica"],
        summary="Una domenica al mese un film per famiglie con audiodescrizione, sottotitoli e "
                "sala a luci soffuse, adatta anche a persone autistiche.",
        description=(
            "Le proiezioni sono pensate perché nessuno resti fuori: luci non del tutto spente, "
            "volume più basso, libertà di muoversi e di uscire dalla sala.\n\n"
            "Ingresso gratuito fino a esaurimento posti; la prenotazione è consigliata."
        ),
        target_group="Famiglie, persone con disabilità sensoriali e neurodivergenti", age=None,
        eligibility="Aperto a tutti.", documents="Nessuno.", modes="at_location",
        schedule=["Una domenica al mese alle 16:00"], languages=["it,lis"],
        accessibility="Sala accessibile, posti riservati per carrozzine, audiodescrizione in "
                      "cuffia, sottotitoli per persone sorde.",
        wheelchair=True, price=free(), voucher=False, welfare=False,
        locations=["Sala civica di {town}"],
    ),
]

TEMPLATES = {t["key"]: t for t in CHILDCARE + ELDERLY + DISABILITY + OTHER + CULTURE}

# ---------------------------------------------------------------------------- per territory
#
# Specials have a fixed town, cooperative and (optionally) address.

SPECIALS = {
    "milano": [
        dict(
            key="chiaravalle", vertical="culture", category="Visite guidate", coop=0,
            town="Milano", address="Via Sant'Arialdo 102", postal_code="20139",
            lat=45.4197, lon=9.2313,
            title="Visite guidate all'Abbazia di Chiaravalle",
            summary="La chiesa, il chiostro, la torre nolare detta \"Ciribiciaccola\" e il mulino: "
                    "un'ora e mezza alla scoperta dell'abbazia cistercense alle porte di Milano.",
            description=(
                "L'abbazia di Chiaravalle fu fondata nel 1135 dai monaci cistercensi arrivati con "
                "San Bernardo, che bonificarono le campagne a sud di Milano.\n\n"
                "La visita comprende la chiesa con gli affreschi dei Fiamminghini, il chiostro e, "
                "all'esterno, il mulino restaurato, dove si racconta come l'acqua delle rogge ha "
                "disegnato il paesaggio.\n\n"
                "Prezzo a persona; gratis sotto i 12 anni. Per scuole e gruppi sono disponibili "
                "visite su misura, anche in inglese e francese."
            ),
            target_group="Famiglie, scuole, gruppi e visitatori", age=None,
            eligibility="Aperto a tutti; i gruppi oltre 15 persone devono prenotare.",
            documents="Nessuno.", modes="at_location",
            schedule=["Sabato alle 15:00 e domenica alle 15:30; scuole e gruppi su prenotazione "
                      "dal martedì al venerdì"],
            languages=["it,en,fr"],
            accessibility="Chiesa e chiostro accessibili in carrozzina con rampa; la torre e "
                          "alcune cappelle no. Sono disponibili sgabelli pieghevoli.",
            wheelchair=True, price=per_session(7), voucher=False, welfare=True,
            locations=["Abbazia di Chiaravalle"],
        ),
        dict(
            key="gregoriano", vertical="culture", category="Laboratori", coop=0, town="Milano",
            address="Via Sant'Arialdo 102", postal_code="20139", lat=45.4195, lon=9.2318,
            title="Laboratorio di canto gregoriano per famiglie",
            summary="Un pomeriggio per scoprire come cantavano i monaci, leggere i neumi e provare "
                    "a cantare insieme sotto le volte dell'abbazia.",
            description=(
                "Il laboratorio è guidato da una musicista e non richiede di saper leggere la "
                "musica. Si inizia con una breve visita alla chiesa e si prosegue in sala "
                "capitolare.\n\nPrezzo a persona per incontro."
            ),
            target_group="Famiglie con bambini dagli 8 anni, ragazzi e adulti", age=(8, None),
            eligibility="Su prenotazione, massimo 25 persone.", documents="Nessuno.",
            modes="at_location", schedule=["Seconda domenica del mese, 16:00-17:30"],
            languages=["it"], accessibility="Sala capitolare accessibile.", wheelchair=True,
            price=per_session(10), voucher=False, welfare=True,
            locations=["Abbazia di Chiaravalle – sala capitolare"],
        ),
        dict(
            key="erbe", vertical="culture", category="Laboratori", coop=0, town="Milano",
            address="Via Sant'Arialdo 102", postal_code="20139", lat=45.4201, lon=9.2309,
            title="Erbe officinali nell'orto dei monaci",
            summary="Laboratorio all'aperto per bambini: riconoscere le erbe aromatiche, annusarle "
                    "e preparare un sacchetto profumato da portare a casa.",
            description=(
                "Si parte dall'orto dei semplici dell'abbazia, dove i monaci coltivavano le piante "
                "per curarsi.\n\nI bambini imparano a riconoscere salvia, melissa, lavanda e "
                "calendula e preparano un erbario. In caso di pioggia il laboratorio si tiene al "
                "coperto."
            ),
            target_group="Bambine e bambini dai 6 ai 12 anni", age=(6, 12),
            eligibility="Su prenotazione; i bambini sotto gli 8 anni con un adulto.",
            documents="Nessuno.", modes="at_location",
            schedule=["Da aprile a giugno e in settembre, sabato 10:00-12:00"],
            languages=["it,en"], accessibility="Vialetti in ghiaia, percorribili con aiuto.",
            wheelchair=False, price=per_session(12), voucher=False, welfare=True,
            locations=["Orto dell'Abbazia di Chiaravalle"],
        ),
        dict(
            key="organo", vertical="culture", category="Eventi", coop=0, town="Milano",
            address="Via Sant'Arialdo 102", postal_code="20139", lat=45.4197, lon=9.2313,
            title="Concerti d'organo in abbazia",
            summary="Rassegna d'autunno di concerti d'organo e musica antica nella chiesa "
                    "dell'Abbazia di Chiaravalle. Ingresso libero.",
            description=(
                "Cinque concerti, da ottobre a dicembre, con organisti e piccoli ensemble di "
                "musica antica.\n\nL'ingresso è libero fino a esaurimento posti; le offerte "
                "raccolte sostengono il restauro del mulino."
            ),
            target_group="Tutti", age=None, eligibility="Aperto a tutti.", documents="Nessuno.",
            modes="at_location", schedule=["Domenica alle 17:00, da ottobre a dicembre"],
            languages=["it"], accessibility="Posti riservati per persone in carrozzina.",
            wheelchair=True, price=free(), voucher=False, welfare=False,
            locations=["Chiesa dell'Abbazia di Chiaravalle"],
        ),
        dict(
            key="vettabbia", vertical="culture", category="Visite guidate", coop=0,
            town="Milano", address="Via Sant'Arialdo 102", postal_code="20139",
            lat=45.4225, lon=9.2260,
            title="Passeggiata nel Parco della Vettabbia",
            summary="Due ore a piedi tra rogge, marcite e cascine del Parco Agricolo Sud, con "
                    "partenza dal piazzale dell'abbazia.",
            description=(
                "Una guida naturalistica accompagna il gruppo lungo la Vettabbia, il canale che "
                "da secoli irriga le campagne a sud di Milano.\n\n"
                "- incontro sul piazzale dell'Abbazia di Chiaravalle\n"
                "- percorso facile di 5 km, su sterrato\n"
                "- sosta in una cascina con assaggio di prodotti del parco\n\n"
                "Prezzo a persona; gratis sotto i 6 anni."
            ),
            target_group="Famiglie, camminatori, gruppi", age=None,
            eligibility="Su prenotazione; scarpe comode.", documents="Nessuno.",
            modes="at_location", schedule=["Prima e terza domenica del mese, 9:30-11:30"],
            languages=["it,en"], accessibility="Percorso sterrato, non adatto alle carrozzine.",
            wheelchair=False, price=per_session(6), voucher=False, welfare=True,
            locations=["Piazzale dell'Abbazia di Chiaravalle"],
        ),
        dict(
            key="chiaravalle_lis", vertical="culture", category="Visite guidate", coop=0,
            town="Milano", address="Via Sant'Arialdo 102", postal_code="20139",
            lat=45.4197, lon=9.2313, status="in_review",
            title="Visita all'Abbazia di Chiaravalle in LIS",
            summary="La visita guidata all'abbazia condotta in Lingua dei Segni Italiana da una "
                    "guida sorda, con sottotitoli sui contenuti video.",
            description=(
                "Una visita pensata con la comunità sorda milanese: la guida racconta la storia "
                "dell'abbazia direttamente in LIS, con un interprete per chi non la conosce.\n\n"
                "Prezzo a persona; gratuito per l'accompagnatore."
            ),
            target_group="Persone sorde, familiari e amici", age=None,
            eligibility="Su prenotazione.", documents="Nessuno.", modes="at_location",
            schedule=["Ultimo sabato del mese alle 10:30"], languages=["it,lis"],
            accessibility="Chiesa e chiostro accessibili in carrozzina.", wheelchair=True,
            price=per_session(7), voucher=False, welfare=True,
            locations=["Abbazia di Chiaravalle"],
        ),
    ],
    "cremona": [
        dict(
            key="torrazzo", vertical="culture", category="Visite guidate", coop=0,
            town="Cremona", address="Piazza del Comune 5", postal_code="26100",
            lat=45.1334, lon=10.0247,
            title="Visita guidata al Torrazzo e al Duomo di Cremona",
            summary="Dalla piazza del Comune alla cima del Torrazzo: 502 gradini, il grande "
                    "orologio astronomico e la vista sulla pianura fino al Po.",
            description=(
                "La visita inizia nel Duomo, con gli affreschi del Pordenone, e prosegue nel "
                "Battistero.\n\nChi vuole sale poi sul Torrazzo, accompagnato dalla guida, fino "
                "alla cella campanaria. Per chi non sale c'è una visita alternativa alla Loggia "
                "dei Militi.\n\nPrezzo a persona, ingressi compresi."
            ),
            target_group="Famiglie, scuole, gruppi", age=None,
            eligibility="Su prenotazione; la salita al Torrazzo è sconsigliata sotto i 6 anni.",
            documents="Nessuno.", modes="at_location",
            schedule=["Sabato e domenica 10:30 e 15:00; scuole su prenotazione"],
            languages=["it,en,de"],
            accessibility="Duomo e Battistero accessibili; il Torrazzo si sale solo a piedi.",
            wheelchair=True, price=per_session(10), voucher=False, welfare=True,
            locations=["Punto di incontro in Piazza del Comune"],
        ),
        dict(
            key="liutai", vertical="culture", category="Laboratori", coop=0, town="Cremona",
            title="Liutai per un giorno: laboratorio per ragazzi",
            summary="Come nasce un violino? In una bottega di liuteria i ragazzi scoprono legni, "
                    "attrezzi e segreti e costruiscono un piccolo strumento.",
            description=(
                "Un liutaio cremonese apre la sua bottega a piccoli gruppi di ragazzi.\n\n"
                "- si toccano con mano abete e acero\n"
                "- si prova a usare sgorbie e pialletti (in sicurezza)\n"
                "- si costruisce un piccolo strumento a corde da portare a casa\n\n"
                "Prezzo per laboratorio, materiali compresi."
            ),
            target_group="Ragazze e ragazzi dai 9 ai 14 anni", age=(9, 14),
            eligibility="Su prenotazione, massimo 10 partecipanti.", documents="Nessuno.",
            modes="at_location", schedule=["Sabato 14:30-17:00"], languages=["it,en"],
            accessibility="Bottega con un gradino all'ingresso; rampa mobile su richiesta.",
            wheelchair=False, price=per_session(15), voucher=False, welfare=True,
            locations=["Bottega di liuteria"],
        ),
        dict(
            key="crema_veneziana", vertical="culture", category="Visite guidate", coop=1,
            town="Crema", address="Piazza del Duomo 25", postal_code="26013",
            lat=45.3636, lon=9.6848,
            title="Passeggiata nella Crema veneziana",
            summary="Una passeggiata gratuita nel centro di Crema, tra il Duomo, il Torrazzo "
                    "e le mura che ricordano i secoli sotto la Serenissima.",
            description=(
                "La guida racconta come Crema sia stata per oltre tre secoli un'isola veneziana "
                "in terra lombarda.\n\nLa passeggiata dura un'ora e mezza ed è adatta anche "
                "alle famiglie con passeggino."
            ),
            target_group="Tutti", age=None, eligibility="Aperto a tutti.", documents="Nessuno.",
            modes="at_location", schedule=["Prima domenica del mese alle 10:00"],
            languages=["it,en"], accessibility="Percorso in piano, lastricato.", wheelchair=True,
            price=free(), voucher=False, welfare=False,
            locations=["Punto di incontro davanti al Duomo"],
        ),
        dict(
            key="festa_po", vertical="culture", category="Eventi", coop=2, town="Casalmaggiore",
            title="Festa d'estate sul Po",
            summary="Tre serate di musica, teatro per bambini e cena sociale in golena, "
                    "organizzate con le associazioni del Casalasco.",
            description=(
                "Ogni sera uno spettacolo per bambini alle 19:00 e un concerto alle 21:00; la "
                "cucina è gestita dai ragazzi del nostro progetto di inserimento lavorativo.\n\n"
                "L'ingresso è libero; la cena si paga a parte."
            ),
            target_group="Famiglie e comunità", age=None, eligibility="Aperto a tutti.",
            documents="Nessuno.", modes="at_location",
            schedule=["Ultimo fine settimana di luglio, dalle 18:30"], languages=["it"],
            accessibility="Area feste in piano con bagni accessibili.", wheelchair=True,
            price=free(), voucher=False, welfare=False, locations=["Area feste in golena"],
        ),
    ],
    "sondrio": [
        dict(
            key="terrazzamenti", vertical="culture", category="Visite guidate", coop=1,
            town="Ponte in Valtellina",
            title="Passeggiata tra i terrazzamenti vitati della Valtellina",
            summary="Tre ore a piedi lungo la Via dei Terrazzamenti, tra muretti a secco, vigneti "
                    "e piccoli borghi, con una guida escursionistica.",
            description=(
                "I terrazzamenti della Valtellina sono un paesaggio costruito a mano in secoli di "
                "lavoro. La guida racconta come si coltiva la vite in forte pendenza e come si "
                "ricostruisce un muretto a secco.\n\n"
                "Il percorso è facile, con qualche salita. Prezzo a persona, assaggio in cantina "
                "compreso per gli adulti."
            ),
            target_group="Famiglie, camminatori, gruppi", age=None,
            eligibility="Su prenotazione; scarpe da escursione.", documents="Nessuno.",
            modes="at_location", schedule=["Da aprile a ottobre, sabato 9:00-12:00"],
            languages=["it,en,de"], accessibility="Sentiero non adatto alle carrozzine.",
            wheelchair=False, price=per_session(8), voucher=False, welfare=True,
            locations=["Punto di incontro in piazza"],
        ),
        dict(
            key="tirano", vertical="culture", category="Visite guidate", coop=2, town="Tirano",
            address="Piazza Basilica 1", postal_code="23037", lat=46.2089, lon=10.1574,
            title="Tirano e il Santuario della Madonna: visita guidata",
            summary="Il Santuario della Beata Vergine, il borgo antico e Palazzo Salis, dove "
                    "arriva il trenino rosso del Bernina.",
            description=(
                "La visita parte dal Santuario, con il suo organo ligneo e i portali scolpiti, e "
                "prosegue nel borgo, attraverso le porte medievali.\n\nPrezzo a persona; "
                "ridotto per i ragazzi."
            ),
            target_group="Famiglie, scuole, gruppi", age=None,
            eligibility="Aperto a tutti, su prenotazione.", documents="Nessuno.",
            modes="at_location", schedule=["Domenica alle 10:00 e alle 15:00"],
            languages=["it,de"], accessibility="Santuario accessibile; il borgo ha tratti in "
                                                "acciottolato.",
            wheelchair=True, price=per_session(6), voucher=False, welfare=True,
            locations=["Santuario della Madonna di Tirano"],
        ),
        dict(
            key="pizzoccheri", vertical="culture", category="Laboratori", coop=1, town="Teglio",
            title="Laboratorio del pizzocchero per famiglie",
            summary="A Teglio, patria dei pizzoccheri, si impasta il grano saraceno, si tirano "
                    "le tagliatelle e si pranza tutti insieme.",
            description=(
                "Una cuoca del paese insegna a preparare i pizzoccheri come una volta, con la "
                "farina di grano saraceno macinata a pietra.\n\nIl laboratorio finisce con il "
                "pranzo. Prezzo a persona, pranzo compreso; bambini sotto i 6 anni gratis."
            ),
            target_group="Famiglie con bambini dai 6 anni", age=(6, None),
            eligibility="Su prenotazione; segnalate allergie e intolleranze.",
            documents="Nessuno.", modes="at_location",
            schedule=["Domenica 10:00-14:00, da ottobre a maggio"], languages=["it,en"],
            accessibility="Sala al piano terra, accessibile.", wheelchair=True,
            price=per_session(18), voucher=False, welfare=True, locations=["Sala della Pro Loco"],
        ),
        dict(
            key="baita", vertical="culture", category="Eventi", coop=2,
            town="Chiesa in Valmalenco",
            title="Racconti e musica in baita",
            summary="Serate estive di racconti, leggende della Valmalenco e musica popolare per "
                    "famiglie e anziani. Ingresso gratuito.",
            description=(
                "Gli anziani del paese raccontano le storie di una volta, accompagnati da "
                "fisarmonica e chitarra.\n\nLe serate sono parte del nostro progetto contro la "
                "solitudine degli anziani in montagna; è previsto un trasporto gratuito dalle "
                "frazioni."
            ),
            target_group="Famiglie e anziani", age=None, eligibility="Aperto a tutti.",
            documents="Nessuno.", modes="at_location",
            schedule=["Venerdì di luglio e agosto alle 20:30"], languages=["it"],
            accessibility="Locale al piano terra con rampa.", wheelchair=True, price=free(),
            voucher=False, welfare=False, locations=["Baita comunale"],
        ),
    ],
}

# Services waiting for publication: (template key, status, cooperative index or None).
NOT_PUBLISHED = {
    "cremona": [("nido", "draft", 0), ("laboratori", "draft", 0), ("compagnia", "draft", 2),
                ("doposcuola_online", "in_review", 0), ("trasporto", "in_review", 1),
                ("consulenza_genitori", "in_review", 2)],
    "milano": [("laboratori", "draft", 0), ("cinema", "draft", 0),
               ("babysitting", "draft", 1), ("cse", "in_review", 2),
               ("pasti", "in_review", 2)],
    "sondrio": [("doposcuola", "draft", 0), ("sad", "draft", 0), ("sollievo_casa", "draft", 2),
                ("centro_estivo", "in_review", 0), ("cinema", "in_review", 1),
                ("memoria", "in_review", 1)],
}

# ---------------------------------------------------------------------------- building


def _crc(*parts) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode("utf-8"))


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _km(a: Municipality, b: Municipality) -> float:
    k = math.cos(math.radians((a.latitude + b.latitude) / 2))
    return 111.2 * math.hypot(a.latitude - b.latitude, (a.longitude - b.longitude) * k)


def seed_places(territory: Territory) -> dict[str, Municipality]:
    """The territory's municipalities and sub-categories (added if missing, by name)."""
    existing = {m.name: m for m in db.session.execute(select(Municipality)).scalars()}
    for name, istat, lat, lon, population, _cap in MUNICIPALITIES.get(territory.slug, []):
        if name not in existing:
            existing[name] = Municipality(
                territory_id=territory.id, name=name, province=PROVINCES[territory.slug],
                istat_code=istat, latitude=lat, longitude=lon, population=population)
            db.session.add(existing[name])
    categories = {(c.vertical, c.name) for c in db.session.execute(select(Category)).scalars()}
    for vertical, rows in CATEGORIES.items():
        for position, (name, name_en) in enumerate(rows):
            if (vertical, name) not in categories:
                db.session.add(Category(territory_id=territory.id, vertical=vertical, name=name,
                                        name_en=name_en, position=position))
    db.session.flush()
    return existing


class _Builder:
    """Turns templates into create_service() calls for one territory."""

    def __init__(self, territory: Territory, coops: list[Cooperative], staff: User,
                 coordinator: User, municipalities: dict[str, Municipality]):
        self.territory, self.slug = territory, territory.slug
        self.coops, self.staff, self.coordinator = coops, staff, coordinator
        self.places = municipalities
        self.caps = {row[0]: row[5] for row in MUNICIPALITIES[self.slug]}
        self.text = TERRITORY_TEXT[self.slug]
        self.categories = {(c.vertical, c.name): c
                           for c in db.session.execute(select(Category)).scalars()}
        self.rotation = [t for t in ROTATION[self.slug] if t in self.places]
        self.turn = 0
        self.instances: dict[str, int] = {}
        self.towns_used: dict[str, set] = {}
        self.serial = 0
        self.created: list[Service] = []

    # -- choices
    def _next_town(self, key: str, avoid: set | None = None) -> str:
        used = self.towns_used.setdefault(key, set()) | (avoid or set())
        for _ in range(len(self.rotation)):
            town = self.rotation[self.turn % len(self.rotation)]
            self.turn += 1
            if town not in used:
                break
        self.towns_used[key].add(town)
        return town

    def _price(self, spec, k: int) -> dict:
        price = spec["price"]
        price = price[k % len(price)] if isinstance(price, list) else price
        if "town" in spec:  # a territory's own service: its price is the real one
            factor = 1.0
        else:  # living costs differ by territory, and providers by a few percent
            factor = self.text["price"] * (0.95, 1.0, 1.05)[(k + _crc(self.slug, spec["key"])) % 3]

        def scale(cents: int) -> int:
            """Rounded as a price list would be: to 5 euro, 1 euro or 50 cents."""
            value = cents * factor
            step = 500 if value >= 10000 else 100 if value >= 2000 else 50
            return int(round(value / step) * step)

        if price["model"] == "free":
            return {"price_model": "free", "price_cents": None, "bands": []}
        if price["model"] == "income_based":
            bands = [dict(b, price_cents=scale(b["price_cents"])) for b in price["bands"]]
            return {"price_model": "income_based", "price_cents": None, "bands": bands}
        return {"price_model": price["model"], "price_cents": scale(price["cents"]), "bands": []}

    def _address(self, town: str, seed: str) -> tuple[str, str, float, float]:
        place = self.places[town]
        crc = _crc(seed, town)
        jitter_lat = ((crc % 1000) / 1000 - 0.5) * 0.008
        jitter_lon = (((crc // 1000) % 1000) / 1000 - 0.5) * 0.010
        number = 1 + (crc // 7) % 118
        if town == "Milano":
            street, cap, lat, lon = MILANO_STREETS[crc % len(MILANO_STREETS)]
            return f"{street} {number}", cap, round(lat + jitter_lat / 4, 5), round(lon + jitter_lon / 4, 5)
        streets = TOWN_STREETS.get(town, GENERIC_STREETS)
        street = streets[crc % len(streets)]
        return (f"{street} {number}", self.caps.get(town, ""),
                round(place.latitude + jitter_lat, 5), round(place.longitude + jitter_lon, 5))

    def _home_area(self, town: str, size: int) -> list[int]:
        centre = self.places[town]
        nearest = sorted(self.places.values(), key=lambda m: (_km(centre, m), m.name))
        return [m.id for m in nearest[:size]]

    # -- one service
    def build(self, spec: dict, status: str = Service.PUBLISHED, coop_index: int | None = None):
        key = spec["key"]
        k = self.instances.get(key, 0)
        self.instances[key] = k + 1
        self.serial += 1
        if coop_index is None:
            coop_index = spec.get("coop")
        if coop_index is None:
            focus = FOCUS[self.slug][spec["vertical"]]
            coop_index = focus[k % len(focus)]
        coop = self.coops[coop_index]
        town = spec.get("town") or self._next_town(key)
        ctx = {"town": town, "area": self.text["area"], "coop": coop.name}
        names = spec.get("names") or [""]
        ctx["name"] = names[k % len(names)].format(**ctx)
        extras = spec.get("extras") or [""]
        ctx["extra"] = extras[k % len(extras)].format(**ctx)

        def pick(field, default=""):
            value = spec.get(field, default)
            if isinstance(value, list):
                value = value[(k + _crc(self.slug)) % len(value)]
            return value.format(**ctx) if isinstance(value, str) else value

        title = pick("title")
        age = spec.get("age") or (None, None)
        price = self._price(spec, k)
        modes = spec["modes"]
        locations = []
        if "at_location" in modes:
            seen = {town}
            for position, pattern in enumerate(spec.get("locations") or ["{name}"]):
                where = town if position == 0 else self._next_town(key + "#extra", avoid=seen)
                seen.add(where)
                if position == 0 and spec.get("address"):
                    address, cap = spec["address"], spec.get("postal_code", self.caps.get(town, ""))
                    lat, lon = spec.get("lat"), spec.get("lon")
                else:
                    address, cap, lat, lon = self._address(where, title + str(position))
                locations.append({
                    "name": pattern.format(**dict(ctx, town=where)).strip(), "address": address,
                    "postal_code": cap, "municipality_id": self.places[where].id,
                    "latitude": lat, "longitude": lon,
                })
        home = self._home_area(town, spec["home"]) if "at_home" in modes else []
        mailbox = _slug(ctx["name"]) if ctx["name"] and len(ctx["name"]) < 30 \
            else f"{_slug(key)}-{_slug(town)}"
        data = {
            "title": title,
            "summary": pick("summary"),
            "description": pick("description"),
            "vertical": spec["vertical"],
            "category_id": self.categories[(spec["vertical"], spec["category"])].id,
            "target_group": pick("target_group"),
            "age_min": age[0], "age_max": age[1],
            "eligibility": pick("eligibility"),
            "documents": pick("documents"),
            "delivery_modes": modes,
            "schedule_text": pick("schedule"),
            "languages": pick("languages", "it"),
            "accessibility": pick("accessibility"),
            "wheelchair_accessible": bool(spec.get("wheelchair")),
            "price_model": price["price_model"],
            "price_cents": price["price_cents"],
            "accepts_card": spec.get("card", True),
            "accepts_voucher": bool(spec.get("voucher")),
            "accepts_welfare_credit": bool(spec.get("welfare")),
            "contact_email": f"{mailbox}.{self.slug}@demo.test",
            "contact_phone": "+39 %s 555 %d%03d" % (self.text["prefix"], coop_index + 1,
                                                    self.serial),
        }
        author = self.staff if coop_index == 0 else None
        service = catalogue.create_service(coop, data, author, locations=locations,
                                           home_municipalities=home, bands=price["bands"])
        status = spec.get("status", status)
        if status in (Service.IN_REVIEW, Service.PUBLISHED):
            catalogue.change_status(service, Service.IN_REVIEW, author, as_coordinator=False)
        if status == Service.PUBLISHED:
            catalogue.change_status(service, Service.PUBLISHED, self.coordinator, as_coordinator=True)
        self.created.append(service)
        return service


def seed_catalogue(territory: Territory, coops: list[Cooperative], staff: User,
                   coordinator: User) -> int:
    """Municipalities, categories and services of one demo territory (run in its scope).

    Returns the number of services created: 0 when the territory already has some.
    """
    municipalities = seed_places(territory)
    if territory.slug not in ROTATION or len(coops) < 3:
        return 0
    if db.session.execute(select(Service.id).limit(1)).first() is not None:
        return 0
    builder = _Builder(territory, coops, staff, coordinator, municipalities)
    for spec in TEMPLATES.values():
        for _ in range(spec["count"]):
            builder.build(spec)
    for spec in SPECIALS.get(territory.slug, []):
        builder.build(spec)
    for key, status, coop_index in NOT_PUBLISHED.get(territory.slug, []):
        builder.build(TEMPLATES[key], status=status, coop_index=coop_index)
    return len(builder.created)
