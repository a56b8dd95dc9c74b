"""What the writer tells operators (analytics/writethrough/lag.py, core/metrics.py): the lake's lag
per sheet and overall, the operations applied, and each operation's op_id in its debug log line."""

import logging
import uuid

import pytest
from prometheus_client import REGISTRY

from core import metrics
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_observes_the_lake_lag_of_each_sheet(writer, workspace, owner, caplog):
    sheet = make_sheet(workspace, owner, rows=1)
    row = Row.objects.filter(sheet=sheet).first().pk
    writer.catch_up()
    before_ops, before_lags = value("gridcast_lake_operations_total"), value("gridcast_lake_lag_seconds_count")
    op_id = uuid.uuid4()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "a"}], op_id=op_id)
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "b"}])
    with caplog.at_level(logging.DEBUG, logger="analytics.writethrough.writer"):
        assert writer.step() == 2
    assert value("gridcast_lake_operations_total") == before_ops + 2
    assert value("gridcast_lake_lag_seconds_count") == before_lags + 1  # one sheet in the batch
    lag = value("gridcast_lake_sheet_lag_seconds", sheet=str(sheet.pk))
    assert 0 < lag < 30
    assert any(f"op_id {op_id}" in record.getMessage() for record in caplog.records)


def test_sheet_labels_are_bounded():
    seen = {metrics.sheet_label(n, limit=10**9) for n in range(3)}  # labels of this process so far
    limit = len(metrics._sheet_labels)
    assert metrics.sheet_label(10**12, limit=limit) == "other"
    assert seen <= metrics._sheet_labels
    assert metrics.sheet_label(1, limit=limit) == "1"  # a sheet with a label keeps it
