"""Which territory a request or a job belongs to."""
