"""The API's schemas are built once: building one deep-copies its declared fields, about
8% of a list request's CPU (issue 17's lists)."""

from __future__ import annotations

import marshmallow
import pytest

from tests.factories import make_task, make_user


@pytest.mark.parametrize(
    "path", ["/api/tasks/?page=1", "/api/users/?page=1", "/api/errors/", "/api/analytics/"]
)
def test_a_read_builds_no_schema_the_previous_read_built(client, admin_headers, monkeypatch, path):
    make_task(user=make_user("+15551230001"))
    assert client.get(path, headers=admin_headers).status_code == 200
    built = []
    original = marshmallow.Schema.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting)
    response = client.get(path, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()
    assert built == []
