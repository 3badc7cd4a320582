"""Use cases. Services never read ``request``; they raise DomainError for broken rules."""


class DomainError(Exception):
    """A business rule refused the action; ``message`` is shown to the user (localised)."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
