"""Notify stage: hand alert events to the people who asked for them."""
