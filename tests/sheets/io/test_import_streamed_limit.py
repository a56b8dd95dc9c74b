"""Threat: the import size limit (GRIDCAST["MAX_IMPORT_BYTES"]) was checked after the whole
upload had been stored, so a client could make the server write any amount to disk. An upload
handler ahead of Django's stops the upload once the limit is crossed: 413 JSON, nothing stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from sheets.models import ImportJob, Sheet

pytestmark = pytest.mark.django_db

STORED = []


class CountingTemporaryFileHandler(TemporaryFileUploadHandler):
    """Django's handler for large uploads, counting what it is given to store."""

    def receive_data_chunk(self, raw_data, start):
        STORED.append(len(raw_data))
        return super().receive_data_chunk(raw_data, start)


@pytest.fixture
def small_limit(settings, tmp_path):
    STORED.clear()
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_IMPORT_BYTES": 1000}
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_HANDLERS = [f"{__name__}.CountingTemporaryFileHandler"]
    return tmp_path


@pytest.mark.parametrize("size", [20_000, 2_000_000])  # within the first chunk; announced far too large
def test_an_upload_over_the_limit_is_stopped_while_it_streams(api, small_limit, workspace, editor, size):
    content = b"a,b\n" + b"1,2\n" * (size // 4)
    response = api(editor).post(
        f"/api/v1/workspaces/{workspace.pk}/import/",
        {"file": SimpleUploadedFile("big.csv", content)},
        format="multipart",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "too_large" and error["message"] == "the file is larger than 1000 bytes"
    assert sum(STORED) <= 1000  # never more than the limit handed on to be stored
    assert list(small_limit.iterdir()) == []  # the temporary file is gone
    assert not Sheet.objects.exists() and not ImportJob.objects.exists()


def test_an_upload_within_the_limit_still_imports(api, small_limit, workspace, editor):
    small = SimpleUploadedFile("small.csv", b"a,b\n1,2\n")
    response = api(editor).post(f"/api/v1/workspaces/{workspace.pk}/import/", {"file": small}, format="multipart")
    assert response.status_code == 201, response.content
    assert sum(STORED) > 0
    assert Sheet.objects.get().name == "small"
