"""The labels a moderator gives a reviewed claim."""

LABELS = ("deepfake", "impersonation", "false_claim", "misleading", "satire", "not_disinformation")
