"""ferry server and ferry agent as processes: `server init`, activation with
the key the agent prints, a LOCAL-to-LOCAL task through the SigV4-signed API,
an agent stopped by SIGTERM (its execution ends AgentOffline), and the same
agent started again (no new activation; work goes on). With the client
commands built in, `ferry start-task-execution --wait` too."""

import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import unittest
import urllib.error
import urllib.request

import oracle

FERRY = os.environ.get("FERRY_BIN", "ferry")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_credentials(path):
    creds = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                creds[k.strip()] = v.strip()
    return creds["aws_access_key_id"], creds["aws_secret_access_key"]


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Api:
    """A DataSync JSON 1.1 client: POST / signed with SigV4 (stdlib only)."""

    def __init__(self, url, ca, access_key, secret_key, region="ferry-local"):
        self.url, self.region = url, region
        self.access_key, self.secret_key = access_key, secret_key
        self.ctx = ssl.create_default_context(cafile=ca)

    def call(self, operation, body):
        payload = json.dumps(body).encode()
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = now.strftime("%Y%m%d")
        host = self.url.split("://", 1)[1].rstrip("/")
        target = "FmrsService." + operation
        ctype = "application/x-amz-json-1.1"
        headers = {"content-type": ctype, "host": host,
                   "x-amz-date": amz_date, "x-amz-target": target}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            ["POST", "/", ""] + [k + ":" + headers[k] for k in sorted(headers)]
            + ["", signed, hashlib.sha256(payload).hexdigest()])
        scope = f"{date}/{self.region}/datasync/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        k = sign(("AWS4" + self.secret_key).encode(), date)
        for part in (self.region, "datasync", "aws4_request"):
            k = sign(k, part)
        signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(self.url + "/", data=payload, method="POST")
        req.add_header("Content-Type", ctype)
        req.add_header("X-Amz-Date", amz_date)
        req.add_header("X-Amz-Target", target)
        req.add_header("Authorization",
                       f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                       f"SignedHeaders={signed}, Signature={signature}")
        try:
            with urllib.request.urlopen(req, context=self.ctx,
                                        timeout=oracle.scaled(30)) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{operation}: HTTP {e.code}: {e.read()!r}")


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(d, name), root)] = None
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return out


class AgentServerTest(unittest.TestCase):
    def setUp(self):
        oracle.ferry_cmd()  # fails when FERRY_BIN is not set
        for cmd in ("server", "agent"):
            p = subprocess.run([FERRY, cmd, "--help"], capture_output=True, text=True,
                               timeout=oracle.scaled(30))
            self.assertEqual(p.returncode, 0,
                             f"`ferry {cmd} --help` failed (rc={p.returncode}): this ferry "
                             f"has no working `{cmd}` command\n"
                             + oracle.describe_output("stderr", p.stderr))
        self.tmp = oracle.make_scratch(self, prefix="ferry-agent-e2e-")
        self.server_dir = os.path.join(self.tmp, "server")
        self.agent_dir = os.path.join(self.tmp, "agent")
        self.procs = []
        self.addCleanup(self.stop_processes)
        init = subprocess.run([FERRY, "server", "init", "--data-dir",
                               self.server_dir], capture_output=True, text=True,
                              timeout=oracle.scaled(60))
        self.assertEqual(init.returncode, 0, oracle.describe_output("stderr", init.stderr))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.server_log = os.path.join(self.tmp, "server.log")
        self.agent_log = os.path.join(self.tmp, "agent.log")
        self.server = self.spawn(
            [FERRY, "server", "--data-dir", self.server_dir, "--listen",
             f"127.0.0.1:{self.port}", "--agent-offline-after", "5"], self.server_log)

        def listening():
            if self.server.poll() is not None:
                raise AssertionError(f"ferry server exited rc={self.server.returncode}\n"
                                     + self.logs())
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        oracle.wait_for(listening, 20, 0.05, f"ferry server to listen on port {self.port}",
                        self.logs)
        key_id, secret = read_credentials(
            os.path.join(self.server_dir, "credentials"))
        self.ca = os.path.join(self.server_dir, "ca.pem")
        self.api = Api(self.url, self.ca, key_id, secret)

    def stop_processes(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        # A sanitizer report (crash, leak, race, undefined behaviour) fails.
        for what, path in (("ferry server", self.server_log), ("ferry agent", self.agent_log)):
            report = oracle.sanitizer_reports(read_text(path))
            self.assertEqual(report, "", f"{what} reported a sanitizer error ({path})")

    def logs(self):
        return "\n".join(f"--- {name} ({path}) ---\n" + read_text(path)[-6000:]
                         for name, path in (("server log", self.server_log),
                                            ("agent log", self.agent_log)))

    def spawn(self, argv, log_path, stdout=None):
        """stderr (and stdout unless asked for) goes to log_path, appended."""
        with open(log_path, "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=stdout if stdout is not None else log,
                                 stderr=log, text=True)
        self.procs.append(p)
        return p

    def start_agent(self):
        return self.spawn([FERRY, "agent", "--server", self.url, "--data-dir",
                           self.agent_dir, "--ca-bundle", self.ca,
                           "--poll-interval-ms", "100", "--threads", "2",
                           "--outage-limit", "120"],
                          self.agent_log, stdout=subprocess.PIPE)

    def wait_status(self, arn, statuses, seconds):
        seen = []

        def reached():
            d = self.api.call("DescribeTaskExecution", {"TaskExecutionArn": arn})
            seen.append(d["Status"])
            return d if d["Status"] in statuses else None
        return oracle.wait_for(reached, seconds, 0.1, f"{arn} to reach {statuses}",
                               lambda: f"statuses seen: {seen[-20:]}\n" + self.logs())

    def location(self, path, agent_arn):
        os.makedirs(path, exist_ok=True)
        return self.api.call("CreateLocationLocal", {
            "Path": path, "AgentArns": [agent_arn]})["LocationArn"]

    def test_a_bad_outage_limit_is_refused_before_anything_starts(self):
        p = subprocess.run([FERRY, "agent", "--server", "https://127.0.0.1:1",
                            "--data-dir", self.agent_dir, "--ca-bundle", "/dev/null",
                            "--outage-limit", "-5"],
                           capture_output=True, text=True, timeout=oracle.scaled(30))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--outage-limit must be 0..604800 seconds", p.stderr)
        self.assertFalse(os.path.exists(self.agent_dir))

    def test_activate_run_stop_and_restart_the_agent(self):
        agent = self.start_agent()
        key_file = os.path.join(self.agent_dir, "activation-key")

        def key_written():
            if agent.poll() is not None:
                raise AssertionError(f"ferry agent exited rc={agent.returncode}\n"
                                     + self.logs())
            return len(read_text(key_file).strip()) == 29
        oracle.wait_for(key_written, 30, 0.05, f"the agent to write {key_file}", self.logs)
        line = agent.stdout.readline()  # printed with the file
        m = re.match(r"Activation key: ([A-Z0-9]{5}(?:-[A-Z0-9]{5}){4});", line)
        self.assertIsNotNone(m, f"{line!r}\n" + self.logs())
        with open(os.path.join(self.agent_dir, "activation-key")) as f:
            self.assertEqual(f.read().strip(), m.group(1))
        agent_arn = self.api.call("CreateAgent", {
            "ActivationKey": m.group(1), "AgentName": "e2e"})["AgentArn"]
        oracle.wait_for(lambda: self.api.call("DescribeAgent", {"AgentArn": agent_arn})[
            "Status"] == "ONLINE", 20, 0.1, "the agent to be ONLINE", self.logs)
        self.assertEqual(
            os.stat(os.path.join(self.agent_dir, "agent.key")).st_mode & 0o777,
            0o600)

        src, dst = os.path.join(self.tmp, "src"), os.path.join(self.tmp, "dst")
        os.makedirs(os.path.join(src, "d"))
        with open(os.path.join(src, "a"), "wb") as f:
            f.write(b"alpha")
        with open(os.path.join(src, "d", "big"), "wb") as f:
            f.write(os.urandom(3 << 20))
        task = self.api.call("CreateTask", {
            "SourceLocationArn": self.location(src, agent_arn),
            "DestinationLocationArn": self.location(dst, agent_arn),
            "Name": "e2e"})["TaskArn"]
        arn = self.api.call("StartTaskExecution",
                            {"TaskArn": task})["TaskExecutionArn"]
        d = self.wait_status(arn, ("SUCCESS", "ERROR"), 60)
        self.assertEqual(d["Status"], "SUCCESS", d)
        self.assertEqual(d["FilesTransferred"], 2)
        self.assertEqual(d["BytesWritten"], (3 << 20) + 5)
        self.assertEqual(tree(dst), tree(src))

        # SIGTERM stops the agent promptly; its execution ends AgentOffline.
        arn = self.api.call("StartTaskExecution", {
            "TaskArn": task, "OverrideOptions": {
                "BytesPerSecond": 256 << 10, "TransferMode": "ALL"}})[
                    "TaskExecutionArn"]
        self.wait_status(arn, ("TRANSFERRING",), 30)
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=oracle.scaled(10)), 0, self.logs())
        d = self.wait_status(arn, ("SUCCESS", "ERROR"), 20)
        self.assertEqual(d["Status"], "ERROR")
        self.assertEqual(d["Result"]["ErrorCode"], "AgentOffline", d)

        # Started again, it is the same agent (no new key) and runs work.
        agent = self.start_agent()
        arn = self.api.call("StartTaskExecution",
                            {"TaskArn": task})["TaskExecutionArn"]
        d = self.wait_status(arn, ("SUCCESS", "ERROR"), 60)
        self.assertEqual(d["Status"], "SUCCESS", d)
        self.assertEqual(tree(dst), tree(src))
        agent.send_signal(signal.SIGINT)
        self.assertEqual(agent.wait(timeout=oracle.scaled(10)), 0, self.logs())
        self.assertEqual(agent.stdout.read(), "", "no second activation")

        # start-task-execution --wait (ferry's client commands).
        helped = subprocess.run([FERRY, "start-task-execution", "--help"],
                                capture_output=True, text=True, timeout=oracle.scaled(30))
        self.assertEqual(helped.returncode, 0, helped.stderr)
        self.assertIn("--wait", helped.stdout)
        agent = self.start_agent()
        env = dict(os.environ,
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(
                       self.server_dir, "credentials"),
                   AWS_DEFAULT_REGION="ferry-local")
        run = subprocess.run(
            [FERRY, "start-task-execution", "--task-arn", task, "--wait",
             "--endpoint-url", self.url, "--ca-bundle", self.ca],
            capture_output=True, text=True, env=env, timeout=oracle.scaled(120))
        self.assertEqual(run.returncode, 0, oracle.describe_output("stderr", run.stderr)
                         + "\n" + self.logs())
        out = json.loads(run.stdout)
        self.assertEqual(out["Status"], "SUCCESS")
        self.assertIn("FilesTransferred", out)


if __name__ == "__main__":
    unittest.main()
