"""What several commands share: options, and how a service started from here logs."""

import getpass

import click

from config import Settings
from monitor.logs import configure_logging

# Who does what a command changes, for the audit trail; by default the operator's login name.
ACTOR = click.option("--actor", default=getpass.getuser, show_default="your login name",
                     help="Who does it (kept in the audit trail).")


def log_as_a_service(settings: Settings) -> None:
    """A long-running process started from the command line logs as the services do."""
    configure_logging(settings.log_level, settings.log_format)
