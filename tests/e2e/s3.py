"""A real S3 server for the end-to-end tests: Ceph radosgw on 127.0.0.1
(tests/support/radosgw.sh), with HTTP and HTTPS endpoints, a private CA and
one user whose keys are random.

    server = s3.server()                     # the fixture's, or one of its own
    c = server.client()                      # boto3 's3' client (HTTP)
    c = server.client(https=True)            # HTTPS, verified with server.ca_file
    p = server.aws(["s3api", "list-buckets"], https=True)   # the aws CLI
    bucket = server.fresh_bucket(self)       # emptied and deleted at cleanup

Under ctest, the ferry_radosgw fixture has started one radosgw for the whole
run and FERRY_TEST_S3_STATE names its state directory; server() reads
STATE/env and fails when it is missing (the radosgw_start test failed or did
not run). Run by hand without FERRY_TEST_S3_STATE, server() starts a radosgw
of its own in a temporary directory on first use (about 2 s) and stops it at
interpreter exit, or earlier with stop_own_server() (from tearDownModule).

A missing prerequisite (boto3, the aws CLI, Ceph) fails; it never skips.

Environment: FERRY_TEST_S3_STATE (the fixture's state directory),
FERRY_E2E_AWS (the aws CLI; default `aws` on PATH).
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
import uuid

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config
except ImportError:  # pragma: no cover - scripts/setup.sh installs it
    boto3 = None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RADOSGW_SH = os.path.join(REPO, "tests", "support", "radosgw.sh")
FAULT_PROXY = os.path.join(REPO, "tests", "support", "s3_fault_proxy.py")

ENV_KEYS = ("FERRY_TEST_S3_ENDPOINT", "FERRY_TEST_S3_HTTPS_ENDPOINT", "FERRY_TEST_S3_CA_FILE",
            "FERRY_TEST_S3_ACCESS_KEY", "FERRY_TEST_S3_SECRET_KEY", "FERRY_TEST_S3_REGION")


def need_boto3():
    if boto3 is None:
        raise AssertionError("boto3 is not installed for " + sys.executable
                             + " (pip install boto3, or Debian's python3-boto3)")


def read_env(path):
    """The KEY=VALUE lines of radosgw.sh's STATE/env as a dict."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    missing = [k for k in ENV_KEYS if not values.get(k)]
    if missing:
        raise AssertionError(f"{path} lacks {', '.join(missing)}")
    return values


class Server:
    """One radosgw: its endpoints, CA and keys, and clients for it."""

    def __init__(self, env, state_dir, own=False):
        self.state_dir = state_dir
        self.own = own
        self.endpoint = env["FERRY_TEST_S3_ENDPOINT"]
        self.https_endpoint = env["FERRY_TEST_S3_HTTPS_ENDPOINT"]
        self.ca_file = env["FERRY_TEST_S3_CA_FILE"]
        self.access_key = env["FERRY_TEST_S3_ACCESS_KEY"]
        self.secret_key = env["FERRY_TEST_S3_SECRET_KEY"]
        self.region = env["FERRY_TEST_S3_REGION"]
        self._clients = {}  # boto3 clients are thread-safe and slow to make
        self._clients_lock = threading.Lock()

    def __repr__(self):
        return f"s3.Server({self.endpoint}, {self.https_endpoint}, state {self.state_dir})"

    # -- boto3

    def client(self, *, https=False, endpoint=None, secret_key=None, verify=None,
               max_attempts=3, **config):
        """A boto3 S3 client (path-style addressing, SigV4). endpoint
        overrides the server's (e.g. a fault proxy in front of it); verify
        defaults to the private CA for HTTPS. max_attempts counts the first
        attempt (1: no retries). Checksums only where S3 requires them:
        radosgw 16 (Pacific) predates the flexible checksums newer botocore
        sends by default."""
        need_boto3()
        key = (https, endpoint, secret_key, verify, max_attempts, tuple(sorted(config.items())))
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._new_client(https, endpoint, secret_key, verify,
                                                      max_attempts, config)
            return self._clients[key]

    def _new_client(self, https, endpoint, secret_key, verify, max_attempts, config):
        url = endpoint or (self.https_endpoint if https else self.endpoint)
        if verify is None:
            verify = self.ca_file if url.startswith("https:") else True
        cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                     retries={"mode": "standard", "total_max_attempts": max_attempts},
                     request_checksum_calculation="when_required",
                     response_checksum_validation="when_required", **config)
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=url, region_name=self.region, config=cfg, verify=verify,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key)

    # -- the aws CLI

    def aws_env(self, secret_key=None):
        """The environment for the aws CLI: this server's keys and region,
        nothing from the caller's AWS configuration (no profile, no
        machine-wide CA bundle)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
            "AWS_PAGER": "",
        })
        return env

    def aws(self, args, *, https=False, endpoint=None, ca_bundle=True, secret_key=None,
            attempts=None, timeout=120, check=True, input=None):
        """Runs `aws --endpoint-url URL [--ca-bundle CA] ARGS...`; returns
        the CompletedProcess (text). check: fail, quoting the output, when
        the exit status is not 0. ca_bundle=False leaves the private CA out
        (verification then fails on HTTPS). attempts: AWS_MAX_ATTEMPTS in
        standard retry mode (counts the first; default: the CLI's)."""
        aws = os.environ.get("FERRY_E2E_AWS") or shutil.which("aws")
        if not aws:
            raise AssertionError("the aws CLI is not installed (scripts/setup.sh installs "
                                 "awscli; or set FERRY_E2E_AWS)")
        url = endpoint or (self.https_endpoint if https else self.endpoint)
        cmd = [aws, "--endpoint-url", url]
        if url.startswith("https:") and ca_bundle:
            cmd += ["--ca-bundle", self.ca_file]
        cmd += list(args)
        env = self.aws_env(secret_key)
        if attempts is not None:
            env.update({"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": str(attempts)})
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                           env=env, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    # -- buckets

    def fresh_bucket(self, testcase=None, prefix="t"):
        """Creates a bucket with a new name (ferry-PREFIX-<random>, valid
        for S3: 3-63 characters, lowercase letters, digits and hyphens) and
        returns its name. Given a TestCase (or a TestCase class, from
        setUpClass), it is emptied and deleted at its cleanup."""
        prefix = "".join(ch for ch in prefix.lower() if ch.isalnum() or ch == "-").strip("-")
        name = f"ferry-{prefix[:30]}-{uuid.uuid4().hex[:16]}" if prefix else \
            f"ferry-{uuid.uuid4().hex[:16]}"
        assert 3 <= len(name) <= 63, name
        self.client().create_bucket(Bucket=name)
        if testcase is not None:
            _add_cleanup(testcase, self.delete_bucket, name)
        return name

    def delete_bucket(self, name):
        """Aborts the bucket's multipart uploads, deletes every object (and
        every version and delete marker), then the bucket. A bucket that is
        already gone is fine."""
        c = self.client()
        try:
            for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=name):
                for u in page.get("Uploads", []):
                    c.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
            for page in c.get_paginator("list_object_versions").paginate(Bucket=name):
                objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                           for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                for i in range(0, len(objects), 1000):
                    r = c.delete_objects(Bucket=name,
                                         Delete={"Objects": objects[i:i + 1000], "Quiet": True})
                    if r.get("Errors"):
                        raise AssertionError(f"deleting objects of {name}: {r['Errors'][:5]}")
            c.delete_bucket(Bucket=name)
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise


def _add_cleanup(testcase, fn, *args):
    """addCleanup on a TestCase, addClassCleanup on a TestCase class."""
    if isinstance(testcase, type):
        testcase.addClassCleanup(fn, *args)
    else:
        testcase.addCleanup(fn, *args)


# --------------------------------------------------------------------------
# The server of this process

_LOCK = threading.Lock()
_SERVER = None


def server():
    """The radosgw the tests of this process use (see the module doc)."""
    global _SERVER
    with _LOCK:
        if _SERVER is None:
            _SERVER = _find_or_start()
        return _SERVER


def _find_or_start():
    state = os.environ.get("FERRY_TEST_S3_STATE")
    if state:
        env_file = os.path.join(state, "env")
        if not os.path.isfile(env_file):
            raise AssertionError(
                f"FERRY_TEST_S3_STATE={state} but {env_file} does not exist: the radosgw "
                f"fixture (ctest's radosgw_start, tests/support/radosgw.sh start {state}) "
                f"failed or did not run")
        return Server(read_env(env_file), state)
    base = tempfile.mkdtemp(prefix="ferry-s3-")
    state = os.path.join(base, "state")
    atexit.register(_stop, state, base)
    p = subprocess.run(["bash", RADOSGW_SH, "start", state], capture_output=True, text=True,
                       errors="replace", stdin=subprocess.DEVNULL, timeout=400)
    if p.returncode != 0:
        raise AssertionError(f"radosgw.sh start failed ({p.returncode}):\n{p.stderr}")
    return Server(read_env(os.path.join(state, "env")), state, own=True)


def _stop(state, base):
    if os.path.isdir(state):
        p = subprocess.run(["bash", RADOSGW_SH, "stop", state], capture_output=True, text=True,
                           errors="replace", stdin=subprocess.DEVNULL, timeout=200)
        if p.returncode != 0:
            print(f"radosgw.sh stop failed ({p.returncode}):\n{p.stderr}", file=sys.stderr)
    shutil.rmtree(base, ignore_errors=True)


def stop_own_server():
    """Stops the radosgw this process started (none under ctest)."""
    global _SERVER
    with _LOCK:
        if _SERVER is not None and _SERVER.own:
            _stop(_SERVER.state_dir, os.path.dirname(_SERVER.state_dir))
            _SERVER = None


# --------------------------------------------------------------------------
# The fault-injecting proxy (tests/support/s3_fault_proxy.py)


class FaultProxy:
    """tests/support/s3_fault_proxy.py as a process in front of a server's
    HTTP endpoint, driven through its control port.

        proxy = s3.FaultProxy.start(server, testcase)   # stopped at cleanup
        proxy.reset()                                   # no rules, counts zeroed
        c = server.client(endpoint=proxy.url)
        proxy.add(action="error", method="PUT", match="partNumber=")
        proxy.stats()["requests"]["PUT"]
    """

    def __init__(self, proc, port, control_port):
        self.proc = proc
        self.port = port
        self.control_port = control_port
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, server, testcase=None, upstream=None):
        """Starts a proxy in front of server's HTTP endpoint (or of the
        upstream URL given)."""
        proc = subprocess.Popen([sys.executable, FAULT_PROXY, "--upstream",
                                 upstream or server.endpoint,
                                 "--stdin-eof-exits"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=10)
            raise AssertionError(f"s3_fault_proxy.py did not start ({proc.returncode}):\n"
                                 f"{proc.stderr.read()}")
        info = json.loads(line)
        proxy = cls(proc, info["port"], info["control_port"])
        if testcase is not None:
            _add_cleanup(testcase, proxy.stop)
        return proxy

    def _call(self, method, path, obj=None):
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return json.loads(r.read())

    def add(self, **rule):
        """Adds a fault rule (see s3_fault_proxy.py): action="error" or
        "cut", method, match, count, status/code/message/close,
        after_bytes."""
        return self._call("POST", "/faults", rule)

    def stats(self):
        return self._call("GET", "/stats")

    def reset(self):
        return self._call("POST", "/reset", {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()
