"""Property-based run of schemathesis against /api/openapi.json, through the WSGI app.

Every generated request (valid and invalid) must get a documented status with a body that
matches the document, none may be a 500, and one the document calls invalid must be refused.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sms_agent.api.openapi import EXAMPLE_ID, EXAMPLE_PHONE
from tests.factories import make_error, make_task, make_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A request the document calls invalid (a field too long, a number out of range, a
    # string where an integer goes) must be refused, never taken: the document states the
    # limits the API enforces, not looser ones.
    negative_data_rejection,
]


@pytest.fixture
def api_schema(app, admin_headers):
    """The live document, with rows behind the document's example path values."""
    user = make_user(EXAMPLE_PHONE)
    make_task(user, id=uuid.UUID(EXAMPLE_ID), success=True, processing_time=1.0)
    make_error(id=uuid.UUID(EXAMPLE_ID), user_phone=EXAMPLE_PHONE)
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # The same examples on every run and machine: a failure in CI is one to replay here, not
    # a draw that the next run may not make.
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
