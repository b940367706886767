"""Property-based fuzzing of the API against its own document (Schemathesis), on both databases.

Every operation of ``/api/openapi.json`` (loaded from the WSGI app) is called with generated
valid and invalid input by a signed-in user (a token with every scope a user may hold), and all
of Schemathesis's checks apply to each answer: no server error, the status code, content type and
headers documented, the body matching its schema, invalid input refused, valid input accepted.
Examples per operation and mode are bounded (``FUZZ_EXAMPLES``, default 6) so each database costs
a minute or two; raise it locally to dig deeper. Every operation runs before the test fails, so
one run lists every finding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway_kit.identity.scopes import ROLE_SCOPES
from tests.conftest import make_app, make_project, make_token, make_user

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
#: A Server-Sent Events stream follows a live job for minutes by design; its 401/404 paths are
#: the code of /logs, which is fuzzed.
SKIP = ("/api/v1/jobs/{job_id}/logs/follow",)
#: Operations whose schema-valid input may still be refused with 422 for a reason that lives in
#: the database, not in the document: the project named must be one of the caller's, the
#: inputs must suit the application's resources and the project's allocation, an instructor
#: must manage the paying project. Every other check still applies to them.
STATEFUL = {
    ("POST", "/api/v1/datasets"),
    ("POST", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs/{job_id}/resubmit"),
    ("POST", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions/estimate"),
    ("POST", "/api/v1/workshops"),
}


def _fuzz(operation: Any, mode: GenerationMode, auth: dict[str, str]) -> str | None:
    """Run one operation in one mode; the finding as text, or None."""
    stateful = (operation.method.upper(), operation.path) in STATEFUL
    excluded = [positive_data_acceptance] if stateful else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing invalid can be sent (e.g. no parameters at all)
    except (Exception, BaseExceptionGroup) as exc:
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
    return None


def test_the_api_answers_as_documented(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=database_url)
    user = make_user(app, "fuzz")
    make_project(app, "fuzzing", {user: "manager"})
    auth = {"Authorization": "Bearer " + make_token(app, user, sorted(ROLE_SCOPES["user"]))}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            finding = _fuzz(operation, mode, auth)
            if finding:
                failures.append(finding)
    assert operations > 40, operations
    assert not failures, "\n\n".join(failures)
