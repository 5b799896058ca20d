"""Fixtures for the end-to-end tests of ferry's control plane (issue 4):
`ferry server`, `ferry agent`, and clients that speak DataSync's API to them
(boto3, the aws CLI, `ferry <command>`, raw SigV4-signed requests).

    ctl = control.Control.start(testcase_or_class, offline_after=None, db=None)
    c = ctl.client()                       # boto3 'datasync' client
    agent_arn = ctl.agent_arn              # one activated, ONLINE agent
    loc = ctl.create_location_local(path)  # ferry's CreateLocationLocal
    ctl.aws("list-tasks")                  # aws CLI, parsed JSON
    ctl.ferry("list-tasks")                # ferry's own client commands
    ctl.raw("ListTasks", {})               # a hand-signed request

Every process started here (server, agents, PostgreSQL) is stopped at
cleanup, also when a test fails, and at interpreter exit; server and agents
get PR_SET_PDEATHSIG so that they die with the test process even when it is
killed. Their stdout and stderr go to logs that failure messages quote (a
sanitizer report whole), and a sanitizer report in a log fails the cleanup
that stops the process. Every API response a boto3 client or raw() receives
is recorded in RESPONSES and checked against botocore's DataSync model
(model_check.py) as it arrives: a response that does not match fails the
test that received it.

A missing prerequisite the suite installs itself (boto3, the aws CLI,
PostgreSQL) fails; it never skips.

Environment: FERRY_BIN (required), FERRY_E2E_TMP (scratch), FERRY_E2E_AWS (the
aws CLI to use; default: `aws` on PATH).
"""

import atexit
import configparser
import ctypes
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
from unittest import mock

import oracle
import model_check

try:
    import boto3
    import botocore
    import botocore.auth
    import botocore.exceptions
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
except ImportError:  # pragma: no cover - scripts/setup.sh installs them
    boto3 = None

REGION = "ferry-local"
ACCOUNT = "000000000000"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
POSTGRES_SH = os.path.join(REPO, "tests", "support", "postgres.sh")

# Every API response seen by this process: dicts with operation, status, body
# (raw bytes), via ('boto3', 'raw').
RESPONSES = []
_RESPONSES_LOCK = threading.Lock()


def need_boto3():
    if boto3 is None:
        raise AssertionError("boto3/botocore are not installed for " + sys.executable
                             + " (pip install boto3, or Debian's python3-boto3)")


class ModelMismatch(AssertionError):
    """A response that does not match botocore's DataSync model."""


def record_response(operation, status, body, via):
    """Records a response and checks it against botocore's model at once:
    raises ModelMismatch (in the test that received it) when it does not
    match."""
    body = body if isinstance(body, bytes) else bytes(body or b"")
    with _RESPONSES_LOCK:
        RESPONSES.append({"operation": operation, "status": status, "body": body, "via": via})
    problems = model_check.check_response(operation, status, body)
    if problems:
        raise ModelMismatch(f"[{via}] {operation} HTTP {status}: the response does not match "
                            f"botocore's DataSync model:\n" + "\n".join(problems[:40])
                            + f"\nbody: {body[:2000]!r}")


# --------------------------------------------------------------------------
# Processes


_PROCS = []
_PROCS_LOCK = threading.Lock()
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # In the child, before exec: killed when the test process goes away.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(args, log_path, env=None):
    """Starts a background process in its own process group, output to
    log_path; stopped by stop_process() or at exit."""
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, preexec_fn=_die_with_parent, env=env)
    finally:
        log.close()
    with _PROCS_LOCK:
        _PROCS.append(p)
    return p


def stop_process(p, sig=signal.SIGTERM, timeout=15):
    """Sends sig to p's process group, waits, then SIGKILLs what is left."""
    if p is None:
        return
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever the group still holds
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _PROCS_LOCK:
        if p in _PROCS:
            _PROCS.remove(p)


_PG_STATES = []


def _stop_everything():
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for p in procs:
        stop_process(p, signal.SIGKILL, timeout=5)
    for state in list(_PG_STATES):
        stop_postgres(state)


atexit.register(_stop_everything)


def _on_term(signum, frame):
    _stop_everything()
    sys.exit(128 + signum)


if threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(_sig, _on_term)
        except (ValueError, OSError):
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def tail(path, n=60, skip_ok_requests=False):
    """The last n lines of a log (without the server's lines for API calls
    that answered 200, if asked); a sanitizer report in it is shown whole."""
    text = read_text(path)
    if text is None:
        return f"(no {path})"
    report = oracle.sanitizer_reports(text)
    if report:
        return f"SANITIZER REPORT in {path}:\n{report[:40000]}"
    lines = text.splitlines()
    if skip_ok_requests:
        lines = [ln for ln in lines if not re.match(r"ferry server: \S+ \S+ \w+ 200 ", ln)]
    return "\n".join(lines[-n:])


def check_no_sanitizer_report(path, what):
    """Fails when the log of a process that has stopped holds a sanitizer
    report (AddressSanitizer, LeakSanitizer, UBSan, ThreadSanitizer)."""
    report = oracle.sanitizer_reports(read_text(path) or "")
    if report:
        raise AssertionError(f"{what} reported a sanitizer error ({path}):\n{report[:40000]}")


wait_for = oracle.wait_for  # the one waiting helper of the e2e tests


def run(args, timeout=120, env=None, input=None):
    return subprocess.run(args, capture_output=True, text=True, errors="replace",
                          timeout=oracle.scaled(timeout), env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


# --------------------------------------------------------------------------
# PostgreSQL (tests/support/postgres.sh)


def start_postgres(state_dir):
    """Starts a throwaway cluster; returns its URL. Fails when PostgreSQL's
    server binaries are missing."""
    p = run(["bash", POSTGRES_SH, "start", state_dir], timeout=180)
    if p.returncode != 0:
        if "not found" in p.stderr:
            raise AssertionError("PostgreSQL is not installed (scripts/setup.sh installs "
                                 "postgresql): " + p.stderr.strip())
        raise AssertionError(f"postgres.sh start failed ({p.returncode}):\n{p.stderr}")
    _PG_STATES.append(state_dir)
    return p.stdout.strip().splitlines()[-1]


def stop_postgres(state_dir):
    run(["bash", POSTGRES_SH, "stop", state_dir], timeout=120)
    if state_dir in _PG_STATES:
        _PG_STATES.remove(state_dir)


# --------------------------------------------------------------------------
# Server and agents


class Server:
    """`ferry server init` + `ferry server` on 127.0.0.1 (a fixed free port,
    so that a restarted server has the same URL)."""

    def __init__(self, base, *, db=None, offline_after=None, extra_args=()):
        self.base = base
        self.dir = os.path.join(base, "server")
        self.db = db
        self.offline_after = offline_after
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log = os.path.join(base, "server.log")
        self.proc = None
        self.starts = 0

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.pem")

    @property
    def credentials_file(self):
        return os.path.join(self.dir, "credentials")

    def init(self):
        args = [oracle.ferry_cmd()[0], "server", "init", "--data-dir", self.dir,
                "--listen", f"127.0.0.1:{self.port}"]
        if self.db:
            args += ["--db", self.db]
        p = run(args, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"ferry server init failed rc={p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        self.init_output = p
        cp = configparser.ConfigParser()
        cp.read(self.credentials_file)
        self.access_key = cp["default"]["aws_access_key_id"]
        self.secret_key = cp["default"]["aws_secret_access_key"]
        return p

    def args(self):
        a = [oracle.ferry_cmd()[0], "server", "--data-dir", self.dir,
             "--listen", f"127.0.0.1:{self.port}"]
        if self.db:
            a += ["--db", self.db]
        if self.offline_after is not None:
            a += ["--agent-offline-after", str(self.offline_after)]
        return a + self.extra_args

    def start(self, timeout=60):
        with open(self.log, "ab") as f:
            f.write(f"==== start {self.starts} at {time.time():.3f}\n".encode())
        self.starts += 1
        self.proc = spawn(self.args(), self.log)
        self.wait_ready(timeout)

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"ferry server exited rc={self.proc.returncode}:\n"
                                     + tail(self.log))
            status, _, _ = raw_request(self, "ListAgents", {}, record=False, timeout=5)
            return status == 200
        wait_for(ready, timeout, 0.1, "the server to answer ListAgents",
                 lambda: tail(self.log))

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)

    def kill(self):
        stop_process(self.proc, signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Agent:
    """`ferry agent` with its own data directory."""

    def __init__(self, server, base, name, extra_args=(), env=None):
        self.server = server
        self.name = name
        self.extra_args = list(extra_args)  # e.g. ["--s3-endpoint-url", URL]
        self.env = env  # the whole environment; None: the test process's
        self.dir = os.path.join(base, name)
        self.log = os.path.join(base, name + ".log")
        self.proc = None
        self.arn = None
        self.starts = 0

    def start(self):
        with open(self.log, "ab") as f:
            f.write(f"==== start {self.starts} at {time.time():.3f}\n".encode())
        self.starts += 1
        self.proc = spawn([oracle.ferry_cmd()[0], "agent", "--server", self.server.url,
                           "--data-dir", self.dir, "--ca-bundle", self.server.ca,
                           *self.extra_args], self.log, env=self.env)

    def activation_key(self, timeout=30):
        path = os.path.join(self.dir, "activation-key")

        def key():
            if self.proc.poll() is not None:
                raise AssertionError(f"ferry agent exited rc={self.proc.returncode}:\n"
                                     + tail(self.log))
            with open(path) as f:
                k = f.read().strip()
            return k if len(k) == 29 else None
        return wait_for(key, timeout, 0.1, f"{path}", lambda: tail(self.log))

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)

    def kill(self):
        stop_process(self.proc, signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


# --------------------------------------------------------------------------
# Clients


def _credentials(server, access_key=None, secret_key=None):
    return Credentials(access_key or server.access_key, secret_key or server.secret_key)


def _ssl_context(server):
    return ssl.create_default_context(cafile=server.ca)


def raw_request(server, operation, body, *, access_key=None, secret_key=None, when=None,
                tamper=None, headers=None, target=None, record=True, timeout=30,
                region=REGION, service="datasync", payload=None):
    """A JSON 1.1 request signed with SigV4 by botocore's signer (time `when`,
    a naive UTC datetime, if given). `tamper(headers_dict)` may change the
    signed headers before sending. Returns (status, headers, parsed body or
    None)."""
    need_boto3()
    data = payload if payload is not None else json.dumps(body).encode()
    req = AWSRequest(method="POST", url=server.url + "/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": target or f"FmrsService.{operation}",
    })
    for k, v in (headers or {}).items():
        req.headers[k] = v
    creds = _credentials(server, access_key, secret_key)
    if when is not None:
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: when):
            SigV4Auth(creds, service, region).add_auth(req)
    else:
        SigV4Auth(creds, service, region).add_auth(req)
    hdrs = dict(req.headers.items())
    if tamper is not None:
        tamper(hdrs)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=timeout,
                                       context=_ssl_context(server))
    try:
        conn.request("POST", "/", body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        status = resp.status
        rheaders = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    if record:
        record_response(operation, status, raw, "raw")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, rheaders, parsed


def _record_hook(http_response, parsed, model, **kwargs):
    if http_response is None:
        return
    record_response(model.name, http_response.status_code, http_response.content, "boto3")


def make_client(server, *, access_key=None, secret_key=None, validate=True, retries=1,
                timeout=30):
    need_boto3()
    cfg = Config(retries={"total_max_attempts": retries, "mode": "standard"},
                 parameter_validation=validate, connect_timeout=timeout,
                 read_timeout=timeout)
    c = boto3.session.Session().client(
        "datasync", endpoint_url=server.url, region_name=REGION, verify=server.ca,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key, config=cfg)
    c.meta.events.register("after-call.datasync", _record_hook)
    return c


def aws_env(server, *, keep_ca_bundle=False, extra=None):
    """The environment for the aws CLI: the server's credentials file and
    nothing of the machine's AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = server.credentials_file
    env["AWS_CONFIG_FILE"] = os.path.join(server.base, "no-aws-config")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_PAGER"] = ""
    if keep_ca_bundle and "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    if extra:
        env.update(extra)
    return env


def aws_cli():
    exe = os.environ.get("FERRY_E2E_AWS") or shutil.which("aws")
    if not exe:
        raise AssertionError("the aws CLI is not installed (pip install awscli, or Debian's "
                             "awscli; or set FERRY_E2E_AWS)")
    return exe


class CliError(AssertionError):
    pass


def parse_cli_output(p, what):
    if p.returncode != 0:
        raise CliError(f"{what} -> rc={p.returncode}\nstdout: {p.stdout[-3000:]}\n"
                       f"stderr: {p.stderr[-3000:]}")
    out = p.stdout.strip()
    return json.loads(out) if out else {}


# --------------------------------------------------------------------------
# The whole fixture


def _cleanup_target(obj):
    """addCleanup of a TestCase, or addClassCleanup of a TestCase class."""
    if isinstance(obj, type):
        return obj.addClassCleanup
    return obj.addCleanup


class Control:
    """A server with N activated, ONLINE agents."""

    def __init__(self, base, server):
        self.base = base
        self.server = server
        self.agents = []
        self._link_receiver = None
        self._client = None

    @classmethod
    def start(cls, owner, *, agents=1, offline_after=None, db=None, postgres=False,
              extra_server_args=(), agent_args=(), agent_env=None):
        """Starts everything; `owner` (a TestCase or a TestCase class) gets the
        cleanups. postgres=True starts a throwaway PostgreSQL first.
        agent_args: more flags for every `ferry agent` (--s3-endpoint-url
        URL); agent_env: their whole environment (default: this process's)."""
        need_boto3()
        oracle.ferry_cmd()
        add_cleanup = _cleanup_target(owner)
        base = oracle.make_scratch(_Cleanups(add_cleanup), prefix="ferry-ctl-")
        if postgres:
            state = os.path.join(base, "pg")
            db = start_postgres(state)
            add_cleanup(stop_postgres, state)
        server = Server(base, db=db, offline_after=offline_after,
                        extra_args=extra_server_args)
        ctl = cls(base, server)
        add_cleanup(ctl.stop_all)
        server.init()
        server.start()
        for i in range(agents):
            ctl.add_agent(f"agent{i}", extra_args=agent_args, env=agent_env)
        return ctl

    def add_agent(self, name, activate=True, extra_args=(), env=None):
        a = Agent(self.server, self.base, name, extra_args=extra_args, env=env)
        self.agents.append(a)
        a.start()
        if activate:
            self.activate(a)
        return a

    def link_receiver(self, extra_args=()):
        """A second agent that accepts link connections (--link-listen on
        127.0.0.1, and `extra_args`), started and activated by the first
        call; later calls return the same one."""
        if self._link_receiver is None:
            self._link_receiver = self.add_agent(
                "receiver", extra_args=["--link-listen", "127.0.0.1:0", *extra_args])
        return self._link_receiver

    def activate(self, agent, name=None):
        key = agent.activation_key()
        r = self.client().create_agent(ActivationKey=key, AgentName=name or agent.name)
        agent.arn = r["AgentArn"]
        self.wait_agent_status(agent.arn, "ONLINE", 30)
        return agent.arn

    def ensure_agents(self):
        """Restarts every activated agent whose process is gone (killed by a
        test, or died: that is logged in its log) and waits until it is
        ONLINE again. Returns the names of the agents restarted."""
        restarted = []
        for a in self.agents:
            if a.arn and not a.running():
                rc = a.proc.returncode if a.proc is not None else None
                with open(a.log, "ab") as f:
                    f.write(f"==== found dead (rc={rc}); restarting\n".encode())
                a.start()
                restarted.append(f"{a.name} (rc={rc})")
        for a in self.agents:
            if a.arn and any(r.startswith(a.name + " ") for r in restarted):
                self.wait_agent_status(a.arn, "ONLINE", 30)
        return restarted

    def connections(self, agent):
        """How many times the agent has said it connected to the server."""
        try:
            with open(agent.log, "rb") as f:
                return f.read().count(b"ferry agent: connected to ")
        except OSError:
            return 0

    def failed_syncs(self, agent):
        """How many times the agent has said it lost its channel to the server
        or could not reach it."""
        text = read_text(agent.log) or ""
        return len(re.findall(r"ferry agent: (?:lost the channel to|cannot reach) \S+: ",
                              text))

    def wait_failed_sync(self, agent, before, timeout=20):
        """Waits until `agent` has noticed the server is gone (its log counts
        more than `before` failed syncs); fails at once if its process died."""
        def noticed():
            if not agent.running():
                raise AssertionError(f"{agent.name} died (exit status {agent.proc.returncode}) "
                                     f"while the server was down:\n" + tail(agent.log, 10))
            return self.failed_syncs(agent) > before
        wait_for(noticed, timeout, 0.05, f"{agent.name} to report a failed sync", self.logs)

    def wait_reconnected(self, agent, before, timeout=20):
        """Waits until `agent` connects again (its log counts more than
        `before` connections); fails at once if its process died."""
        def again():
            if not agent.running():
                raise AssertionError(
                    f"{agent.name} died (exit status {agent.proc.returncode}, "
                    f"-13 is SIGPIPE) instead of reconnecting to the restarted server:\n"
                    + tail(agent.log, 10))
            return self.connections(agent) > before
        wait_for(again, timeout, 0.1, f"{agent.name} to reconnect", self.logs)

    @property
    def agent(self):
        return self.agents[0]

    @property
    def agent_arn(self):
        return self.agents[0].arn

    def stop_all(self):
        """Stops every process; then fails if one of them logged a sanitizer
        report (a crash, a leak, a data race, undefined behaviour)."""
        for a in self.agents:
            a.stop()
        self.server.stop()
        for what, log in [("ferry server", self.server.log)] + [
                (f"ferry agent {a.name}", a.log) for a in self.agents]:
            check_no_sanitizer_report(log, what)

    def logs(self, n=25):
        parts = [f"--- server log ({self.server.log}), without API calls answered 200 ---\n"
                 + tail(self.server.log, n, skip_ok_requests=True)]
        for a in self.agents:
            parts.append(f"--- {a.name} log ---\n" + tail(a.log, n))
        return "\n".join(parts)

    # Clients ------------------------------------------------------------

    def client(self, **kw):
        if not kw:
            if self._client is None:
                self._client = make_client(self.server)
            return self._client
        return make_client(self.server, **kw)

    def raw(self, operation, body, **kw):
        return raw_request(self.server, operation, body, **kw)

    def aws(self, *args, check=True, env=None, endpoint=True, timeout=120):
        """`aws datasync ARGS --endpoint-url URL --ca-bundle CA --region
        ferry-local --output json`; parsed JSON (check) or the process."""
        cmd = [aws_cli(), "datasync", *map(str, args)]
        if endpoint:
            cmd += ["--endpoint-url", self.server.url, "--ca-bundle", self.server.ca,
                    "--region", REGION, "--output", "json"]
        p = run(cmd, timeout=timeout, env=env or aws_env(self.server))
        return parse_cli_output(p, " ".join(cmd)) if check else p

    def ferry(self, *args, check=True, env=None, timeout=120, endpoint=True):
        """`ferry ARGS --endpoint-url URL --ca-bundle CA` with the server's
        credentials file; parsed JSON (check) or the process."""
        cmd = [oracle.ferry_cmd()[0], *map(str, args)]
        if endpoint:
            cmd += ["--endpoint-url", self.server.url, "--ca-bundle", self.server.ca]
        p = run(cmd, timeout=timeout, env=env or aws_env(self.server))
        return parse_cli_output(p, " ".join(cmd)) if check else p

    # Helpers ------------------------------------------------------------

    def create_location_local(self, path, agent_arns=None, tags=None):
        """ferry's CreateLocationLocal (not in boto3's model): a raw signed
        request."""
        body = {"Path": path, "AgentArns": agent_arns or [self.agent_arn]}
        if tags:
            body["Tags"] = tags
        status, _, r = self.raw("CreateLocationLocal", body)
        if status != 200:
            raise AssertionError(f"CreateLocationLocal {body} -> HTTP {status} {r}")
        return r["LocationArn"]

    def describe_agent(self, arn):
        return self.client().describe_agent(AgentArn=arn)

    def wait_agent_status(self, arn, status, timeout):
        def ok():
            return self.describe_agent(arn)["Status"] == status
        wait_for(ok, timeout, 0.25, f"agent {arn} {status}", self.logs)

    def describe_execution(self, arn):
        return self.client().describe_task_execution(TaskExecutionArn=arn)

    def wait_execution(self, arn, statuses=("SUCCESS", "ERROR"), timeout=60, on_poll=None,
                       interval=0.2, client=None):
        """Polls DescribeTaskExecution until its Status is in `statuses`;
        returns the last response. on_poll(response) sees every poll.
        Connection errors (a server restarting) are retried."""
        c = client or self.client()
        seen = []

        def poll():
            r = c.describe_task_execution(TaskExecutionArn=arn)
            seen.append(r["Status"])
            if on_poll:
                on_poll(r)
            return r if r["Status"] in statuses else None
        return wait_for(poll, timeout, interval, f"execution {arn} to reach {statuses}",
                        lambda: f"statuses seen: {compress(seen)}\n" + self.logs())

    def create_task(self, src_arn, dst_arn, **kw):
        r = self.client().create_task(SourceLocationArn=src_arn, DestinationLocationArn=dst_arn,
                                      **kw)
        return r["TaskArn"]

    def run_task(self, task_arn, timeout=60, **kw):
        """StartTaskExecution and wait for the end; the final Describe."""
        arn = self.client().start_task_execution(TaskArn=task_arn, **kw)["TaskExecutionArn"]
        return self.wait_execution(arn, timeout=timeout)


class ModuleCleanups:
    """Cleanups that run when the test module ends (for Control.start and
    oracle.make_scratch in setUpModule)."""

    @staticmethod
    def addCleanup(fn, *args):
        unittest.addModuleCleanup(fn, *args)


class ClassCleanups:
    """Cleanups that run when a test class ends (for setUpClass)."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *args):
        self.cls.addClassCleanup(fn, *args)


class _Cleanups:
    def __init__(self, add):
        self.addCleanup = add


def compress(seq):
    """['A','A','B'] -> 'A x2, B'."""
    out = []
    for s in seq:
        if out and out[-1][0] == s:
            out[-1][1] += 1
        else:
            out.append([s, 1])
    return ", ".join(f"{s} x{n}" if n > 1 else s for s, n in out)


def client_error(testcase, fn, *args, **kw):
    """Calls fn, expects botocore's ClientError; returns (code, message,
    http status, full error dict)."""
    with testcase.assertRaises(botocore.exceptions.ClientError) as cm:
        fn(*args, **kw)
    err = cm.exception.response.get("Error", {})
    status = cm.exception.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code"), err.get("Message"), status, cm.exception.response


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def execution_counters(d):
    return {k: d.get(k) for k in ("FilesTransferred", "BytesWritten", "BytesTransferred",
                                  "FilesListed", "FilesVerified", "FilesPrepared")}
