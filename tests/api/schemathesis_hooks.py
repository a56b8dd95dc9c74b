"""Schemathesis hooks of tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis reuses ids it saw in answers (GET /tokens/ lists the run's own token): a generated
DELETE of the run's own token, workspace or sheet would leave every later request a 401 or 404.
Such a DELETE is sent to an id that does not exist instead (GC_ST_PROTECTED: "tokens/1 ...").

A generated op_id (the client's id of an edit, which makes a resent edit idempotent) is made
fresh: hypothesis draws the same few UUIDs again and again, and an op_id reused for another edit
is rightly a 409."""

import os
import uuid

import schemathesis

PROTECTED = {tuple(item.split("/")) for item in os.environ.get("GC_ST_PROTECTED", "").split()}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if isinstance(case.body, dict) and isinstance(case.body.get("op_id"), str):
        case.body["op_id"] = str(uuid.uuid4())
    if case.method.upper() != "DELETE":
        return
    resource = case.path.removeprefix("/api/v1/").split("/")[0]
    if case.path == f"/api/v1/{resource}/{{id}}/" and (resource, str(case.path_parameters.get("id"))) in PROTECTED:
        case.path_parameters["id"] = 0
