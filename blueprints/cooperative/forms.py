from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField, DateField, EmailField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField,
    TextAreaField, TimeField, URLField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp, URL, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.models.catalogue import DELIVERY_MODES, LANGUAGES, PRICE_MODELS, VERTICALS
from marketplace.services.policy import BOOKING_MODES, MAX_FREE_CANCEL_HOURS, PARTICIPANT_FIELDS
from marketplace.validation import euros_to_cents, normalise_fiscal_code, normalise_vat, parse_id


def valid_vat(form, field):
    if not field.data:
        return
    try:
        field.data = normalise_vat(field.data)
    except ValueError:
        raise ValidationError(_l("This is not a valid Italian VAT number (partita IVA, 11 digits)."))


def valid_fiscal_code(form, field):
    if not field.data:
        return
    try:
        field.data = normalise_fiscal_code(field.data)
    except ValueError:
        raise ValidationError(_l("This is not a valid Italian fiscal code (codice fiscale)."))


class CooperativeProfileForm(FlaskForm):
    name = StringField(_l("Name shown to citizens"), validators=[DataRequired(_l("Enter a name.")), Length(max=160)])
    legal_name = StringField(_l("Legal name"), validators=[DataRequired(_l("Enter the legal name.")), Length(max=200)])
    fiscal_code = StringField(_l("Fiscal code"), validators=[DataRequired(_l("Enter the fiscal code.")), valid_fiscal_code],
                              description=_l("11 digits, or 16 characters."))
    vat_number = StringField(_l("VAT number (partita IVA)"), validators=[Optional(), valid_vat],
                             description=_l("11 digits."))
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code (CAP)"), validators=[
        Optional(), Regexp(r"^\d{5}$", message=_l("A CAP has 5 digits."))])
    municipality = StringField(_l("Municipality"), validators=[Optional(), Length(max=100)])
    province = StringField(_l("Province"), validators=[
        Optional(), Regexp(r"^[A-Za-z]{2}$", message=_l("Use the two-letter code, e.g. CR."))])
    email = EmailField(_l("Contact e-mail"), validators=[
        DataRequired(_l("Enter an e-mail address.")),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    website = URLField(_l("Website"), validators=[
        Optional(), URL(message=_l("Enter a full address, like https://www.esempio.it.")),
        Regexp(r"^https?://", message=_l("Enter a full address, like https://www.esempio.it."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=8000)])
    logo_text = StringField(_l("Logo text"), validators=[Optional(), Length(max=60)],
                            description=_l("A short name or initials shown in place of a logo."))


# ---------------------------------------------------------------------------- service listings

MAX_LOCATIONS = 3
MAX_BANDS = 4
# Larger amounts are typing mistakes; the bound also keeps cents inside a 32-bit integer.
MAX_EUROS = Decimal("1000000")


def parse_euros(text: str | None) -> int | None:
    """A price in euros as integer cents (see ``validation.euros_to_cents``); empty -> None.
    Raises ValueError (with a message for the user) on anything else or above 1.000.000."""
    cents = euros_to_cents(text, negative_message=_l("A price cannot be negative."),
                           format_message=_l("Enter an amount in euros, like 12,50."))
    if cents is not None and cents > MAX_EUROS * 100:
        raise ValueError(_l("Enter an amount up to 1.000.000 euros."))
    return cents


def format_euros(cents: int | None) -> str:
    """Integer cents as the form shows them back: 1250 -> '12,50'."""
    if cents is None:
        return ""
    return f"{cents // 100},{cents % 100:02d}"


class EuroField(StringField):
    """A euro amount typed by a person; ``cents`` holds the parsed integer (or None)."""

    cents: int | None = None

    def pre_validate(self, form):
        self.cents = None
        try:
            self.cents = parse_euros(self.data)
        except ValueError as exc:
            raise ValidationError(exc.args[0])


class MultiCheckboxField(SelectMultipleField):
    """A group of checkboxes; templates render it with forms.checkbox_group."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _optional_int(value):
    """A SelectField's id choice: None when empty; not an id raises ValueError ("Not a valid choice")."""
    if value in (None, "", "None"):
        return None
    number = parse_id(value)
    if number is None:
        raise ValueError(value)
    return number


def _location_fields(n: int) -> tuple:
    """Name, address, CAP and municipality fields of place ``n`` (in page order)."""
    return (
        StringField(_l("Name of place %(n)d", n=n), validators=[Optional(), Length(max=160)],
                    description=_l("For example: Nido Il Girasole.")),
        StringField(_l("Address of place %(n)d", n=n), validators=[Optional(), Length(max=200)]),
        StringField(_l("Postal code (CAP) of place %(n)d", n=n), validators=[
            Optional(), Regexp(r"^\d{5}$", message=_l("A CAP has 5 digits."))]),
        StringField(_l("Municipality of place %(n)d", n=n), validators=[Optional(), Length(max=100)],
                    description=_l("Type its name, for example: Cremona."),
                    render_kw={"list": "municipality-names", "autocomplete": "off"}),
    )


def _band_fields(n: int) -> tuple:
    """Label, ISEE limit and price fields of income band ``n``."""
    return (
        StringField(_l("Name of band %(n)d", n=n), validators=[Optional(), Length(max=100)]),
        EuroField(_l("ISEE up to, in euros (band %(n)d)", n=n),
                  description=_l("Leave empty for no upper limit.")),
        EuroField(_l("Price in euros (band %(n)d)", n=n)),
    )


class ServiceForm(FlaskForm):
    """A cooperative's listing as its staff edit it. Choices that depend on the territory
    (sub-categories, municipalities) are set by ``with_choices``."""

    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=160)])
    summary = StringField(_l("Summary"), validators=[Optional(), Length(max=300)],
                          description=_l("One sentence shown in the search results."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)], description=_l(
        "You can format the text with Markdown: a blank line starts a new paragraph, "
        "**bold** and *italic* between asterisks, lines starting with \"- \" make a list, "
        "[text](https://www.esempio.it) makes a link, \"### \" at the start of a line makes a heading."))
    vertical = SelectField(_l("Area"), choices=[], validators=[DataRequired(_l("Choose an area."))],
                           invalid_choice_message=_l("Choose an area."))
    category_id = SelectField(_l("Sub-category"), choices=[], validators=[Optional()],
                              invalid_choice_message=_l("Choose a sub-category of the chosen area."),
                              description=_l("Optional. It must belong to the area chosen above."))
    target_group = StringField(_l("Who it is for"), validators=[Optional(), Length(max=200)],
                               description=_l("For example: families with children under 3."))
    age_min = IntegerField(_l("Minimum age"), validators=[
        Optional(), NumberRange(min=0, max=120, message=_l("Enter an age between 0 and 120."))],
        description=_l("In years. Leave empty if there is no limit."))
    age_max = IntegerField(_l("Maximum age"), validators=[
        Optional(), NumberRange(min=0, max=120, message=_l("Enter an age between 0 and 120."))],
        description=_l("In years. Leave empty if there is no limit."))
    eligibility = TextAreaField(_l("Requirements"), validators=[Optional(), Length(max=5000)],
                                description=_l("Who can ask for the service and on what conditions."))
    documents = TextAreaField(_l("Documents needed"), validators=[Optional(), Length(max=5000)])
    delivery_modes = MultiCheckboxField(_l("Where the service is given"), choices=[], default=["at_location"],
                                        invalid_choice_message=_l("Choose where the service is given."))
    # Up to MAX_LOCATIONS places; fields are generated in page order (WTForms orders by creation).
    loc1_name, loc1_address, loc1_postal_code, loc1_municipality = _location_fields(1)
    loc2_name, loc2_address, loc2_postal_code, loc2_municipality = _location_fields(2)
    loc3_name, loc3_address, loc3_postal_code, loc3_municipality = _location_fields(3)
    home_municipalities = MultiCheckboxField(
        _l("Municipalities where home visits are made"), choices=[], coerce=int,
        invalid_choice_message=_l("Unknown municipality."),
        description=_l("Needed when the service is given at home."))
    schedule_text = TextAreaField(_l("Opening hours"), validators=[Optional(), Length(max=2000)],
                                  description=_l("For example: Monday to Friday, 7:30–16:30."))
    languages = MultiCheckboxField(_l("Languages spoken"), choices=[], default=["it"],
                                   invalid_choice_message=_l("Unknown language."))
    accessibility = TextAreaField(_l("Accessibility"), validators=[Optional(), Length(max=2000)],
                                  description=_l("Steps, lifts, toilets, help for people with sight or hearing loss."))
    wheelchair_accessible = BooleanField(_l("Accessible to wheelchair users"))
    price_model = RadioField(_l("Price"), choices=[], default="free",
                             invalid_choice_message=_l("Choose a price model."))
    price = EuroField(_l("Price in euros"), description=_l(
        "For a fixed price, per hour or per session. For example: 12,50."))
    # Up to MAX_BANDS income bands, used with the income-based price model.
    band1_label, band1_isee_max, band1_price = _band_fields(1)
    band2_label, band2_isee_max, band2_price = _band_fields(2)
    band3_label, band3_isee_max, band3_price = _band_fields(3)
    band4_label, band4_isee_max, band4_price = _band_fields(4)
    accepts_card = BooleanField(_l("Card payments"), default=True)
    accepts_voucher = BooleanField(_l("Municipal vouchers"))
    accepts_welfare_credit = BooleanField(_l("Employer welfare credit"))
    contact_email = EmailField(_l("Contact e-mail"), validators=[
        Optional(), Length(max=254),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=30)])
    booking_mode = SelectField(_l("How citizens get the service"), choices=list(BOOKING_MODES.items()),
                               default="slots", invalid_choice_message=_l("Choose how citizens get the service."),
                               description=_l("Book a date: you publish dates with seats and citizens book one. "
                                              "Ask: citizens send a request and you propose a date."))
    participant_fields = SelectField(_l("Details asked for each participant"),
                                     choices=list(PARTICIPANT_FIELDS.items()), default="",
                                     invalid_choice_message=_l("Choose which details to ask for."),
                                     description=_l("Ask for the age when it matters, e.g. for a summer camp."))
    free_cancel_hours = IntegerField(_l("Free cancellation until (hours before the date)"), default=48, validators=[
        Optional(), NumberRange(min=0, max=MAX_FREE_CANCEL_HOURS,
                                message=_l("Enter a number of hours between 0 and %(max)d.", max=MAX_FREE_CANCEL_HOURS))],
        description=_l("Until then, citizens who cancel get back everything they paid. 0: until the start. "
                       "Empty: 48 hours."))
    late_refund_percent = IntegerField(_l("Refund after that (percent)"), default=0, validators=[
        Optional(), NumberRange(min=0, max=100, message=_l("Enter a percentage between 0 and 100."))],
        description=_l("What part of the price goes back to citizens who cancel later, until the start. "
                       "0: no refund. Empty: 0."))


    def with_choices(self, categories, municipalities, locale: str = "it") -> "ServiceForm":
        self.vertical.choices = [("", _l("Choose an area"))] + [(k, v) for k, v in VERTICALS.items()]
        self.category_id.choices = [("", _l("No sub-category"))] + [
            (str(c.id), f"{VERTICALS.get(c.vertical, c.vertical)}: {c.label(locale)}") for c in categories]
        self.delivery_modes.choices = list(DELIVERY_MODES.items())
        self.home_municipalities.choices = [(m.id, m.name) for m in municipalities]
        self.languages.choices = list(LANGUAGES.items())
        self.price_model.choices = list(PRICE_MODELS.items())
        return self

    def location_rows(self):
        """(n, name, address, postal_code, municipality) fields of each place."""
        return [(n, *(self[f"loc{n}_{part}"] for part in ("name", "address", "postal_code", "municipality")))
                for n in range(1, MAX_LOCATIONS + 1)]

    def band_rows(self):
        return [(n, *(self[f"band{n}_{part}"] for part in ("label", "isee_max", "price")))
                for n in range(1, MAX_BANDS + 1)]

    def validate_price(self, field):
        if self.price_model.data in ("fixed", "per_hour", "per_session") and field.cents is None \
                and not field.errors:
            raise ValidationError(_l("Enter the price."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.price_model.data == "income_based":
            for n, label, isee_max, price in self.band_rows():
                if (label.data or "").strip() or isee_max.data or price.data:
                    if price.cents is None and not price.errors:
                        price.errors.append(_l("Enter the price of this band."))
                        ok = False
        return ok

    def service_data(self) -> dict:
        """The scalar fields as catalogue.create_service/update_service take them."""
        model = self.price_model.data
        return {
            "title": self.title.data or "",
            "summary": self.summary.data or "",
            "description": self.description.data or "",
            "vertical": self.vertical.data,
            "category_id": _optional_int(self.category_id.data),
            "target_group": self.target_group.data or "",
            "age_min": self.age_min.data,
            "age_max": self.age_max.data,
            "eligibility": self.eligibility.data or "",
            "documents": self.documents.data or "",
            "delivery_modes": ",".join(m for m in DELIVERY_MODES if m in (self.delivery_modes.data or [])),
            "schedule_text": self.schedule_text.data or "",
            "languages": ",".join(c for c in LANGUAGES if c in (self.languages.data or [])),
            "accessibility": self.accessibility.data or "",
            "wheelchair_accessible": bool(self.wheelchair_accessible.data),
            "price_model": model,
            "price_cents": self.price.cents if model in ("fixed", "per_hour", "per_session") else None,
            "accepts_card": bool(self.accepts_card.data),
            "accepts_voucher": bool(self.accepts_voucher.data),
            "accepts_welfare_credit": bool(self.accepts_welfare_credit.data),
            "contact_email": (self.contact_email.data or "").strip(),
            "contact_phone": self.contact_phone.data or "",
            "booking_mode": self.booking_mode.data or "slots",
            "participant_fields": self.participant_fields.data or "",
            "free_cancel_hours": 48 if self.free_cancel_hours.data is None else self.free_cancel_hours.data,
            "late_refund_percent": 0 if self.late_refund_percent.data is None else self.late_refund_percent.data,
        }

    def bands(self) -> list[dict]:
        """Filled income bands (only for the income-based price model)."""
        if self.price_model.data != "income_based":
            return []
        rows = []
        for n, label, isee_max, price in self.band_rows():
            if price.cents is not None:
                rows.append({"label": (label.data or "").strip(), "isee_max_cents": isee_max.cents,
                             "price_cents": price.cents})
        return rows

    @staticmethod
    def initial(service) -> dict:
        """What the form shows for an existing listing."""
        data = {f: getattr(service, f) for f in (
            "title", "summary", "description", "vertical", "target_group", "age_min", "age_max",
            "eligibility", "documents", "schedule_text", "accessibility", "wheelchair_accessible",
            "price_model", "accepts_card", "accepts_voucher", "accepts_welfare_credit",
            "contact_email", "contact_phone", "booking_mode", "participant_fields", "free_cancel_hours",
            "late_refund_percent")}
        data["category_id"] = str(service.category_id) if service.category_id else ""
        data["delivery_modes"] = service.delivery_mode_list
        data["languages"] = service.language_codes
        data["home_municipalities"] = [a.municipality_id for a in service.areas]
        data["price"] = format_euros(service.price_cents)
        for n, loc in enumerate(service.locations[:MAX_LOCATIONS], start=1):
            data.update({f"loc{n}_name": loc.name, f"loc{n}_address": loc.address,
                         f"loc{n}_postal_code": loc.postal_code,
                         f"loc{n}_municipality": loc.municipality.name})
        for n, band in enumerate(service.price_bands[:MAX_BANDS], start=1):
            data.update({f"band{n}_label": band.label, f"band{n}_isee_max": format_euros(band.isee_max_cents),
                         f"band{n}_price": format_euros(band.price_cents)})
        return data


class ServiceImageForm(FlaskForm):
    image = FileField(_l("Image"), validators=[FileRequired(_l("Choose an image file."))],
                      description=_l("JPEG, PNG or WebP, up to 2 MB."))
    alt_text = StringField(_l("Description of the image"), validators=[
        DataRequired(_l("Describe the image for people who cannot see it.")), Length(max=250)],
        description=_l("What the image shows, for people who cannot see it. For example: "
                       "children playing in the garden of the nursery."))


# ---------------------------------------------------------------------------- slots and tickets

WEEKDAYS = [(0, _l("Monday")), (1, _l("Tuesday")), (2, _l("Wednesday")), (3, _l("Thursday")),
            (4, _l("Friday")), (5, _l("Saturday")), (6, _l("Sunday"))]
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def _date(label, **kw):
    return DateField(label, format=DATE_FORMATS, validators=[DataRequired(_l("Enter a date, like 25/12/2026."))],
                     **kw)


def _time(label):
    return TimeField(label, format=["%H:%M", "%H.%M"], validators=[DataRequired(_l("Enter a time, like 09:30."))])


def _capacity():
    return IntegerField(_l("Seats"), validators=[
        InputRequired(_l("Enter the number of seats (at least 1).")),
        NumberRange(min=1, max=100000, message=_l("The capacity must be at least 1."))],
        description=_l("How many people can come."))


class _NewSlotsForm(FlaskForm):
    """What single and weekly slot forms share; choices are set by ``with_choices``."""

    location_id = SelectField(_l("Place"), choices=[], coerce=_optional_int, validate_choice=True,
                              invalid_choice_message=_l("Choose one of the places of this service."))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)],
                       description=_l("Optional. For example: meeting point at the entrance."))
    copy_from = SelectField(_l("Tickets"), choices=[], coerce=_optional_int,
                            invalid_choice_message=_l("Choose a date of this service."),
                            description=_l("Copy the ticket types of another date, or create one “Intero” ticket."))
    price = EuroField(_l("Price of the “Intero” ticket in euros"),
                      description=_l("Used when no date is copied. 0 for free."))

    def with_choices(self, service, slots) -> "_NewSlotsForm":
        from flask_babel import format_datetime

        self.location_id.choices = [(None, _l("No specific place"))] + [
            (loc.id, ", ".join(p for p in (loc.name, loc.address) if p)) for loc in service.locations]
        self.copy_from.choices = [(None, _l("New “Intero” ticket with the price below"))] + [
            (s.id, _l("Copy the tickets of %(when)s", when=format_datetime(s.starts_at, "short"))) for s in slots]
        return self

    def validate_price(self, field):
        if self.copy_from.data is None and field.cents is None and not field.errors:
            raise ValidationError(_l("Enter the price (0 for free)."))


class SlotForm(_NewSlotsForm):
    date = _date(_l("Date"))
    start_time = _time(_l("Start time"))
    end_time = _time(_l("End time"))
    capacity = _capacity()


class RecurringSlotsForm(_NewSlotsForm):
    weekdays = MultiCheckboxField(_l("Days of the week"), choices=WEEKDAYS, coerce=int,
                                  invalid_choice_message=_l("Choose days of the week."))
    from_date = _date(_l("First date"))
    to_date = _date(_l("Last date"), description=_l("At most 26 weeks after the first date."))
    start_time = _time(_l("Start time"))
    end_time = _time(_l("End time"))
    capacity = _capacity()
    exceptions = StringField(_l("Dates to skip"), validators=[Optional(), Length(max=2000)],
                             description=_l("Optional. Holidays and closures, separated by commas: 25/12/2026, 01/01/2027."))


class TicketTypeForm(FlaskForm):
    name = StringField(_l("Name of the ticket"), validators=[DataRequired(_l("Enter the name of the ticket.")),
                                                             Length(max=80)],
                       description=_l("For example: Ridotto, Bambini."))
    price = EuroField(_l("Price in euros"), description=_l("0 for free. For example: 8,50."))
    quota = IntegerField(_l("Quota"), validators=[Optional(), NumberRange(min=1, message=_l(
        "The quota must be between 1 and the capacity of the date."))],
        description=_l("Optional. At most this many seats of the date are sold with this ticket."))
    min_per_order = IntegerField(_l("Minimum per booking"), default=0, validators=[
        Optional(), NumberRange(min=0, max=100, message=_l("Enter a number between 0 and 100."))])
    max_per_order = IntegerField(_l("Maximum per booking"), default=10, validators=[
        InputRequired(_l("Enter a number between 1 and 100.")),
        NumberRange(min=1, max=100, message=_l("Enter a number between 1 and 100."))])

    def validate_price(self, field):
        if field.cents is None and not field.errors:
            raise ValidationError(_l("Enter the price (0 for free)."))

    def ticket_data(self) -> dict:
        return {"name": (self.name.data or "").strip(), "price_cents": self.price.cents, "quota": self.quota.data,
                "min_per_order": self.min_per_order.data or 0, "max_per_order": self.max_per_order.data}


class CancelSlotForm(FlaskForm):
    reason = TextAreaField(_l("Why the date is cancelled"), validators=[
        DataRequired(_l("Explain to the people who booked why the date is cancelled.")),
        Length(max=300, message=_l("Keep the reason under %(max)d characters.", max=300))],
        description=_l("Sent to everyone who booked and shown on their booking. For example: the guide is ill."))
    confirm = BooleanField(_l("Yes, cancel this date"), validators=[
        DataRequired(_l("Tick the box to confirm the cancellation."))])


class CheckInForm(FlaskForm):
    code = StringField(_l("Ticket code"), validators=[DataRequired(_l("Enter the ticket code.")), Length(max=40)],
                       description=_l("Type or paste the code printed on the ticket. Capitals and spaces do not matter."),
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"})
