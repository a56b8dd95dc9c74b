"""Saved views of a sheet: the one schema of a view's config (`config_check`), how a saved config
meets the sheet's live columns (`config_applied`: deleted columns dropped and named as problems),
which views a caller sees, and footer totals computed in SQL over the whole filtered sheet.

A config: {"filters": {"op": "and"|"or", "conditions": [{"column", "operator", "value"}]},
"sorts": [{"column", "direction": "asc"|"desc"}], "hidden": [key], "frozen": n, "order": [key],
"widths": {key: px}, "totals": {key: "sum"|"avg"|"min"|"max"|"count"|"filled"|"unique"}}; every
part optional.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import Avg, Count, FloatField, Max, Min, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.db.models.signals import pre_delete

from accounts.models import User
from accounts.permissions import Access
from core.errors import InvalidInput, NotFound

from . import column_types, selectors
from .models import Column, Sheet, SheetView

PARTS = ("filters", "sorts", "hidden", "frozen", "order", "widths", "totals")
OPERATORS = ("eq", "ne", "contains", "not_contains", "gt", "gte", "lt", "lte", "empty", "not_empty", "in")
NO_VALUE = ("empty", "not_empty")
TOTALS = ("sum", "avg", "min", "max", "count", "filled", "unique")
NUMERIC_TOTALS = ("sum", "avg")
ORDERED_TOTALS = ("min", "max")
MAX_CONDITIONS = 50
MAX_SORTS = 10
MAX_VALUE_CHARS = 1000
WIDTH_MIN, WIDTH_MAX = 40, 2000


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{where}: a column key (text) is needed")
    return value


def _keys(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f"{where} must be a list of column keys")
    keys = [_key(v, where) for v in value]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"{where} names a column twice")
    return keys


def _check_filters(raw: Any, columns: dict[str, Column]) -> dict:
    if not isinstance(raw, dict) or set(raw) - {"op", "conditions"}:
        raise InvalidInput('filters must be {"op": "and"|"or", "conditions": [...]}')
    op = raw.get("op", "and")
    if op not in ("and", "or"):
        raise InvalidInput('filters.op must be "and" or "or"')
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise InvalidInput(f"filters.conditions must be a list of at most {MAX_CONDITIONS} conditions")
    checked = []
    for condition in conditions:
        if not isinstance(condition, dict) or set(condition) - {"column", "operator", "value"}:
            raise InvalidInput('a filter condition is {"column", "operator", "value"}')
        key = _key(condition.get("column"), "a filter condition")
        operator = condition.get("operator")
        if operator not in OPERATORS:
            raise InvalidInput(f"unknown filter operator {operator!r}; one of {', '.join(OPERATORS)}", col=key)
        value = None if operator in NO_VALUE else condition.get("value")
        if isinstance(value, list) != (operator == "in") or not isinstance(value, (str, int, float, bool, list)):
            if value is not None or operator == "in":
                raise InvalidInput("a filter value is text, a number or a boolean (a list for in)", col=key)
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and len(v) > MAX_VALUE_CHARS for v in texts):
            raise InvalidInput(f"a filter value is at most {MAX_VALUE_CHARS} characters", col=key)
        checked.append({"column": key, "operator": operator, "value": value})
    for condition in checked:  # each value must make sense for its column's type
        if condition["column"] in columns:
            selectors.filter_q(columns, (condition["column"], condition["operator"], condition["value"]))
    return {"op": op, "conditions": checked}


def _check_sorts(raw: Any) -> list[dict]:
    if not isinstance(raw, list) or len(raw) > MAX_SORTS:
        raise InvalidInput(f"sorts must be a list of at most {MAX_SORTS} sorts")
    sorts = []
    for sort in raw:
        if not isinstance(sort, dict) or set(sort) - {"column", "direction"}:
            raise InvalidInput('a sort is {"column", "direction": "asc"|"desc"}')
        direction = sort.get("direction", "asc")
        if direction not in ("asc", "desc"):
            raise InvalidInput('a sort\'s direction is "asc" or "desc"')
        sorts.append({"column": _key(sort.get("column"), "a sort"), "direction": direction})
    if len({s["column"] for s in sorts}) != len(sorts):
        raise InvalidInput("sorts name a column twice")
    return sorts


def _check_widths(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise InvalidInput("widths must be {column key: pixels}")
    for key, width in raw.items():
        if isinstance(width, bool) or not isinstance(width, int) or not WIDTH_MIN <= width <= WIDTH_MAX:
            raise InvalidInput(f"the width of {key!r} must be whole pixels from {WIDTH_MIN} to {WIDTH_MAX}", col=key)
    return dict(raw)


def _check_totals(raw: Any, columns: dict[str, Column]) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise InvalidInput("totals must be {column key: function}")
    for key, function in raw.items():
        if function not in TOTALS:
            raise InvalidInput(f"the total of {key!r} is one of {', '.join(TOTALS)}", col=key)
        column = columns.get(key)
        if column and function in NUMERIC_TOTALS and not column_types.get(column.type).numeric:
            raise InvalidInput(f"{function} needs a number column; {column.name} is {column.type}", col=key)
    return dict(raw)


def _referenced(config: dict) -> list[str]:
    """Every column key a config names, in the order they appear."""
    keys = [c["column"] for c in config.get("filters", {}).get("conditions", [])]
    keys += [s["column"] for s in config.get("sorts", [])]
    keys += config.get("hidden", []) + config.get("order", [])
    if isinstance(config.get("frozen"), list):
        keys += config["frozen"]
    keys += list(config.get("widths", {})) + list(config.get("totals", {}))
    return list(dict.fromkeys(keys))


def config_check(raw: Any, columns: list[Column]) -> dict:
    """The config in its stored form, or InvalidInput naming what is wrong (an unknown column by its key)."""
    if not isinstance(raw, dict):
        raise InvalidInput("config must be an object")
    unknown = set(raw) - set(PARTS)
    if unknown:
        raise InvalidInput(f"config has no part {sorted(unknown)[0]!r}; its parts are {', '.join(PARTS)}")
    live = {c.key: c for c in columns}
    config: dict[str, Any] = {}
    if "filters" in raw:
        config["filters"] = _check_filters(raw["filters"], live)
    if "sorts" in raw:
        config["sorts"] = _check_sorts(raw["sorts"])
    for part in ("hidden", "order"):
        if part in raw:
            config[part] = _keys(raw[part], part)
    if "frozen" in raw:
        frozen = raw["frozen"]
        if isinstance(frozen, list):
            config["frozen"] = _keys(frozen, "frozen")
        elif isinstance(frozen, int) and not isinstance(frozen, bool) and 0 <= frozen <= len(columns):
            config["frozen"] = frozen
        else:
            raise InvalidInput(f"frozen is a number of leading columns (0 to {len(columns)}) or a list of keys")
    if "widths" in raw:
        config["widths"] = _check_widths(raw["widths"])
    if "totals" in raw:
        config["totals"] = _check_totals(raw["totals"], live)
    for key in _referenced(config):
        if key not in live:
            raise InvalidInput(f"the sheet has no column {key!r}", col=key)
    return config


def config_applied(config: dict, columns: list[Column]) -> tuple[dict, list[dict]]:
    """The config with every column that no longer exists dropped, and a problem naming each."""
    live = {c.key for c in columns}
    gone = [key for key in _referenced(config) if key not in live]
    if not gone:
        return config, []
    applied = dict(config)
    if "filters" in config:
        conditions = [c for c in config["filters"]["conditions"] if c["column"] in live]
        applied["filters"] = {**config["filters"], "conditions": conditions}
    if "sorts" in config:
        applied["sorts"] = [s for s in config["sorts"] if s["column"] in live]
    for part in ("hidden", "order"):
        if part in config:
            applied[part] = [k for k in config[part] if k in live]
    if isinstance(config.get("frozen"), list):
        applied["frozen"] = [k for k in config["frozen"] if k in live]
    for part in ("widths", "totals"):
        if part in config:
            applied[part] = {k: v for k, v in config[part].items() if k in live}
    problems = [
        {"code": "column_deleted", "column": key, "message": f"column {key!r} was deleted; the view ignores it"}
        for key in gone
    ]
    return applied, problems


# --- reads ---------------------------------------------------------------------------------------


def views_visible(sheet: Sheet, user: User) -> QuerySet[SheetView]:
    """The sheet's shared views and the user's personal ones (the caller has read the sheet)."""
    mine = Q(created_by_id=user.pk) if user.is_authenticated else Q(pk__in=[])
    return SheetView.objects.filter(Q(shared=True) | mine, sheet_id=sheet.pk).order_by("-shared", "name", "pk")


def view_get(sheet: Sheet, user: User, view_id: Any) -> SheetView:
    """One view the user sees on this sheet, else NotFound (another sheet's or someone's personal view)."""
    try:
        view_id = int(view_id)
    except (TypeError, ValueError):
        raise InvalidInput("view must be a view id (a whole number)") from None
    view = views_visible(sheet, user).filter(pk=view_id).first()
    if view is None:
        raise NotFound("View not found", view=view_id)
    return view


def filters_parsed(raw: Iterable[str]) -> list[tuple[str, str, str]]:
    """Ad hoc filters as a query or a page's url gives them ("column:op:value") -> (key, op, value)."""
    filters = []
    for text in raw:
        parts = text.split(":", 2)
        if len(parts) < 2:
            raise InvalidInput("filter is column:op:value")
        filters.append((parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    return filters


def view_and_filters(
    sheet: Sheet, user: User, view_id: Any, raw_filters: Iterable[str]
) -> tuple[dict | None, list[tuple[str, str, str]], list[dict]]:
    """The saved view `view_id` names (applied to the live columns; none when empty), the ad hoc
    filters parsed, and the view's problems (columns deleted since it was saved)."""
    filters = filters_parsed(raw_filters)
    if not view_id:
        return None, filters, []
    saved = view_get(sheet, user, view_id)
    view, problems = config_applied(saved.config, selectors.sheet_columns(sheet))
    return view, filters, problems


def rows_answer(
    sheet: Sheet,
    user: User,
    *,
    offset: int = 0,
    limit: int = 200,
    view_id: Any = None,
    raw_filters: Iterable[str] = (),
    sort: str | None = None,
) -> dict[str, Any]:
    """A window of the rows the user sees through a saved view, ad hoc filters and a sort:
    {"version", "rows", "total"} (and "problems" with a view). It is what GET .../rows/ answers and
    what the sheet page embeds, one code path for both. The caller has checked the user may read the
    sheet; `sheet.version` was read before the rows, so a client catching up from it may replay an
    edit the rows already hold (replays are idempotent) but never misses one."""
    view, filters, problems = view_and_filters(sheet, user, view_id, raw_filters)
    window = selectors.rows_window(sheet, offset=offset, limit=limit, filters=filters, sort=sort or None, view=view)
    answer = {"version": sheet.version, **window}
    if view is not None:
        answer["problems"] = problems
    return answer


def view_may_change(view: SheetView, user: User, access: Access) -> bool:
    """Shared views are changed by editors; personal ones by their owner only."""
    if view.shared:
        return access >= Access.EDIT
    return view.created_by_id == user.pk


def view_dict(view: SheetView, columns: list[Column], user: User, access: Access) -> dict:
    _, problems = config_applied(view.config, columns)
    return {
        "id": view.pk,
        "sheet": view.sheet_id,
        "name": view.name,
        "shared": view.shared,
        "config": view.config,
        "created_by": view.created_by_id,
        "mine": view.created_by_id == user.pk,
        "can_change": view_may_change(view, user, access),
        "problems": problems,
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }


def _total(function: str, column: Column) -> Any:
    key = column.key
    filled = ~(Q(**{f"data__{key}__isnull": True}) | Q(**{f"data__{key}": None}) | Q(**{f"data__{key}": ""}))
    if function == "count":
        return Count("pk")
    if function == "filled":
        return Count("pk", filter=filled)
    if function == "unique":
        return Count(KeyTextTransform(key, "data"), filter=filled, distinct=True)
    spec = column_types.get(column.type)
    if spec.numeric:
        value = Cast(KeyTransform(key, "data"), FloatField())
        return {"sum": Sum, "avg": Avg, "min": Min, "max": Max}[function](value, filter=filled)
    # min and max of text, dates and times: by their text (ISO dates sort as text).
    return {"min": Min, "max": Max}[function](KeyTextTransform(key, "data"), filter=filled)


def view_totals(sheet: Sheet, view: dict | None, totals: dict[str, str], filters: list = ()) -> dict[str, Any]:
    """{column key: value} of each asked total over every row the view's filters let through, in
    one SQL query. Columns no longer there are left out."""
    columns = {c.key: c for c in selectors.sheet_columns(sheet)}
    wanted = {key: function for key, function in totals.items() if key in columns}
    for key, function in wanted.items():
        if function in NUMERIC_TOTALS and not column_types.get(columns[key].type).numeric:
            raise InvalidInput(f"{function} needs a number column; {columns[key].name} is {columns[key].type}", col=key)
    if not wanted:
        return {}
    aggregates = {f"t{i}": _total(function, columns[key]) for i, (key, function) in enumerate(wanted.items())}
    answer = selectors.view_rows(sheet, view, filters).aggregate(**aggregates)
    return {key: answer[f"t{i}"] for i, key in enumerate(wanted)}


def _personal_views_of_deleted_user(sender: type, instance: User, **kwargs: Any) -> None:
    # Shared views outlive their creator (created_by becomes null); personal ones go with the account.
    SheetView.objects.filter(created_by_id=instance.pk, shared=False).delete()


def connect_receivers() -> None:
    pre_delete.connect(_personal_views_of_deleted_user, sender=User, dispatch_uid="sheets.saved_views.user_gone")
