"""News sources: RSS/Atom/JSON feeds and the full text of the articles they link to."""
