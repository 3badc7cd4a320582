"""HTTP for one audience."""
