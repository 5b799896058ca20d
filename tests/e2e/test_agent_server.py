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
import tempfile
import time
import unittest
import urllib.request

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
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{operation}: HTTP {e.code}: {e.read()!r}")


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
        for cmd in ("server", "agent"):
            if subprocess.run([FERRY, cmd, "--help"],
                              capture_output=True).returncode != 0:
                self.skipTest(f"this ferry has no `{cmd}` command")
        self.tmp = tempfile.mkdtemp(prefix="ferry-agent-e2e-")
        self.server_dir = os.path.join(self.tmp, "server")
        self.agent_dir = os.path.join(self.tmp, "agent")
        self.procs = []
        init = subprocess.run([FERRY, "server", "init", "--data-dir",
                               self.server_dir], capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.server = self.spawn(
            [FERRY, "server", "--data-dir", self.server_dir, "--listen",
             f"127.0.0.1:{self.port}", "--agent-offline-after", "5"])
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                self.assertLess(time.time(), deadline, "server not listening")
                time.sleep(0.05)
        key_id, secret = read_credentials(
            os.path.join(self.server_dir, "credentials"))
        self.ca = os.path.join(self.server_dir, "ca.pem")
        self.api = Api(self.url, self.ca, key_id, secret)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
        subprocess.run(["rm", "-rf", self.tmp])

    def spawn(self, argv):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        return p

    def start_agent(self):
        return self.spawn([FERRY, "agent", "--server", self.url, "--data-dir",
                           self.agent_dir, "--ca-bundle", self.ca,
                           "--poll-interval-ms", "100", "--threads", "2"])

    def wait_status(self, arn, statuses, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            d = self.api.call("DescribeTaskExecution", {"TaskExecutionArn": arn})
            if d["Status"] in statuses:
                return d
            time.sleep(0.1)
        self.fail(f"{arn} not {statuses} after {seconds} s: {d}")

    def location(self, path, agent_arn):
        os.makedirs(path, exist_ok=True)
        return self.api.call("CreateLocationLocal", {
            "Path": path, "AgentArns": [agent_arn]})["LocationArn"]

    def test_activate_run_stop_and_restart_the_agent(self):
        agent = self.start_agent()
        line = agent.stdout.readline()
        m = re.match(r"Activation key: ([A-Z0-9]{5}(?:-[A-Z0-9]{5}){4});", line)
        self.assertIsNotNone(m, line)
        with open(os.path.join(self.agent_dir, "activation-key")) as f:
            self.assertEqual(f.read().strip(), m.group(1))
        agent_arn = self.api.call("CreateAgent", {
            "ActivationKey": m.group(1), "AgentName": "e2e"})["AgentArn"]
        deadline = time.time() + 20
        while self.api.call("DescribeAgent", {"AgentArn": agent_arn})[
                "Status"] != "ONLINE":
            self.assertLess(time.time(), deadline, "agent never ONLINE")
            time.sleep(0.1)
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
        self.assertEqual(agent.wait(timeout=10), 0)
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
        self.assertEqual(agent.wait(timeout=10), 0)
        self.assertEqual(agent.stdout.read(), "", "no second activation")

        # start-task-execution --wait, where the client commands are built in.
        helped = subprocess.run([FERRY, "start-task-execution", "--help"],
                                capture_output=True, text=True)
        if helped.returncode != 0 or "--wait" not in helped.stdout:
            return
        agent = self.start_agent()
        env = dict(os.environ,
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(
                       self.server_dir, "credentials"),
                   AWS_DEFAULT_REGION="ferry-local")
        run = subprocess.run(
            [FERRY, "start-task-execution", "--task-arn", task, "--wait",
             "--endpoint-url", self.url, "--ca-bundle", self.ca],
            capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = json.loads(run.stdout)
        self.assertEqual(out["Status"], "SUCCESS")
        self.assertIn("FilesTransferred", out)


if __name__ == "__main__":
    unittest.main()
