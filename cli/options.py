"""Options several commands share."""

import getpass

import click

# Who does what a command changes, for the audit trail; by default the operator's login name.
ACTOR = click.option("--actor", default=getpass.getuser, show_default="your login name",
                     help="Who does it (kept in the audit trail).")
