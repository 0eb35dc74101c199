"""schemathesis against the app's own OpenAPI document: generated requests to every API
endpoint, as an admin, must never make the app fail, and every answer must be one the
document promises (status code, content type, body schema).

Not checked: that every schema-valid body is accepted. The API refuses, with 400 and the
reason, what is well formed but makes no sense (a channel reference that names no
channel), which a schema cannot express."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from monitor.accounts.tokens import issue_token
from monitor.db.models import Role, User
from web import create_app

EXAMPLES_PER_OPERATION = 15


def test_every_api_endpoint_answers_as_documented(database, eager_pipeline, accounts):
    with database.session() as session:
        token = issue_token(session, session.get(User, accounts["admin"]), "fuzz", Role.admin, "setup")
    headers = {"Authorization": f"Bearer {token.secret}"}
    app = create_app(eager_pipeline.conf.monitor_settings)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def answers_as_documented(case):
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        answers_as_documented()
