"""Validates every example of an OpenAPI 3.1 document the way a Python client would.

Every `pattern` must compile in Python's `re`; every example (request bodies, responses,
parameters, and `examples` inside schemas) must be valid against its schema under JSON Schema
Draft 2020-12 (jsonschema.Draft202012Validator, Debian's python3-jsonschema).

    python3 validate_examples.py openapi.json

Prints {"examples": n, "patterns": n, "errors": [...]} as JSON; exits 1 if there are errors.
"""

import json
import re
import sys

import jsonschema


def with_defs(schema, components):
    """The schema with the document's components as $defs, so its $refs resolve on their own."""
    text = json.dumps(schema).replace('"#/components/schemas/', '"#/$defs/')
    resolved = json.loads(text)
    if isinstance(resolved, dict):
        resolved = {**resolved, "$defs": json.loads(json.dumps(components).replace('"#/components/schemas/', '"#/$defs/'))}
    return resolved


def walk_schemas(schema, where):
    """Every subschema of `schema` (dicts only), with where it is."""
    if isinstance(schema, dict):
        yield schema, where
        for key, value in schema.items():
            if key in ("properties", "$defs", "patternProperties"):
                for name, sub in value.items():
                    yield from walk_schemas(sub, f"{where}/{key}/{name}")
            elif key in ("items", "additionalProperties", "not", "contains", "propertyNames", "unevaluatedProperties"):
                yield from walk_schemas(value, f"{where}/{key}")
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                for i, sub in enumerate(value):
                    yield from walk_schemas(sub, f"{where}/{key}/{i}")


def media_examples(media):
    if "example" in media:
        yield "example", media["example"]
    for name, example in media.get("examples", {}).items():
        if "value" in example:
            yield f"examples/{name}", example["value"]


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    components = doc.get("components", {}).get("schemas", {})
    errors = []
    checked = {"examples": 0, "patterns": 0}

    def check(where, schema, value):
        checked["examples"] += 1
        full = with_defs(schema, components)
        validator = jsonschema.Draft202012Validator(full, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(value):
            location = "/".join(str(p) for p in error.absolute_path)
            errors.append(f"{where}: {location or '(root)'}: {error.message}")

    # Every schema the document holds: in components, parameters, bodies and responses.
    roots = [(schema, f"#/components/schemas/{name}") for name, schema in components.items()]
    targets = []  # (where, schema, value)
    for route, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            at = f"{method.upper()} {route}"
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                roots.append((schema, f"{at} parameter {param['name']}"))
                for name, value in media_examples(param):
                    targets.append((f"{at} parameter {param['name']} {name}", schema, value))
            for media_type, media in op.get("requestBody", {}).get("content", {}).items():
                roots.append((media.get("schema", {}), f"{at} request {media_type}"))
                for name, value in media_examples(media):
                    targets.append((f"{at} request {media_type} {name}", media.get("schema", {}), value))
            for status, response in op["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    roots.append((media.get("schema", {}), f"{at} {status} {media_type}"))
                    for name, value in media_examples(media):
                        targets.append((f"{at} {status} {media_type} {name}", media.get("schema", {}), value))

    for root, where in roots:
        for schema, sub_where in walk_schemas(root, where):
            pattern = schema.get("pattern")
            if isinstance(pattern, str):
                checked["patterns"] += 1
                try:
                    re.compile(pattern)
                except re.error as err:
                    errors.append(f"{sub_where}: pattern {pattern!r} does not compile in Python re: {err}")
            for i, value in enumerate(schema.get("examples", []) if isinstance(schema.get("examples"), list) else []):
                targets.append((f"{sub_where} examples/{i}", schema, value))

    for where, schema, value in targets:
        try:
            check(where, schema, value)
        except (re.error, jsonschema.exceptions.SchemaError) as err:
            errors.append(f"{where}: the schema does not work in Python: {err}")

    print(json.dumps({**checked, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
