"""/api/openapi.json describes every endpoint and validates; /api/docs works offline."""

from __future__ import annotations

import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from sms_agent.extensions import db
from sms_agent.models import OutboundMessage
from sms_agent.models.types import iana_timezones
from tests.factories import make_error, make_task, make_user

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_api_route_and_method_is_described(app, document):
    described = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.docs_asset"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == described


def test_operations_have_summaries_bodies_and_error_responses(document):
    create_task = document["paths"]["/api/tasks/"]["post"]
    assert create_task["summary"].startswith("Create a task")
    body = create_task["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TaskCreateIn"}
    assert {"201", "400", "401", "403", "413", "415", "429"} <= set(create_task["responses"])
    error = create_task["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "Retry-After" in create_task["responses"]["429"]["headers"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert method in METHODS and operation["summary"], (path, method)


def test_every_operation_documents_the_web_servers_refusals(document):
    """gunicorn refuses an over-long URL or header before any route runs
    (tests/test_web_server.py sends them)."""
    error = {"$ref": "#/components/schemas/Error"}
    responses = document["components"]["responses"]
    for name in ("UriTooLong", "HeaderFieldsTooLarge"):
        assert responses[name]["content"] == {"application/json": {"schema": error}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            refusals = {code: operation["responses"].get(code) for code in ("414", "431")}
            assert refusals == {
                "414": {"$ref": "#/components/responses/UriTooLong"},
                "431": {"$ref": "#/components/responses/HeaderFieldsTooLarge"},
            }, (path, method)
    assert "414" in document["info"]["description"]


def test_list_filters_are_query_parameters(document):
    parameters = document["paths"]["/api/tasks/"]["get"]["parameters"]
    names = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
    assert names == {
        "page",
        "page_size",
        "category",
        "success",
        "status",
        "refusal_reason",
        "user_phone",
        "created_after",
        "created_before",
        "ordering",
        "cursor",
    }


@pytest.mark.parametrize(
    "path, name",
    [
        ("/api/tasks/", "created_after"),
        ("/api/tasks/", "created_before"),
        ("/api/tasks/analytics/", "created_after"),
        ("/api/errors/", "start_date"),
        ("/api/errors/", "end_date"),
        ("/api/users/{phone_number}/messages/", "after"),
    ],
)
def test_date_filters_are_described_as_a_date_or_a_date_time(document, path, name):
    [schema] = [
        p["schema"] for p in document["paths"][path]["get"]["parameters"] if p["name"] == name
    ]
    assert schema["type"] == "string"
    assert [option["format"] for option in schema["anyOf"]] == ["date", "date-time"]


def test_token_security_is_declared(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["TokenAuth"]["description"],
    }
    assert schemes["BearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"TokenAuth": []}, {"BearerAuth": []}]
    assert document["paths"]["/api/openapi.json"]["get"]["security"] == []


def test_json_field_names_follow_the_design_document(document):
    schemas = document["components"]["schemas"]
    assert "metadata" in schemas["TaskOut"]["properties"]
    assert schemas["TaskOut"]["properties"]["id"]["format"] == "uuid"
    assert set(schemas["UserOut"]["properties"]["stats"]) == {"$ref"} or "allOf" in str(
        schemas["UserOut"]["properties"]["stats"]
    )


def test_docs_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/api/docs/assets/") for asset in assets)
    assert "http://" not in html and "https://" not in html
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.data) > 100
        response.close()


def test_docs_page_answers_with_a_trailing_slash_too(client):
    """Every other API URL ends with a slash, so a reader types /api/docs/ (a 404 before)."""
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert 'id="swagger-ui"' in page.get_data(as_text=True)


def test_lists_read_on_by_cursor_say_so(document):
    for path in ("/api/users/", "/api/tasks/", "/api/errors/"):
        operation = document["paths"][path]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert "cursor" in names and "next_cursor" in body["required"], path


def _body_fields(document):
    """(schema name, field name, field schema) of every request body field."""
    for name, schema in document["components"]["schemas"].items():
        if name.endswith("In"):
            for field, described in schema["properties"].items():
                yield name, field, described


def test_every_text_a_body_takes_says_nul_is_refused(document):
    """Regression: the document let a client send NUL characters, which every text field
    refuses with a 400 (PostgreSQL cannot store them)."""
    texts = [
        (name, field, described)
        for name, field, described in _body_fields(document)
        if described.get("type") == "string"
        and "enum" not in described
        and described.get("format") not in ("email", "uuid")
    ]
    assert texts
    for name, field, described in texts:
        assert described.get("pattern"), (name, field)
        assert not re.search(described["pattern"], "a\x00b"), (name, field)
        assert re.search(described["pattern"], "Zo\u00eb 1 555 020 0123 \U0001f600"), (name, field)


@pytest.mark.parametrize(
    "schema, field", [("UserCreateIn", "phone_number"), ("TaskCreateIn", "user_phone")]
)
def test_phone_numbers_are_described_with_their_limits(document, schema, field):
    """Regression: an empty phone number matched the document and was a 400."""
    described = document["components"]["schemas"][schema]["properties"][field]
    assert described["minLength"] == 1 and described["maxLength"] == 250
    assert not re.search(described["pattern"], "") and not re.search(described["pattern"], "-")
    assert re.search(described["pattern"], "+1 (555) 020-0123")
    assert "E.164" in described["description"]
    path = document["paths"]["/api/users/{phone_number}/"]["get"]["parameters"][0]
    assert path["name"] == "phone_number" and path["schema"]["minLength"] == 1


def test_a_timezone_is_one_of_the_names_the_api_takes(document):
    """Regression: the document said any string; all but the IANA names are a 400."""
    for schema in ("UserCreateIn", "UserUpdateIn"):
        described = document["components"]["schemas"][schema]["properties"]["timezone"]
        assert described["enum"] == sorted(iana_timezones())


def test_page_size_is_described_with_the_configured_default_and_most(app, client):
    app.config.update(API_PAGE_SIZE=25, API_MAX_PAGE_SIZE=250)
    document = client.get("/api/openapi.json").get_json()
    for path in ("/api/users/", "/api/tasks/", "/api/conversations/"):
        [page_size] = [
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "page_size"
        ]
        assert page_size["schema"]["default"] == 25, path
        assert page_size["schema"]["maximum"] == 250, path
        assert "at most 250" in page_size["description"], path
        assert "a larger page_size is a 400" in page_size["description"], path


def test_ordering_and_cursors_are_described_by_pattern(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/tasks/"]["get"]["parameters"]}
    ordering = re.compile(parameters["ordering"]["schema"]["pattern"])
    for taken in ("-created_at,status", "tokens_used", "", "  ", "created_at, -status "):
        assert ordering.fullmatch(taken), taken
    refusals = ("-colour", "created_at;drop", "-", "- created_at", "status,", ",status", "a,,b")
    for refused in refusals:
        assert not ordering.fullmatch(refused), refused
    cursor = parameters["cursor"]["schema"]
    assert re.fullmatch(cursor["pattern"], "eyJvcmRlciI6IFsiLWNy_-") and cursor["maxLength"]
    assert not re.fullmatch(cursor["pattern"], "not a cursor!")


def _answer_matches(document, path: str, response) -> None:
    """The JSON answer against its operation's documented schema (OpenAPI 3.0: nullable)."""
    operation = document["paths"][path]["get"]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]
    root = {"allOf": [schema["schema"]], "components": document["components"]}
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in OAS30Validator(root).iter_errors(response.get_json())
    ]
    assert not errors, (path, errors)


def test_every_answer_has_every_documented_field_nulls_as_documented(client, admin_headers, admin):
    """Each Out schema's fields are required in the document (a generated client need not
    treat each as optional), and a null comes only where the document allows one: a failed
    task, a refused one, an error log about nobody, a thread both ways, analytics."""
    user = make_user("+15550207777", email=None)
    failed = make_task(user, status="failed", error_message="timeout", ai_response=None)
    make_task(user, status="refused", refusal_reason="over_quota")
    make_task(user, status="completed", success=True, processing_time=1.5, tokens_used=10)
    make_error(user_phone=None, task_id=None)
    make_error(user_phone=user.phone_number, task_id=failed.id)
    db.session.add(OutboundMessage(to_number=user.phone_number, body="Hi", staff_user=admin))
    db.session.commit()
    phone = "%2B15550207777"
    document = client.get("/api/openapi.json").get_json()
    for path, url in [
        ("/api/users/", "/api/users/"),
        ("/api/users/{phone_number}/", f"/api/users/{phone}/"),
        ("/api/users/{phone_number}/messages/", f"/api/users/{phone}/messages/"),
        ("/api/users/{phone_number}/export/", f"/api/users/{phone}/export/"),
        ("/api/conversations/", "/api/conversations/"),
        ("/api/tasks/", "/api/tasks/"),
        ("/api/tasks/{task_id}/", f"/api/tasks/{failed.id}/"),
        ("/api/tasks/analytics/", "/api/tasks/analytics/"),
        ("/api/errors/", "/api/errors/"),
        ("/api/analytics/", "/api/analytics/"),
    ]:
        response = client.get(url, headers=admin_headers)
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:200])
        _answer_matches(document, path, response)
    schemas = document["components"]["schemas"]
    assert "created_at" in schemas["TaskOut"]["required"]


def test_analytics_series_and_categories_are_described_entry_by_entry(document):
    """Regression: daily_stats and top_categories were lists of any object."""
    schemas = document["components"]["schemas"]
    daily = schemas["TaskAnalyticsOut"]["properties"]["daily_stats"]["items"]
    assert daily == {"$ref": "#/components/schemas/DailyStatOut"}
    assert set(schemas["DailyStatOut"]["required"]) == {
        "date",
        "total",
        "successful",
        "failed",
        "refused",
    }
    top = schemas["AnalyticsOut"]["properties"]["top_categories"]["items"]
    assert top == {"$ref": "#/components/schemas/CategoryCountOut"}


@pytest.mark.parametrize(
    "schema, field", [("TaskCreateIn", "sms_content"), ("SendMessageIn", "message")]
)
def test_a_text_of_only_spaces_is_described_as_refused(document, schema, field):
    """Regression: the document let any text of 1-1600 characters through; one of only
    spaces or invisible characters is a 400 nothing in it warned of."""
    described = document["components"]["schemas"][schema]["properties"][field]
    assert "invisible characters" in described["description"]
    assert "is a 400" in described["description"]


@pytest.mark.parametrize("kind", ["user", "task", "error log"])
def test_a_deletion_answers_no_content_and_no_content_type(client, admin_headers, kind):
    """Regression: a DELETE's 204 said `Content-Type: text/html; charset=utf-8` of a body
    it has not, where the document says no content: a client that reads the type before
    the status took the answer for an HTML error page."""
    user = make_user()
    url = {
        "user": f"/api/users/%2B{user.phone_number[1:]}/",
        "task": f"/api/tasks/{make_task(user).id}/",
        "error log": f"/api/errors/{make_error().id}/",
    }[kind]

    response = client.delete(url, headers=admin_headers)

    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.data == b"" and "Content-Type" not in response.headers
