"""Checks DataSync API responses against the API model botocore ships.

Independent of ferry: the model is the one in the machine's botocore
(botocore.session.get_session().get_service_model('datasync')), and the
checker walks the raw JSON of a response (as it came over the wire, before
botocore parses it) against the operation's output shape:

- every member is known to the shape (no unknown members);
- every required member is there;
- types: strings, integers/longs (JSON integers, not booleans), doubles,
  booleans, timestamps (JSON numbers: epoch seconds, as the JSON protocol
  sends them), blobs (base64 strings), lists, maps, structures;
- enum values, string and list lengths (min/max), integer ranges and string
  patterns (the model's Java regular expressions, translated to Python's).

ferry's own operations (CreateLocationLocal, DescribeLocationLocal,
UpdateLocationLocal: docs/control-plane.md) are not in botocore's model; their
output shapes are described here from the design document. LocationUri is the
one shape ferry documents as wider than AWS's (AWS's own pattern does not match
the object-storage:// and azure-blob:// URIs DataSync returns); it is checked
against ferry's documented pattern.

Errors are checked too: a JSON object with a string `__type` and `message`
(and optionally `errorCode`, a string), the type one of the operation's
declared errors or a common AWS error.
"""

import base64
import json
import re

import botocore.session

_MODEL = None


def service_model():
    global _MODEL
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("datasync")
    return _MODEL


# ferry's operations, as docs/control-plane.md describes them (shape name ->
# botocore-like description, members named by existing shapes).
FERRY_OUTPUTS = {
    "CreateLocationLocal": {"LocationArn": "LocationArn"},
    "DescribeLocationLocal": {
        "LocationArn": "LocationArn",
        "LocationUri": "LocationUri",
        "AgentArns": "AgentArnList",
        "CreationTime": "Time",
        "Path": None,  # LocalPath: an absolute path, 1..4096 characters
    },
    "UpdateLocationLocal": {},
}

# docs/control-plane.md: ferry's LocationUri pattern (AWS's, plus local://,
# object-storage:// and azure-blob://, any path).
LOCATION_URI_PATTERN = (r"^(efs|nfs|s3|smb|hdfs|local|object-storage|azure-blob|fsx[a-z0-9-]+)"
                        r"://[^\x00]+$")

# Errors any AWS JSON service may answer (authentication, throttling, ...).
COMMON_ERRORS = {
    "InvalidRequestException", "InternalException", "UnrecognizedClientException",
    "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken",
    "IncompleteSignatureException", "MissingAuthenticationTokenException",
    "UnknownOperationException", "AccessDeniedException", "ThrottlingException",
    "SerializationException", "ValidationException", "ExpiredTokenException",
}

_ZS = " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"


def _python_pattern(java):
    """The model's Java pattern in Python's syntax, or None when it cannot be
    translated faithfully (then the pattern is not checked)."""
    p = java.replace(r"\p{Zs}", _ZS).replace(r"\z", r"\Z")
    if r"\p{" in p:
        # [\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}\p{C}]: every character category.
        if re.fullmatch(r"\^\[(\\p\{[A-Z]\})+\]\*\$", java):
            return r"^[\s\S]*$"
        return None
    try:
        re.compile(p)
    except re.error:
        return None
    return p


_PATTERN_CACHE = {}


def _pattern(java):
    if java not in _PATTERN_CACHE:
        py = _python_pattern(java)
        _PATTERN_CACHE[java] = re.compile(py) if py is not None else None
    return _PATTERN_CACHE[java]


def _type_name(v):
    return type(v).__name__


def check_value(shape, value, path, problems):
    """Appends to `problems` every way `value` (raw JSON) breaks `shape`."""
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({shape.name}), got {_type_name(value)}")
            return
        members = shape.members
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}: required member {name} missing ({shape.name})")
        for name, v in value.items():
            if name not in members:
                problems.append(f"{path}: unknown member {name!r} (not in {shape.name})")
                continue
            if v is None:
                problems.append(f"{path}.{name}: null")
                continue
            check_value(members[name], v, f"{path}.{name}", problems)
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({shape.name}), got {_type_name(value)}")
            return
        if "min" in meta and len(value) < meta["min"]:
            problems.append(f"{path}: {len(value)} items, fewer than {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items, more than {meta['max']}")
        for i, item in enumerate(value):
            check_value(shape.member, item, f"{path}[{i}]", problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({shape.name}), got {_type_name(value)}")
            return
        for k, v in value.items():
            check_value(shape.key, k, f"{path}<key>", problems)
            check_value(shape.value, v, f"{path}[{k!r}]", problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string ({shape.name}), got "
                            f"{_type_name(value)} {value!r}")
            return
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.name}'s values "
                            f"{list(shape.enum)}")
        if "min" in meta and len(value) < meta["min"]:
            problems.append(f"{path}: {value!r} shorter than {meta['min']} ({shape.name})")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} characters, more than {meta['max']} "
                            f"({shape.name})")
        java = LOCATION_URI_PATTERN if shape.name == "LocationUri" else meta.get("pattern")
        if java:
            rx = _pattern(java)
            if rx is not None and not rx.search(value):
                problems.append(f"{path}: {value!r} does not match {shape.name}'s pattern {java}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer ({shape.name}), got "
                            f"{_type_name(value)} {value!r}")
            return
        if "min" in meta and value < meta["min"]:
            problems.append(f"{path}: {value} below the minimum {meta['min']} ({shape.name})")
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} above the maximum {meta['max']} ({shape.name})")
    elif t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number ({shape.name}), got {_type_name(value)}")
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean ({shape.name}), got {_type_name(value)}")
    elif t == "timestamp":
        # JSON 1.1: epoch seconds as a number unless the shape says otherwise.
        fmt = meta.get("timestampFormat", "unixTimestamp")
        if fmt == "unixTimestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{path}: expected epoch seconds ({shape.name}), got "
                                f"{_type_name(value)} {value!r}")
            elif not 946684800 <= value <= 4102444800:  # 2000..2100
                problems.append(f"{path}: {value} is not a plausible epoch time in seconds")
        elif not isinstance(value, str):
            problems.append(f"{path}: expected a {fmt} timestamp string, got {_type_name(value)}")
    elif t == "blob":
        if not isinstance(value, str):
            problems.append(f"{path}: expected base64 ({shape.name}), got {_type_name(value)}")
        else:
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                problems.append(f"{path}: not base64 ({shape.name})")
    else:
        problems.append(f"{path}: shape type {t} not handled by the checker")


def _check_ferry_output(operation, body, problems):
    model = service_model()
    members = FERRY_OUTPUTS[operation]
    if not isinstance(body, dict):
        problems.append(f"{operation}: expected an object, got {_type_name(body)}")
        return
    for name, v in body.items():
        if name not in members:
            problems.append(f"{operation}: unknown member {name!r}")
            continue
        shape_name = members[name]
        if shape_name is None:
            if not (isinstance(v, str) and v.startswith("/") and 1 <= len(v) <= 4096
                    and "\x00" not in v):
                problems.append(f"{operation}.{name}: {v!r} is not an absolute path")
            continue
        check_value(model.shape_for(shape_name), v, f"{operation}.{name}", problems)


def check_response(operation, status, body):
    """Problems (a list of strings; empty: fine) of one response: the HTTP
    status and the raw body (bytes or str) of `operation`."""
    problems = []
    try:
        data = json.loads(body) if body else {}
    except ValueError as e:
        return [f"{operation}: body is not JSON ({e}): {body[:200]!r}"]
    if status >= 300:
        if not isinstance(data, dict):
            return [f"{operation}: error body is not an object: {data!r}"]
        typ = data.get("__type")
        if not isinstance(typ, str) or not typ:
            problems.append(f"{operation}: error without a string __type: {data!r}")
        else:
            name = typ.rsplit("#", 1)[-1]
            declared = set(COMMON_ERRORS)
            if operation in service_model().operation_names:
                declared |= {e.name for e in service_model().operation_model(operation).error_shapes}
            if name not in declared:
                problems.append(f"{operation}: error type {typ!r} is not one the operation declares")
        msg = data.get("message", data.get("Message"))
        if not isinstance(msg, str) or not msg:
            problems.append(f"{operation}: error without a message: {data!r}")
        for k, v in data.items():
            if k not in ("__type", "message", "Message", "errorCode", "datasyncErrorCode"):
                problems.append(f"{operation}: unknown member {k!r} in the error")
            elif not isinstance(v, str):
                problems.append(f"{operation}: error member {k} is not a string: {v!r}")
        expected_status = {"InvalidRequestException": 400, "InternalException": 500}
        if isinstance(typ, str) and typ in expected_status and expected_status[typ] != status:
            problems.append(f"{operation}: {typ} with HTTP {status}, not "
                            f"{expected_status[typ]}")
        return problems
    if status != 200:
        problems.append(f"{operation}: HTTP {status}, not 200")
    if operation in FERRY_OUTPUTS:
        _check_ferry_output(operation, data, problems)
        return problems
    model = service_model()
    if operation not in model.operation_names:
        return [f"{operation}: not an operation of the DataSync model"]
    out = model.operation_model(operation).output_shape
    if out is None:
        if data not in ({}, None):
            problems.append(f"{operation}: the model has no output, got {data!r}")
        return problems
    check_value(out, data, operation, problems)
    return problems
