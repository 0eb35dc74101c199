"""The UI's forms (Flask-WTF): each validates its fields and carries a CSRF token."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError

from monitor.alerts.watchlists import KINDS
from monitor.db.models import LABELS, Role
from monitor.notify.subscriptions import EVENT_TYPES
from monitor.review.decisions import DISMISS_REASONS

LABEL_CHOICES = [SelectChoice(label, label.replace("_", " ")) for label in LABELS]
ROLE_CHOICES = [SelectChoice(role.value) for role in Role]


class ButtonForm(FlaskForm):
    """A form that is only a button: the CSRF token is all it carries."""


class SignInForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


REASON_CHOICES = [SelectChoice("", "— reason (to dismiss) —"),
                  *(SelectChoice(reason) for reason in DISMISS_REASONS)]


class Why:
    """A dismissal says why: a reason picked, words written, or both (the forms' reason and
    note fields)."""

    def dismissing(self) -> bool:
        raise NotImplementedError

    def why(self) -> str:
        """The reason picked and the words written, as the review log keeps them."""
        return "; ".join(part for part in (self.reason.data, (self.note.data or "").strip()) if part)

    def validate_note(self, note):
        if self.dismissing() and not self.why():
            raise ValidationError("say why it is dismissed: pick a reason or write one")


class DecisionForm(Why, FlaskForm):
    decision = SelectField("Decision", choices=[SelectChoice("confirm"), SelectChoice("dismiss")])
    label = SelectField("Label", choices=[SelectChoice("", "— label (to confirm) —"), *LABEL_CHOICES],
                        validators=[Optional()])
    reason = SelectField("Reason", choices=REASON_CHOICES, validators=[Optional()])
    note = TextAreaField("Why", validators=[Length(max=4000)])
    change = BooleanField("Change the earlier decision")
    queue = HiddenField()  # the queue's filters, to go on to its next alert

    def dismissing(self) -> bool:
        return self.decision.data == "dismiss"


class AssignForm(FlaskForm):
    """To whom: "me", "nobody" or an account's id (any moderator's)."""

    assignee = StringField("Assign to", validators=[DataRequired(), Length(max=16)])


class BulkForm(Why, FlaskForm):
    """One action on the alerts ticked in the queue."""

    action = SelectField("With the selected", choices=[SelectChoice("dismiss"),
                                                       SelectChoice("assign", "assign to")])
    reason = SelectField("Reason", choices=REASON_CHOICES, validators=[Optional()])
    note = StringField("Why", validators=[Length(max=4000)])
    assignee = StringField("Assignee", validators=[Optional(), Length(max=16)])

    def dismissing(self) -> bool:
        return self.action.data == "dismiss"


class NoteForm(FlaskForm):
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=4000)])


class MergeForm(FlaskForm):
    other_cluster_id = IntegerField("Merge cluster", validators=[DataRequired(), NumberRange(min=1)])
    reason = StringField("Why", validators=[DataRequired(), Length(max=1000)])


class SplitForm(FlaskForm):
    post_id = HiddenField(validators=[DataRequired()])
    reason = StringField("Why", validators=[DataRequired(), Length(max=1000)])


class KnownClaimForm(FlaskForm):
    text = TextAreaField("Claim", validators=[Length(max=4000)])
    label = SelectField("Label", choices=LABEL_CHOICES)
    url = StringField("Fact-check link", validators=[Optional(), URL(require_tld=False), Length(max=2000)])


class FeedForm(FlaskForm):
    url = StringField("Feed URL", validators=[DataRequired(), URL(require_tld=False), Length(max=2000)])
    title = StringField("Name", validators=[Length(max=200)])
    interval = IntegerField("Every (seconds)", default=900, validators=[NumberRange(min=60)])


class ChannelForm(FlaskForm):
    channel = StringField("Channel", validators=[DataRequired(), Length(max=200)])


class PauseForm(FlaskForm):
    reason = StringField("Why", validators=[DataRequired(), Length(max=500)])


class WatchlistForm(FlaskForm):
    kind = SelectField("Kind", choices=[SelectChoice(kind) for kind in KINDS])
    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    variants = TextAreaField("Other spellings, one per line", validators=[Length(max=4000)])
    note = StringField("Note", validators=[Length(max=1000)])


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    role = SelectField("Role", choices=ROLE_CHOICES)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


TOKEN_SCOPES = {Role.viewer: "read", Role.moderator: "review", Role.admin: "admin"}


class TokenForm(FlaskForm):
    name = StringField("What it is for", validators=[DataRequired(), Length(max=128)])
    scope = SelectField("Scope")

    def __init__(self, role: Role, **kwargs):
        """Offers only the scopes ROLE, the holder's, may give a token."""
        super().__init__(**kwargs)
        self.scope.choices = [SelectChoice(scope.value, name) for scope, name in TOKEN_SCOPES.items()
                              if role.allows(scope)]


class WebhookForm(FlaskForm):
    url = StringField("Receiver URL", validators=[DataRequired(), URL(require_tld=False), Length(max=2000)])
    events = SelectMultipleField("Events (none: all)", choices=[SelectChoice(e) for e in EVENT_TYPES])
    min_score = FloatField("Minimum score", validators=[Optional()])
    labels = SelectMultipleField("Labels", choices=LABEL_CHOICES)
    languages = StringField("Languages (comma-separated codes)", validators=[Length(max=200)])
    source_ids = StringField("Source ids (comma-separated)", validators=[Length(max=500)])


def form_errors(form: FlaskForm) -> str:
    """Every field's problems in one line, to flash."""
    return "; ".join(f"{getattr(form, name).label.text}: {', '.join(problems)}"
                     if name != "csrf_token" else "the form expired: send it again"
                     for name, problems in form.errors.items())


def submitted(form: FlaskForm) -> bool:
    """True when FORM came back valid; otherwise its problems are flashed to the user."""
    if form.validate_on_submit():
        return True
    flash(form_errors(form), "error")
    return False
