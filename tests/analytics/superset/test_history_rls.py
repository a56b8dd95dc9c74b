"""The history's row-level security as Gridcast writes it into guest tokens (no Superset needed:
the rules and the dashboard's chart are Gridcast's own; test_superset.py runs them through the real
Superset): every token keeps the workspace's rows, a viewer's also hides the history dataset."""

import pytest

from accounts.models import Role
from analytics.models_superset import SupersetObject
from analytics.superset import guest_tokens, provisioning
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def history_dataset():
    return SupersetObject.objects.create(kind="dataset", key="history", superset_id=41)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN, Role.OWNER])
def test_editors_read_their_workspace_history(workspace, history_dataset, role):
    person = member(workspace, role)
    assert guest_tokens.rls_rules(person, workspace.pk) == [{"clause": f"workspace_id = {workspace.pk}"}]


def test_a_viewer_reads_no_history(workspace, viewer, history_dataset):
    assert guest_tokens.rls_rules(viewer, workspace.pk) == [
        {"clause": f"workspace_id = {workspace.pk}"},
        {"dataset": 41, "clause": "1 = 0"},
    ]


def test_the_history_chart_counts_people_changes_of_its_workspace_only(workspace):
    specs = {key: (dataset, params) for key, _, dataset, params in provisioning.chart_specs(workspace.pk, 1, [], 7)}
    dataset, params = specs[f"ws:{workspace.pk}:history"]
    assert dataset == 7 and params["groupby"] == ["actor"] and params["time_grain_sqla"] == "P1D"
    filters = {(f["subject"], f["operator"], f["comparator"]) for f in params["adhoc_filters"]}
    assert ("workspace_id", "==", workspace.pk) in filters and ("actor", "IS NOT NULL", None) in filters
    query = provisioning.query_context(7, params)["queries"][0]
    assert query["columns"][1:] == ["actor"]  # by person, per day
    assert {"col": "workspace_id", "op": "==", "val": workspace.pk} in query["filters"]
