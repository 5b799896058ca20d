#!/usr/bin/env python3
"""Makes DataSync API requests with botocore itself and prints them, signed.

sigv4_test checks VerifyRequest against requests the real client makes, not
only against ferry's own signer. Each case is one call of a botocore
'datasync' client pointed at a fake endpoint; a before-send hook captures the
request (method, path, query, headers, body) as it would go on the wire and
answers it without any network.

    botocore_requests.py --fixture > botocore_requests.json
        the checked-in fixture: fixed cases, signed at a fixed time
    botocore_requests.py < cases.json
        live: the cases in the JSON list on stdin, signed now; each case is
        {"operation": "ListTasks", "params": {...}, "access_key": ...,
         "secret_key": ..., "token": ... or null, "region": ...,
         "endpoint": "http://127.0.0.1:8080"}

Output: a JSON list of {"case": <the case>, "method", "path", "query",
"headers": [[name, value], ...], "body"}. The Host header, which botocore
leaves to the HTTP layer but signs, is added as that layer would send it.
"""

import datetime
import json
import sys
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.session

FIXED_TIME = datetime.datetime(2026, 3, 14, 15, 9, 26)

FIXTURE_CASES = [
    {
        "operation": "ListTasks",
        "params": {},
        "access_key": "AKIDFERRYEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": None,
        "region": "ferry-local",
        "endpoint": "http://127.0.0.1:8080",
    },
    {
        "operation": "CreateTask",
        "params": {
            "SourceLocationArn": "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefg",
            "DestinationLocationArn": "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefh",
            "Name": "nightly copy",
            "Options": {"VerifyMode": "NONE", "BytesPerSecond": 1048576},
            "Excludes": [{"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp|*/cache"}],
            "Tags": [{"Key": "team", "Value": "d\u00e9j\u00e0 vu"}],
        },
        "access_key": "AKIDFERRYEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": None,
        "region": "us-east-1",
        "endpoint": "https://ferry.example.com:8443",
    },
    {
        "operation": "DescribeTaskExecution",
        "params": {
            "TaskExecutionArn": "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/execution/exec-0123456789abcdef0"
        },
        "access_key": "ASIAFERRYTEMPORARY",
        "secret_key": "secret/with+special=chars",
        "token": "FwoGZXIvYXdzEJr//////////wEaDGhlbGxvIHdvcmxkIQ==",
        "region": "eu-west-3",
        "endpoint": "https://localhost",
    },
    {
        "operation": "CreateLocationObjectStorage",
        "params": {
            "ServerHostname": "minio.internal",
            "BucketName": "backups",
            "ServerCertificate": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "AgentArns": ["arn:aws:datasync:ferry-local:000000000000:agent/agent-0123456789abcdefg"],
        },
        "access_key": "AKIDFERRYEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": None,
        "region": "ferry-local",
        "endpoint": "http://[::1]:9000",
    },
]


# Unsigned headers that change from run to run or name this machine; the
# fixture leaves them out.
VOLATILE_HEADERS = {"user-agent", "amz-sdk-invocation-id"}


def make_request(case, drop_volatile=False):
    session = botocore.session.get_session()
    session.set_credentials(case["access_key"], case["secret_key"], case.get("token"))
    client = session.create_client(
        "datasync", region_name=case["region"], endpoint_url=case["endpoint"]
    )
    captured = {}

    def before_send(request, **kwargs):
        parts = urlsplit(request.url)
        headers = [
            [k, v.decode() if isinstance(v, bytes) else v]
            for k, v in request.headers.items()
            if not (drop_volatile and k.lower() in VOLATILE_HEADERS)
        ]
        names = {k.lower() for k, _ in headers}
        if "host" not in names:
            headers.append(["Host", botocore.auth._host_from_url(request.url)])
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        captured.update(
            method=request.method,
            path=parts.path or "/",
            query=parts.query,
            headers=headers,
            body=body or "",
        )
        return botocore.awsrequest.AWSResponse(request.url, 200, {}, _RawBody(b"{}"))

    client.meta.events.register("before-send", before_send)
    method = getattr(client, botocore.xform_name(case["operation"]))
    method(**case["params"])
    return captured


class _RawBody:
    def __init__(self, data):
        self._data = data

    def stream(self, **kwargs):
        yield self._data


def encode_case(case):
    out = dict(case)
    params = json.loads(json.dumps(case["params"], default=lambda b: b.decode()))
    out["params"] = params
    return out


def main():
    if "--fixture" in sys.argv[1:]:
        cases = FIXTURE_CASES
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED_TIME):
            results = [make_request(c, drop_volatile=True) for c in cases]
    else:
        cases = json.load(sys.stdin)
        results = [make_request(c) for c in cases]
    out = []
    for case, result in zip(cases, results):
        entry = {"case": encode_case(case)}
        entry.update(result)
        out.append(entry)
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
