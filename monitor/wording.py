"""Counts in words, as reasons and summaries say them."""


def plural(count: int, noun: str) -> str:
    """'1 post', '2 posts', '7,700 posts'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
