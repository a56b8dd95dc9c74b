"""drf-spectacular postprocessing of the API schema (/api/v1/schema/): what the views' answers
cannot say by themselves, so that a client generated from the schema (or schemathesis,
tests/api/test_schemathesis.py) sends what the API accepts and can follow what a create returns.

- Bounds of query parameters that the views check by hand (limits, ids, patterns).
- Names are never blank: every request `name` has minLength 1 and a non-space character.
- The shape of a cell in POST /sheets/{id}/cells/.
- OpenAPI links: from what a create (or a list) returns, its `id`, to the operations on that
  object (`/workspaces/` -> `/workspaces/{id}/...`, `/workspaces/{id}/alerts/` ->
  `/workspaces/{id}/alerts/{rule_id}/`, an import -> `/imports/{id}/`, ...).
"""

import copy
import re
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from rest_framework.request import Request

INT64 = 2**63 - 1
ID = {"type": "integer", "minimum": 1, "maximum": INT64 - 1}
COUNT = {"type": "integer", "minimum": 0, "maximum": INT64 - 1}
METRIC = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}"
TAG_KEY = r"[A-Za-z_][A-Za-z0-9_.-]{0,63}"

# (path, method, parameter) -> its schema
PARAMETERS = {
    ("/api/v1/sheets/", "get", "workspace"): ID,
    ("/api/v1/sheets/{id}/rows/", "get", "offset"): COUNT,
    ("/api/v1/sheets/{id}/rows/", "get", "limit"): {"type": "integer", "minimum": 1, "maximum": 1000},
    ("/api/v1/sheets/{id}/rows/", "get", "filter"): {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": r"^c[1-7]:(eq|ne|lt|lte|gt|gte|contains|empty|notempty)(:[A-Za-z0-9 .:_-]{0,40})?$",
        },
    },
    ("/api/v1/sheets/{id}/rows/", "get", "sort"): {"type": "string", "pattern": r"^-?c[1-7]$"},
    ("/api/v1/sheets/{id}/rows/", "get", "view"): ID,
    ("/api/v1/sheets/{id}/totals/", "get", "view"): ID,
    ("/api/v1/sheets/{id}/totals/", "get", "filter"): None,  # the rows' (filled in below)
    ("/api/v1/sheets/{id}/totals/", "get", "total"): {
        "type": "array",
        "items": {"type": "string", "pattern": r"^c[1-7]:(count|filled|unique|min|max)$"},
    },
    ("/api/v1/sheets/{id}/operations/", "get", "since"): COUNT,
    ("/api/v1/sheets/{id}/operations/", "get", "limit"): {**COUNT, "minimum": 1},
    ("/api/v1/notifications/", "get", "limit"): {"type": "integer", "minimum": 1, "maximum": 500},
    ("/api/v1/notifications/", "get", "unread"): {"type": "string", "enum": ["1", "0", "true", "false"]},
    ("/api/v1/workspaces/{id}/metrics/aggregate/", "get", "metric"): {
        "type": "string",
        "pattern": rf"^{METRIC}(,{METRIC}){{0,4}}$",
    },
    ("/api/v1/workspaces/{id}/metrics/aggregate/", "get", "tag"): {
        "type": "array",
        "maxItems": 5,
        "items": {"type": "string", "pattern": rf"^{TAG_KEY}:[A-Za-z0-9 _.-]{{0,50}}$"},
    },
    ("/api/v1/workspaces/{id}/metrics/aggregate/", "get", "group_by"): {"type": "string", "pattern": rf"^{TAG_KEY}$"},
    ("/api/v1/workspaces/{id}/metrics/aggregate/", "get", "top"): {"type": "integer", "minimum": 1, "maximum": 1000},
    ("/api/v1/workspaces/{id}/metrics/export/", "get", "metric"): {
        "type": "string",
        "pattern": rf"^{METRIC}(,{METRIC}){{0,4}}$",
    },
}
_ROWS_FILTER = PARAMETERS[("/api/v1/sheets/{id}/rows/", "get", "filter")]
PARAMETERS[("/api/v1/sheets/{id}/totals/", "get", "filter")] = _ROWS_FILTER
for _path in ("/api/v1/workspaces/{id}/metrics/aggregate/", "/api/v1/workspaces/{id}/metrics/export/"):
    for _name in ("from", "to"):
        PARAMETERS[(_path, "get", _name)] = {"type": "string", "format": "date-time"}

VALUE = {
    "nullable": True,
    "description": "text, a number or true/false; null empties the cell",
    "oneOf": [{"type": "string", "maxLength": 10000}, {"type": "number"}, {"type": "boolean"}],
}
# Nothing else in a cell: the services refuse other keys (sheets.services.cells).
CELL = {
    "type": "object",
    "required": ["row", "col"],
    "properties": {"row": ID, "col": {"type": "string", "pattern": r"^c[1-9][0-9]{0,3}$"}, "value": VALUE},
    "additionalProperties": False,
}
NAME = {"minLength": 1, "pattern": r"\S"}
KEY = r"c[1-9][0-9]{0,3}"  # a column key: c1, c2, ...
COLUMN_KEY = {"type": "string", "pattern": rf"^{KEY}$", "nullable": True}
# component -> property -> what the serializer or the service checks beyond its field's type
PROPERTIES = {
    "ColumnCreate": {"options": {"type": "object"}, "after": COLUMN_KEY, "before": COLUMN_KEY},
    "PatchedColumnUpdate": {"options": {"type": "object"}, "after": COLUMN_KEY, "before": COLUMN_KEY},
    "RowsInsert": {
        "count": {"type": "integer", "minimum": 1, "maximum": 10000},
        "rows": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "description": "column key (c1, c2, ...) -> value",
                "additionalProperties": VALUE,
            },
        },
        "after": {**ID, "nullable": True},
        "before": {**ID, "nullable": True},
    },
    "RowsDelete": {"row_ids": {"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": True, "items": ID}},
    "RowsMove": {
        "row_ids": {"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": True, "items": ID},
        "after": {**ID, "nullable": True},
        "before": {**ID, "nullable": True},
    },
    # window_seconds: metric rules need one; a sheet rule ignores what is sent
    "AlertRule": {
        "metric": {"type": "string", "pattern": rf"^{METRIC}$"},
        "window_seconds": {"type": "integer", "minimum": 1, "maximum": 31 * 86400},
        "threshold": {"type": "number", "minimum": -1e15, "maximum": 1e15},
        # keys: letters, digits, _ . - (not expressible in OpenAPI 3.0)
        "tag_filter": {
            "type": "object",
            "maxProperties": 10,
            "additionalProperties": {"type": "string", "maxLength": 200},
        },
    },
}
PROPERTIES["PatchedAlertRule"] = PROPERTIES["AlertRule"]
PROPERTIES["SheetCreate"] = {"workspace": ID}
NOT_BOTH = {"not": {"required": ["after", "before"]}}
# component -> what holds between its properties
RULES = {
    "RowsInsert": {"oneOf": [{"required": ["count"]}, {"required": ["rows"]}], **NOT_BOTH},
    "RowsMove": NOT_BOTH,
    "PatchedSheetRename": {"required": ["name"]},
    "PatchedMemberRole": {"required": ["role"]},
}


def _resolve(schema, components):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema or {}


def _id_pointer(schema, components):
    """A JSON pointer to an object's id in an answer of this schema: /id, /0/id (a list) or
    /results/0/id (a page of results); None if there is none."""
    schema = _resolve(schema, components)
    if schema.get("type") == "array":
        inner = _id_pointer(schema.get("items", {}), components)
        return "/0" + inner if inner else None
    properties = schema.get("properties", {})
    if "id" in properties:
        return "/id"
    if "results" in properties:
        inner = _id_pointer(properties["results"], components)
        return "/results" + inner if inner else None
    return None


def _path_parameters(path):
    return re.findall(r"\{([^}]+)\}", path)


def _links(result):
    components = result.get("components", {}).get("schemas", {})
    paths = result.get("paths", {})
    operations = [
        (path, method, op)
        for path, ops in paths.items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    extra = {("/api/v1/workspaces/{id}/import/", "post", "202"): "/api/v1/imports/{id}/"}
    for path, method, op in operations:
        if method not in ("get", "post"):
            continue
        for status, response in op.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            schema = next(iter(response.get("content", {}).values()), {}).get("schema", {})
            pointer = _id_pointer(schema, components)
            if pointer is None or (method == "get" and pointer == "/id"):
                continue
            known = _path_parameters(path)
            targets = []
            for target, target_method, target_op in operations:
                if extra.get((path, method, status)) == target:
                    new = "id"
                elif target.startswith(path) and target != path:
                    new = _path_parameters(target[len(path) :])[:1]
                    if not re.match(r"^\{[^}]+\}/", target[len(path) :]):
                        continue
                    new = new[0]
                else:
                    continue
                if target_method == "delete" and target == path + "{" + new + "}/" and method == "get":
                    continue  # a list's first item is not there to be deleted at random
                parameters = {new: f"$response.body#{pointer}"}
                parameters.update(
                    {
                        name: f"$request.path.{name}"
                        for name in _path_parameters(target)
                        if name != new and name in known
                    }
                )
                if set(parameters) != set(_path_parameters(target)):
                    continue
                name = f"{target_op['operationId']}"
                targets.append((name, {"operationId": target_op["operationId"], "parameters": parameters}))
            if (path, method) == ("/api/v1/workspaces/", "post"):
                sheets_create = next((o for p, m, o in operations if (p, m) == ("/api/v1/sheets/", "post")), None)
                if sheets_create:
                    targets.append(
                        (
                            "sheets_create",
                            {
                                "operationId": sheets_create["operationId"],
                                "requestBody": {"workspace": "$response.body#/id", "name": "Linked sheet"},
                            },
                        )
                    )
            if targets:
                response.setdefault("links", {}).update(dict(targets))
    # The inbox answers a free-form object: {"unread": n, "results": [notification, ...]}.
    inbox = paths.get("/api/v1/notifications/", {}).get("get")
    read = paths.get("/api/v1/notifications/{id}/read/", {}).get("post")
    if inbox and read:
        inbox["responses"]["200"].setdefault("links", {})[read["operationId"]] = {
            "operationId": read["operationId"],
            "parameters": {"id": "$response.body#/results/0/id"},
        }


def postprocess(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
    """The hook named in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]."""
    for (path, method, name), schema in PARAMETERS.items():
        op = result.get("paths", {}).get(path, {}).get(method)
        for parameter in (op or {}).get("parameters", []):
            if parameter.get("name") == name and parameter.get("in") == "query":
                parameter["schema"] = copy.deepcopy(schema)
                if schema.get("type") == "array":
                    parameter["explode"] = True
    components = result.get("components", {}).get("schemas", {})
    for component in components.values():
        name = component.get("properties", {}).get("name")
        if name and name.get("type") == "string" and not name.get("readOnly") and "enum" not in name:
            for key, value in NAME.items():
                name.setdefault(key, value)
    for component, properties in PROPERTIES.items():
        found = components.get(component, {}).get("properties", {})
        for name, schema in properties.items():
            if name in found:
                keep = {key: found[name][key] for key in ("description", "readOnly", "writeOnly") if key in found[name]}
                found[name] = {**copy.deepcopy(schema), **keep}
    for component, rules in RULES.items():
        if component in components:
            components[component].update(copy.deepcopy(rules))
    # Bodies are JSON: a form-encoded body cannot carry the lists and objects most of them hold.
    for ops in result.get("paths", {}).values():
        for op in ops.values():
            content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) else {}
            if "application/json" in content:
                for other in [media for media in content if media != "application/json"]:
                    del content[other]
    cells = components.get("CellsUpdate", {}).get("properties", {}).get("cells")
    if cells is not None:
        cells["items"] = copy.deepcopy(CELL)
        cells["minItems"] = 1
    _links(result)
    return result
