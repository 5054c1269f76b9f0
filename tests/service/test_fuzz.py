"""Fuzz every operation of the service's OpenAPI schema against a real server.

Schemathesis reads /openapi.json from the running server and sends each operation requests
generated from it, schema-valid and schema-violating ones (wrong types, missing or extra
fields, broken multipart bodies, missing API key). Whatever arrives, the server must answer
without a 5xx, and its answers must match the schema's declared bodies and media types.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from service.launcher import Server

# Requests per operation: about 10 s for all operations on two busy cores.
EXAMPLES_PER_OPERATION = 40
# The strict server's key (tests/service/conftest.py), under the name FastAPI gives the
# X-API-Key header's security scheme; schemathesis also sends requests without it.
API_KEY_AUTH = {"auth": {"openapi": {"APIKeyHeader": {"api_key": "s3cret"}}}}
SKIPPED_CHECKS = [
    # A schema-valid body can still be wrong for the model (3 channels, not 2; a PNG that
    # is no PNG): the schema cannot say that, so a 4xx for "valid" data is no failure.
    positive_data_acceptance,
]


@pytest.fixture(scope="module")
def api_schema(strict_server: Server) -> OpenApiSchema:
    """The strict server's schema: it needs the API key, so the auth checks mean something."""
    config = schemathesis.Config.from_dict(API_KEY_AUTH)
    return schemathesis.openapi.from_url(f"{strict_server.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None)
def test_no_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=SKIPPED_CHECKS)
