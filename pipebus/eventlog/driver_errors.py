"""Database driver errors in words: what an ``EventLogError`` says when the log refuses."""

from __future__ import annotations


def reason(error: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and links."""
    original = getattr(error, "orig", None) or error
    text = str(original).splitlines()[0] if str(original) else type(original).__name__
    if "file is not a database" in text:
        return "the file is not an SQLite database (corrupt, or not a database at all)"
    return text
