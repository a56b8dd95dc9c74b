"""The embedded default runs background jobs as `make run` starts it: a CSV too large to import in
the request becomes a job that the server's own jobs worker (a thread beside the analytics writer,
on SQLite) runs to the end, polled through the API."""

import time
import uuid

from .conftest import OWNER, Session
from .test_concurrency import _api, _token

# Over IMPORT_INLINE_BYTES (1 MB), so a job; wide rows rather than many (SQLite, 2 cores).
ROWS = 2_000
NOTE = "x" * 600


def test_a_large_import_runs_as_a_job_in_the_embedded_server(embedded, demo):
    api = _api(embedded.url, _token(Session(embedded.url).login(OWNER), demo["workspace"]))
    csv = "name,amount,note\n" + "".join(f"n{j},{j},{NOTE}\n" for j in range(ROWS))
    assert len(csv) > 1024 * 1024
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="large.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ).encode()
    status, job = api(
        "POST",
        f"/api/v1/workspaces/{demo['workspace']}/import/",
        content_type=f"multipart/form-data; boundary={boundary}",
        raw=body,
    )
    assert status == 202, job
    deadline, seen = time.monotonic() + 300, []
    while job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"the import job did not end: {job}"
        time.sleep(0.5)
        status, job = api("GET", f"/api/v1/imports/{job['id']}/")
        assert status == 200, job
        seen.append(job["progress"])
    assert job["status"] == "done", job
    assert job["rows"] == ROWS and job["progress"] == 1.0 and seen == sorted(seen)
    status, sheet = api("GET", f"/api/v1/sheets/{job['sheet']}/")
    assert status == 200 and sheet["name"] == "large"
