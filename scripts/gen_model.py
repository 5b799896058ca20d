#!/usr/bin/env python3
"""Generates src/ferry/control/model/datasync_model.inc, the API model ferry serves.

Reads the DataSync service model (2018-11-09) that botocore ships, drops its
documentation strings, keeps every operation and shape, adds ferry's own
operations (CreateLocationLocal, DescribeLocationLocal, UpdateLocationLocal,
GetTaskExecutionLogs)
and widens the output-only LocationUri pattern (see FERRY_CHANGES below), then
writes the model JSON as C++ raw string literals, one piece per element of an
array, each well under the compilers' string-literal limits (MSVC: 16,380
characters per literal; ISO C++ asks compilers to support 65,536).

The output is committed: building ferry never needs botocore. Run it again
after upgrading botocore:

    scripts/gen_model.py [--botocore-data DIR] [--output FILE]

The DataSync model is (c) Amazon.com, Inc. or its affiliates, Apache-2.0; see
the NOTICE file at the repository root.
"""

import argparse
import copy
import gzip
import json
import os
import sys

MODEL_VERSION = "2018-11-09"
PIECE_LIMIT = 12000  # characters per raw string literal
DELIMITER = "ferrymodel"

# ferry's own shapes. A "local" location is a folder on the machine of one of
# its agents, as `ferry sync` reads it. Its LocationUri is
# local://<agent-id>/<path>/, e.g. local://agent-0123456789abcdefg/srv/data/
# for Path /srv/data on agent arn:...:agent/agent-0123456789abcdefg (the first
# of its AgentArns); like DataSync's other URIs it ends with a slash.
FERRY_SHAPES = {
    "LocalPath": {
        "type": "string",
        "min": 1,
        "max": 4096,
        # An absolute path: a leading slash, no NUL.
        "pattern": "^/[^\\x00]*$",
    },
    "CreateLocationLocalRequest": {
        "type": "structure",
        "required": ["Path", "AgentArns"],
        "members": {
            "Path": {"shape": "LocalPath"},
            "AgentArns": {"shape": "AgentArnList"},
            "Tags": {"shape": "InputTagList"},
        },
    },
    "CreateLocationLocalResponse": {
        "type": "structure",
        "members": {"LocationArn": {"shape": "LocationArn"}},
    },
    "DescribeLocationLocalRequest": {
        "type": "structure",
        "required": ["LocationArn"],
        "members": {"LocationArn": {"shape": "LocationArn"}},
    },
    "DescribeLocationLocalResponse": {
        "type": "structure",
        "members": {
            "LocationArn": {"shape": "LocationArn"},
            "LocationUri": {"shape": "LocationUri"},
            "AgentArns": {"shape": "AgentArnList"},
            "CreationTime": {"shape": "Time"},
            "Path": {"shape": "LocalPath"},
        },
    },
    "UpdateLocationLocalRequest": {
        "type": "structure",
        "required": ["LocationArn"],
        "members": {
            "LocationArn": {"shape": "LocationArn"},
            "Path": {"shape": "LocalPath"},
            "AgentArns": {"shape": "AgentArnList"},
        },
    },
    "UpdateLocationLocalResponse": {"type": "structure", "members": {}},
    # The log records (LogLevel BASIC or TRANSFER) that the execution's agent
    # shipped to the server, by Seq (1, 2, ... per execution), a page at a
    # time: StartSeq (default 1) is where the page starts, NextSeq where the
    # next one does. Complete: the execution has ended and every record its
    # agent sent is in this or an earlier page.
    "ExecutionLogSeq": {"type": "long", "min": 0},
    "ExecutionLogMaxResults": {"type": "integer", "min": 1, "max": 10000},
    "ExecutionLogLevel": {"type": "string", "max": 16},
    "ExecutionLogEvent": {"type": "string", "max": 64},
    "ExecutionLogMessage": {"type": "string", "max": 4096},
    "ExecutionLogComplete": {"type": "boolean"},
    "ExecutionLogRecord": {
        "type": "structure",
        "members": {
            "Seq": {"shape": "ExecutionLogSeq"},
            "Time": {"shape": "Time"},
            "Level": {"shape": "ExecutionLogLevel"},
            "Event": {"shape": "ExecutionLogEvent"},
            "Message": {"shape": "ExecutionLogMessage"},
        },
    },
    "ExecutionLogRecordList": {
        "type": "list",
        "member": {"shape": "ExecutionLogRecord"},
        "max": 10000,
    },
    "GetTaskExecutionLogsRequest": {
        "type": "structure",
        "required": ["TaskExecutionArn"],
        "members": {
            "TaskExecutionArn": {"shape": "TaskExecutionArn"},
            "StartSeq": {"shape": "ExecutionLogSeq"},
            "MaxResults": {"shape": "ExecutionLogMaxResults"},
        },
    },
    "GetTaskExecutionLogsResponse": {
        "type": "structure",
        "members": {
            "Records": {"shape": "ExecutionLogRecordList"},
            "NextSeq": {"shape": "ExecutionLogSeq"},
            "Complete": {"shape": "ExecutionLogComplete"},
        },
    },
}

FERRY_OPERATIONS = [
    "CreateLocationLocal",
    "DescribeLocationLocal",
    "UpdateLocationLocal",
    "GetTaskExecutionLogs",
]

# Changes to AWS's shapes, each with its reason.
FERRY_CHANGES = {
    # LocationUri appears in responses only. AWS's pattern does not even match
    # the URIs DataSync itself returns for object storage (object-storage://)
    # and Azure (azure-blob://), nor paths with characters such as '_' or ' ';
    # ferry adds local:// and allows any path, so that responses can be
    # checked against the model strictly.
    ("LocationUri", "pattern"):
        "^(efs|nfs|s3|smb|hdfs|local|object-storage|azure-blob|fsx[a-z0-9-]+)://[^\\x00]+$",
}


def load_model(data_dir):
    """Returns (model, botocore version)."""
    if data_dir:
        path = os.path.join(data_dir, "datasync", MODEL_VERSION, "service-2.json.gz")
        plain = path[: -len(".gz")]
        if os.path.exists(plain):
            with open(plain, "rb") as f:
                return json.loads(f.read()), "data directory " + data_dir
        with gzip.open(path, "rb") as f:
            return json.loads(f.read()), "data directory " + data_dir
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    # The service model as botocore loads it for get_service_model('datasync').
    loader = session.get_component("data_loader")
    model = loader.load_service_model("datasync", "service-2", MODEL_VERSION)
    return copy.deepcopy(model), "botocore " + botocore.__version__


def strip_documentation(node):
    if isinstance(node, dict):
        return {
            k: strip_documentation(v)
            for k, v in node.items()
            if k not in ("documentation", "documentationUrl")
        }
    if isinstance(node, list):
        return [strip_documentation(v) for v in node]
    return node


def add_ferry(model):
    shapes = model["shapes"]
    for name in FERRY_SHAPES:
        if name in shapes:
            sys.exit(f"gen_model: the DataSync model already has a shape {name}")
    for name, shape in FERRY_SHAPES.items():
        shapes[name] = shape
    for (shape, key), value in FERRY_CHANGES.items():
        if shape not in shapes:
            sys.exit(f"gen_model: the DataSync model has no shape {shape}")
        shapes[shape][key] = value
    ops = model["operations"]
    for name in FERRY_OPERATIONS:
        if name in ops:
            sys.exit(f"gen_model: the DataSync model already has an operation {name}")
        ops[name] = {
            "name": name,
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": name + "Request"},
            "output": {"shape": name + "Response"},
            "errors": [{"shape": "InvalidRequestException"}, {"shape": "InternalException"}],
        }
    # Every shape an operation names must exist.
    for op in ops.values():
        for part in ("input", "output"):
            if part in op and op[part]["shape"] not in shapes:
                sys.exit(f"gen_model: {op['name']} names a missing shape")


def model_lines(model):
    """The model as JSON text with one line per operation and per shape."""

    def dump(value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)

    lines = ["{"]
    for key in model:
        if key in ("operations", "shapes"):
            continue
        lines.append(f"{dump(key)}:{dump(model[key])},")
    for section in ("operations", "shapes"):
        lines.append(f"{dump(section)}:{{")
        items = list(model[section].items())
        for i, (name, value) in enumerate(items):
            comma = "," if i + 1 < len(items) else ""
            lines.append(f"{dump(name)}:{dump(value)}{comma}")
        lines.append("}," if section == "operations" else "}")
    lines.append("}")
    return lines


def pieces(lines):
    out, current = [], ""
    for line in lines:
        if len(line) + 1 > PIECE_LIMIT:
            sys.exit("gen_model: a line of the model is longer than a piece")
        if len(current) + len(line) + 1 > PIECE_LIMIT:
            out.append(current)
            current = ""
        current += line + "\n"
    if current:
        out.append(current)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--botocore-data", help="a botocore data directory to read instead")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument(
        "--output",
        default=os.path.join(here, "..", "src", "ferry", "control", "model", "datasync_model.inc"),
    )
    args = parser.parse_args()

    model, source = load_model(args.botocore_data)
    model = strip_documentation(model)
    add_ferry(model)
    text_pieces = pieces(model_lines(model))
    json.loads("".join(text_pieces))  # still JSON
    for piece in text_pieces:
        if f'){DELIMITER}"' in piece:
            sys.exit("gen_model: the model contains the raw string delimiter")

    header = [
        "// GENERATED by scripts/gen_model.py; do not edit. Regenerate with",
        "// scripts/gen_model.py after upgrading botocore.",
        "//",
        f"// The AWS DataSync API model {MODEL_VERSION}, from {source},",
        "// without its documentation strings, plus ferry's CreateLocationLocal,",
        "// DescribeLocationLocal, UpdateLocationLocal and GetTaskExecutionLogs",
        "// and a wider LocationUri pattern (see the script). The DataSync model",
        "// is Copyright Amazon.com, Inc. or its affiliates, licensed under the",
        "// Apache License 2.0 (see NOTICE at the repository root).",
        "//",
        f"// {len(model['operations'])} operations, {len(model['shapes'])} shapes, as "
        f"{len(text_pieces)} raw string literals",
        "// to be joined: the elements of an array of const char*.",
        "// clang-format off",
    ]
    body = [f'R"{DELIMITER}({p}){DELIMITER}",' for p in text_pieces]
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(header + body + ["// clang-format on", ""]))
    print(f"gen_model: wrote {args.output} ({source}, {len(model['operations'])} operations)")


if __name__ == "__main__":
    main()
