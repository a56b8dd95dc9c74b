"""Formula columns through the services: computed in the edit's own operation, kept by renames,
#REF! after a deletion, cycles and unknown columns refused with nothing applied."""

import pytest

from core.errors import CellValueInvalid, InvalidInput
from sheets import services
from sheets.models import Column, Operation, Row
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}, {"name": "Item"}]


@pytest.fixture
def shop(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 2.5, "c2": 4}, {"c1": 1, "c2": 0}, {}])
    return sheet


def rows(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", "data"))


def add(sheet, owner, name, formula, **options):
    options = {"formula": formula, **options}
    op = services.column_add(sheet=sheet, actor=owner, name=name, type="formula", options=options)
    return op.payload["column"]["key"], op


def test_adding_a_formula_column_computes_every_row_in_its_operation(shop, owner):
    key, op = add(shop, owner, "Total", "[Price] * [Qty]")
    assert [data[key] for _, data in rows(shop)] == [10, 0, 0]
    column = Column.objects.get(sheet=shop, key=key)
    assert column.options == {
        "formula": "[Price] * [Qty]",
        "source": "{c1} * {c2}",
        "result_type": None,
        "inferred": "number",
    }
    first = rows(shop)[0][0]
    assert op.payload["computed"][key][str(first)] == 10


def test_an_edit_of_an_input_recomputes_the_formula_cell_in_the_same_operation(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    double, _ = add(shop, owner, "Double", "[Total] * 2")
    row = rows(shop)[0][0]
    op = services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": "c2", "value": 10}])
    assert op.payload["cells"] == [
        {"row": row, "col": "c2", "value": 10},
        {"row": row, "col": key, "value": 25},
        {"row": row, "col": double, "value": 50},
    ]
    assert {"row": row, "col": key, "value": 10} in op.previous["cells"]
    assert Row.objects.get(pk=row).data[double] == 50
    assert Operation.objects.filter(sheet=shop).latest("version").pk == op.pk


def test_inserted_rows_arrive_with_their_formula_cells(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    op = services.rows_insert(sheet=shop, actor=owner, rows=[{"c1": 3, "c2": 3}])
    assert op.payload["rows"][0]["values"][key] == 9


def test_errors_stay_in_their_cell(shop, owner):
    key, _ = add(shop, owner, "Unit", "[Price] / [Qty]")
    assert [data[key] for _, data in rows(shop)] == [0.625, "#DIV/0!", "#DIV/0!"]
    row = rows(shop)[1][0]
    op = services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": "c2", "value": 2}])
    assert op.payload["cells"][-1] == {"row": row, "col": key, "value": 0.5}


def test_writes_to_a_formula_cell_are_refused(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    row = rows(shop)[0][0]
    with pytest.raises(CellValueInvalid, match="Total: the cells of a formula column are computed"):
        services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": key, "value": 1}])
    with pytest.raises(CellValueInvalid, match="computed"):
        services.rows_insert(sheet=shop, actor=owner, rows=[{key: 1}])
    assert Row.objects.get(pk=row).data[key] == 10


def test_a_rename_keeps_the_formula(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price]*[Qty]")
    op = services.column_rename(sheet=shop, actor=owner, key="c1", name="Unit price")
    assert op.payload["formulas"][key]["formula"] == "[Unit price]*[Qty]"
    row = rows(shop)[0][0]
    services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": "c1", "value": 3}])
    assert Row.objects.get(pk=row).data[key] == 12


def test_deleting_a_referenced_column_makes_ref_errors(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    op = services.column_delete(sheet=shop, actor=owner, key="c2")
    assert [data[key] for _, data in rows(shop)] == ["#REF!"] * 3
    assert set(op.payload["computed"][key].values()) == {"#REF!"}
    row = rows(shop)[0][0]
    services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": "c1", "value": 3}])
    assert Row.objects.get(pk=row).data[key] == "#REF!"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("[Price] * [Nope]", "no column named 'Nope' in this sheet (at character 11)"),
        ("[Price] *", "unexpected the end of the formula"),
        ("[Total] + 1", "circular reference: Total -> Total"),
        ("", 'a formula column needs options {"formula": "..."}'),
    ],
)
def test_bad_formulas_are_refused_and_nothing_is_added(shop, owner, formula, message):
    versions = shop.version
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        add(shop, owner, "Total", formula)
    assert not Column.objects.filter(sheet=shop, name="Total").exists()
    shop.refresh_from_db()
    assert shop.version == versions


def test_a_cycle_through_two_columns_is_refused_and_the_formula_kept(shop, owner):
    first, _ = add(shop, owner, "A", "[Price] + 1")
    add(shop, owner, "B", "[A] * 2")
    with pytest.raises(InvalidInput, match="circular reference: A -> B -> A"):
        services.column_retype(sheet=shop, actor=owner, key=first, type="formula", options={"formula": "[B] + 1"})
    assert Column.objects.get(sheet=shop, key=first).options["formula"] == "[Price] + 1"


def test_changing_a_formula_recomputes_every_row(shop, owner):
    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    op = services.column_retype(sheet=shop, actor=owner, key=key, type="formula", options={"formula": "[Qty] + 1"})
    assert [data[key] for _, data in rows(shop)] == [5, 1, 1]
    assert op.payload["options"]["source"] == "{c2} + 1"


def test_a_column_becomes_a_formula_and_back(shop, owner):
    op = services.column_retype(sheet=shop, actor=owner, key="c3", type="formula", options={"formula": '"#" & [Qty]'})
    assert [data["c3"] for _, data in rows(shop)] == ["#4", "#0", "#"]
    assert op.payload["options"]["inferred"] == "text"
    services.column_retype(sheet=shop, actor=owner, key="c3", type="text")
    row = rows(shop)[0][0]
    services.cells_update(sheet=shop, actor=owner, cells=[{"row": row, "col": "c3", "value": "free"}])
    assert Row.objects.get(pk=row).data["c3"] == "free"


def test_a_declared_result_type_is_kept(shop, owner):
    key, _ = add(shop, owner, "Label", '[Qty] & ""', result_type="number")
    assert [data.get(key) for _, data in rows(shop)] == [4, 0, None]
    with pytest.raises(InvalidInput, match="result_type is one of"):
        add(shop, owner, "Other", "1", result_type="money")


def test_a_sheet_can_be_created_with_formula_columns(workspace, owner):
    columns = [*COLUMNS, {"name": "Total", "type": "formula", "options": {"formula": "[Price] * [Qty]"}}]
    sheet = make_sheet(workspace, owner, columns=columns)
    assert Column.objects.get(sheet=sheet, name="Total").options["source"] == "{c1} * {c2}"
    op = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 2, "c2": 2}])
    assert op.payload["rows"][0]["values"]["c4"] == 4
    with pytest.raises(InvalidInput, match="no column named 'Nope'"):
        make_sheet(workspace, owner, columns=[{"name": "T", "type": "formula", "options": {"formula": "[Nope]"}}])


def test_undoing_a_deletion_brings_the_formula_back_and_filters_read_results(shop, owner):
    from sheets import selectors, undo

    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    services.column_delete(sheet=shop, actor=owner, key="c2")
    assert {data[key] for _, data in rows(shop)} == {"#REF!"}
    undo.operation_undo(sheet=shop, actor=owner)
    assert [data[key] for _, data in rows(shop)] == [10, 0, 0]
    found = selectors.rows_window(shop, offset=0, limit=10, filters=[(key, "gt", "5")])["rows"]
    assert [r["values"][key] for r in found] == [10]


def test_undoing_a_formula_change_computes_the_former_formula_again(shop, owner):
    from sheets import undo

    key, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    services.column_retype(sheet=shop, actor=owner, key=key, type="formula", options={"formula": "[Qty] + 1"})
    assert [data[key] for _, data in rows(shop)] == [5, 1, 1]
    op = undo.operation_undo(sheet=shop, actor=owner)
    assert [data[key] for _, data in rows(shop)] == [10, 0, 0]
    assert Column.objects.get(sheet=shop, key=key).options["formula"] == "[Price] * [Qty]"
    assert op.payload["computed"][key]


def test_a_changed_formula_recomputes_the_formulas_reading_it_only(shop, owner):
    total, _ = add(shop, owner, "Total", "[Price] * [Qty]")
    taxed, _ = add(shop, owner, "Taxed", "[Total] * 2")
    label, _ = add(shop, owner, "Label", '[Qty] & "x"')
    Row.objects.filter(sheet=shop).update(data={"c1": 1, "c2": 1, label: "stale"})
    op = services.column_retype(sheet=shop, actor=owner, key=total, type="formula", options={"formula": "[Qty] + 1"})
    assert set(op.payload["computed"]) == {total, taxed}
    assert {data[label] for _, data in rows(shop)} == {"stale"}  # it does not read Total
    assert {(data[total], data[taxed]) for _, data in rows(shop)} == {(2, 4)}
