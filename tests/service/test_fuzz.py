"""Fuzz every operation of the service's OpenAPI schema against a real server.

Schemathesis reads /openapi.json from the running server and sends each operation requests
generated from it, schema-valid and schema-violating ones (wrong types, missing or extra
fields, broken multipart bodies, missing API key). Whatever arrives, the server must answer
without a 5xx, and its answers must match the schema's declared bodies and media types.
"""

from __future__ import annotations

import math

import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from service.launcher import Server

# Requests per operation: about 10 s for all operations on two busy cores.
EXAMPLES_PER_OPERATION = 40
# The strict server's key (tests/service/conftest.py), under the name FastAPI gives the
# X-API-Key header's security scheme; schemathesis also sends requests without it.
API_KEY_AUTH = {"auth": {"openapi": {"APIKeyHeader": {"api_key": "s3cret"}}}}
# What counts as rejecting schema-violating data: schemathesis' default statuses, and 413,
# with which the server refuses an upload over its size limits before it reads the other
# fields (a multipart form field holds text, so a "violating" integer there may be valid).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
SCHEMATHESIS_CONFIG = API_KEY_AUTH | {
    "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}
}
SKIPPED_CHECKS = [
    # A schema-valid body can still be wrong for the model (3 channels, not 2; a PNG that
    # is no PNG): the schema cannot say that, so a 4xx for "valid" data is no failure.
    positive_data_acceptance,
]


# Sizes of a declared axis: small real ones, and ones whose product no memory holds.
AXES = st.one_of(st.integers(0, 300), st.integers(2**20, 2**40))
DTYPES = ["'<f8'", "'>f4'", "'|u1'", "'<i8'", "'|b1'", "'<c16'", "'|O'", "'<U3'", "'<M8[s]'", "f()"]
MAX_DATA_BYTES = 64 * 2**10


@st.composite
def npy_files(draw: st.DrawFn) -> bytes:
    """.npy files as an attacker writes them: any dtype (object, strings, dates, a call),
    any rank, axes from empty to astronomically large, either memory order, format 1 or 2,
    and data that fits the header, falls short of it, runs past it or is missing."""
    shape = tuple(draw(st.lists(AXES, max_size=5)))
    descr = draw(st.sampled_from(DTYPES))
    fortran = draw(st.booleans())
    text = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}".encode()
    version = draw(st.sampled_from([1, 2]))
    length_bytes = 2 if version == 1 else 4
    text += b" " * (63 - (len(text) + 8 + length_bytes) % 64) + b"\n"
    header = b"\x93NUMPY" + bytes([version, 0]) + len(text).to_bytes(length_bytes, "little") + text
    declared = math.prod(shape) * 8
    fits = min(declared, MAX_DATA_BYTES)
    size = draw(st.sampled_from([fits, max(fits - 8, 0), fits + 8, 0]))
    return header + draw(st.binary(min_size=size, max_size=size))


# Every file field of the schema (format: binary) also gets such .npy files.
schemathesis.openapi.format("binary", st.one_of(npy_files(), st.binary(max_size=4096)))


@pytest.fixture(scope="module")
def api_schema(strict_server: Server) -> OpenApiSchema:
    """The strict server's schema: it needs the API key, so the auth checks mean something."""
    config = schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
    return schemathesis.openapi.from_url(f"{strict_server.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None)
def test_no_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=SKIPPED_CHECKS)
