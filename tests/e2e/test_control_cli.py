"""End-to-end: the main flow with the aws CLI and with `ferry <command>`, and
SigV4 authentication as AWS answers it (wrong key, tampered signature, old and
future requests).

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_control_cli
"""

import datetime
import json
import os
import re
import shlex
import subprocess
import unittest

import control
import oracle

CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    CTL = control.Control.start(control.ModuleCleanups())



def make_source(root, seed):
    oracle.make_tree(root, seed=seed, files=25, dirs=5)
    for rel in ("junk.tmp", "sub/more.tmp"):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        oracle.write_file(p, b"excluded\n")


def not_tmp(rel):
    return rel.endswith(b".tmp")


class CliCase(oracle.FerryTestCase):
    def setUp(self):
        CTL.ensure_agents()

    def locations(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        make_source(src, seed=len(base))
        os.makedirs(dst)
        return src, dst


class AwsCli(CliCase):
    """The flow of the README with `aws datasync ...` only (locations come
    from ferry's CreateLocationLocal, which the aws CLI does not know)."""

    def test_printed_command_works_verbatim(self):
        # `ferry server init` prints the aws command line to try; it works as
        # printed, in the machine's environment (AWS_CA_BUNDLE included).
        out = CTL.server.init_output.stdout
        m = re.search(r"^\s*(AWS_SHARED_CREDENTIALS_FILE=\S+ aws datasync list-tasks .*)$", out,
                      re.M)
        self.assertIsNotNone(m, out)
        line = m.group(1)
        self.assertIn(f"--endpoint-url {CTL.server.url}", line)
        self.assertIn(f"--ca-bundle {CTL.server.ca}", line)
        words = shlex.split(line)
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                            "AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
        env[words[0].split("=", 1)[0]] = words[0].split("=", 1)[1]
        env["AWS_CONFIG_FILE"] = os.path.join(CTL.server.base, "no-aws-config")
        words[1] = control.aws_cli()
        p = control.run(words[1:], env=env)
        self.assertEqual(p.returncode, 0, f"{line}\n{p.stdout}\n{p.stderr}")
        self.assertIn("Tasks", json.loads(p.stdout))

    def test_without_a_region_flag_using_the_credentials_file_only(self):
        # The form issue 4 names: credentials file, endpoint and CA bundle.
        env = control.aws_env(CTL.server, extra={"AWS_DEFAULT_REGION": control.REGION})
        p = control.run([control.aws_cli(), "datasync", "list-tasks", "--endpoint-url",
                         CTL.server.url, "--ca-bundle", CTL.server.ca], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Tasks", json.loads(p.stdout))

    def test_main_flow(self):
        src, dst = self.locations()
        s = CTL.create_location_local(src)
        d = CTL.create_location_local(dst)
        t = CTL.aws("create-task", "--source-location-arn", s, "--destination-location-arn", d,
                    "--name", "aws-cli-task",
                    "--options", "VerifyMode=ONLY_FILES_TRANSFERRED,OverwriteMode=ALWAYS,"
                                 "LogLevel=BASIC",
                    "--excludes", "FilterType=SIMPLE_PATTERN,Value=*.tmp",
                    "--tags", "Key=via,Value=aws")["TaskArn"]
        desc = CTL.aws("describe-task", "--task-arn", t)
        self.assertEqual(desc["Name"], "aws-cli-task")
        self.assertEqual(desc["Options"]["VerifyMode"], "ONLY_FILES_TRANSFERRED")
        self.assertEqual(desc["Excludes"], [{"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp"}])
        self.assertIn(t, [x["TaskArn"] for x in CTL.aws("list-tasks")["Tasks"]])
        e = CTL.aws("start-task-execution", "--task-arn", t)["TaskExecutionArn"]

        def done():
            r = CTL.aws("describe-task-execution", "--task-execution-arn", e)
            return r if r["Status"] in ("SUCCESS", "ERROR") else None
        r = control.wait_for(done, 90, 0.5, "the execution to end", CTL.logs)
        self.assertEqual(r["Status"], "SUCCESS", r)
        st = oracle.tree_stats(src, ignore=not_tmp)
        self.assertEqual(r["FilesTransferred"], st["files"])
        self.assertEqual(r["BytesWritten"], st["bytes"])
        # Timestamps come back as the CLI prints them (epoch seconds from aws
        # CLI v1, ISO 8601 from v2).
        if isinstance(r["StartTime"], str):
            self.assertRegex(r["StartTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        else:
            self.assertGreater(r["StartTime"], 1.7e9)
        self.assertTreesEqual(src, dst, ignore=not_tmp)
        ex = CTL.aws("list-task-executions", "--task-arn", t)["TaskExecutions"]
        self.assertEqual([x["TaskExecutionArn"] for x in ex], [e])
        self.assertEqual(CTL.aws("list-tags-for-resource", "--resource-arn", t)["Tags"],
                         [{"Key": "via", "Value": "aws"}])
        agent = CTL.aws("describe-agent", "--agent-arn", CTL.agent_arn)
        self.assertEqual(agent["Status"], "ONLINE")
        self.assertIn(s, [x["LocationArn"] for x in CTL.aws("list-locations")["Locations"]])
        CTL.aws("update-task", "--task-arn", t, "--name", "renamed")
        self.assertEqual(CTL.aws("describe-task", "--task-arn", t)["Name"], "renamed")
        CTL.aws("delete-task", "--task-arn", t)
        p = CTL.aws("describe-task", "--task-arn", t, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidRequestException", p.stderr)
        self.assertIn("not found", p.stderr)

    def test_cli_pagination(self):
        base = self.scratch()
        locs = [CTL.create_location_local(os.path.join(base, f"p{i}")) for i in range(3)]
        # The CLI follows NextToken by itself with --page-size.
        r = CTL.aws("list-locations", "--page-size", "1")
        got = [x["LocationArn"] for x in r["Locations"]]
        self.assertTrue(set(locs) <= set(got))
        self.assertEqual(len(got), len(set(got)))
        r = CTL.aws("list-locations", "--max-items", "1")
        self.assertEqual(len(r["Locations"]), 1)
        self.assertIn("NextToken", r)

    def test_cli_errors(self):
        p = CTL.aws("describe-task", "--task-arn",
                    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0",
                    check=False)
        self.assertIn(p.returncode, (254, 255), p.stderr)  # v2: 254, v1: 255
        self.assertIn("An error occurred (InvalidRequestException) when calling the "
                      "DescribeTask operation", p.stderr)


class FerryCommands(CliCase):
    """ferry's own client commands, named as aws names them."""

    def test_main_flow_with_wait(self):
        src, dst = self.locations()
        s = CTL.ferry("create-location-local", "--path", src, "--agent-arns",
                      CTL.agent_arn)["LocationArn"]
        d = CTL.ferry("create-location-local", "--path", dst, "--agent-arns",
                      CTL.agent_arn)["LocationArn"]
        loc = CTL.ferry("describe-location-local", "--location-arn", s)
        self.assertEqual(loc["Path"], src)
        t = CTL.ferry("create-task", "--source-location-arn", s, "--destination-location-arn", d,
                      "--options", "VerifyMode=POINT_IN_TIME_CONSISTENT,LogLevel=BASIC",
                      "--excludes", "FilterType=SIMPLE_PATTERN,Value=*.tmp")["TaskArn"]
        desc = CTL.ferry("describe-task", "--task-arn", t)
        self.assertEqual(desc["Excludes"], [{"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp"}])
        # JSON structures work as well as the shorthand.
        t2 = CTL.ferry("create-task", "--source-location-arn", s, "--destination-location-arn",
                       d, "--options", json.dumps({"VerifyMode": "NONE"}))["TaskArn"]
        self.assertEqual(CTL.ferry("describe-task", "--task-arn", t2)["Options"]["VerifyMode"],
                         "NONE")
        p = CTL.ferry("start-task-execution", "--task-arn", t, "--wait", check=False,
                      timeout=120)
        self.assertEqual(p.returncode, 0, f"{p.stdout}\n{p.stderr}")
        self.assertTreesEqual(src, dst, ignore=not_tmp)
        ex = CTL.ferry("list-task-executions", "--task-arn", t)["TaskExecutions"]
        self.assertEqual(len(ex), 1)
        self.assertEqual(ex[0]["Status"], "SUCCESS")
        r = CTL.ferry("describe-task-execution", "--task-execution-arn",
                      ex[0]["TaskExecutionArn"])
        st = oracle.tree_stats(src, ignore=not_tmp)
        self.assertEqual(r["Status"], "SUCCESS")
        self.assertEqual(r["FilesTransferred"], st["files"])
        self.assertIn(t, [x["TaskArn"] for x in CTL.ferry("list-tasks")["Tasks"]])
        self.assertEqual(CTL.ferry("describe-agent", "--agent-arn", CTL.agent_arn)["Status"],
                         "ONLINE")

    def test_wait_reports_a_failed_execution(self):
        base = self.scratch()
        s = CTL.create_location_local(os.path.join(base, "does-not-exist"))
        d = CTL.create_location_local(os.path.join(base, "dst"))
        t = CTL.create_task(s, d)
        p = CTL.ferry("start-task-execution", "--task-arn", t, "--wait", check=False,
                      timeout=120)
        self.assertNotEqual(p.returncode, 0, f"{p.stdout}\n{p.stderr}")
        self.assertIn("ERROR", p.stdout + p.stderr)

    def test_credentials_from_the_environment(self):
        env = control.aws_env(CTL.server)
        del env["AWS_SHARED_CREDENTIALS_FILE"]
        env["AWS_ACCESS_KEY_ID"] = CTL.server.access_key
        env["AWS_SECRET_ACCESS_KEY"] = CTL.server.secret_key
        r = CTL.ferry("list-agents", env=env)
        self.assertIn(CTL.agent_arn, [a["AgentArn"] for a in r["Agents"]])

    def test_wrong_key_refused(self):
        env = control.aws_env(CTL.server)
        del env["AWS_SHARED_CREDENTIALS_FILE"]
        env["AWS_ACCESS_KEY_ID"] = "AKFRNOTAREALKEY00000"
        env["AWS_SECRET_ACCESS_KEY"] = "x" * 40
        p = CTL.ferry("list-agents", env=env, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("UnrecognizedClientException", p.stdout + p.stderr)


class Authentication(CliCase):
    """SigV4 as AWS checks it, with AWS's error types and messages."""

    def test_wrong_access_key(self):
        status, _, r = CTL.raw("ListTasks", {}, access_key="AKFRNOTAREALKEY00000")
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "UnrecognizedClientException")
        self.assertEqual(r["message"], "The security token included in the request is invalid.")
        c = CTL.client(access_key="AKFRNOTAREALKEY00000")
        code, msg, status, _ = control.client_error(self, c.list_tasks)
        self.assertEqual((code, status), ("UnrecognizedClientException", 403))
        p = CTL.aws("list-tasks", check=False, env=control.aws_env(CTL.server, extra={
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_ACCESS_KEY_ID": "AKFRNOTAREALKEY00000", "AWS_SECRET_ACCESS_KEY": "y" * 40}))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("UnrecognizedClientException", p.stderr)

    def test_wrong_secret_key(self):
        c = CTL.client(secret_key="z" * 40)
        code, msg, status, _ = control.client_error(self, c.list_tasks)
        self.assertEqual((code, status), ("InvalidSignatureException", 403))
        self.assertTrue(msg.startswith("The request signature we calculated does not match "
                                       "the signature you provided."), msg)

    def test_tampered_signature(self):
        def flip(h):
            auth = h["Authorization"]
            sig = auth[-64:]
            h["Authorization"] = auth[:-64] + ("0" if sig[0] != "0" else "1") + sig[1:]
        status, _, r = CTL.raw("ListTasks", {}, tamper=flip)
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "InvalidSignatureException")

    def test_tampered_body(self):
        # Signed for one body, sent with another.
        import http.client
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        req = AWSRequest(method="POST", url=CTL.server.url + "/", data=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "FmrsService.ListTasks"})
        SigV4Auth(Credentials(CTL.server.access_key, CTL.server.secret_key), "datasync",
                  control.REGION).add_auth(req)
        body = b'{"MaxResults": 1}'
        hdrs = dict(req.headers.items())
        conn = http.client.HTTPSConnection("127.0.0.1", CTL.server.port, timeout=30,
                                           context=control._ssl_context(CTL.server))
        try:
            conn.request("POST", "/", body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        control.record_response("ListTasks", resp.status, raw, "raw")
        self.assertEqual(resp.status, 403, raw)
        self.assertEqual(json.loads(raw)["__type"], "InvalidSignatureException")

    def test_tampered_target(self):
        # The signature covers X-Amz-Target: another operation is refused.
        def retarget(h):
            h["X-Amz-Target"] = "FmrsService.ListAgents"
        status, _, r = CTL.raw("ListTasks", {}, tamper=retarget)
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "InvalidSignatureException")

    def test_request_older_than_15_minutes(self):
        when = control.utc_now() - datetime.timedelta(minutes=16)
        status, _, r = CTL.raw("ListTasks", {}, when=when)
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "InvalidSignatureException")
        stamp = when.strftime("%Y%m%dT%H%M%SZ")
        self.assertTrue(r["message"].startswith(f"Signature expired: {stamp} is now earlier "
                                                f"than "), r["message"])
        self.assertTrue(r["message"].endswith(" - 15 min.)"), r["message"])

    def test_request_from_the_future(self):
        when = control.utc_now() + datetime.timedelta(minutes=16)
        status, _, r = CTL.raw("ListTasks", {}, when=when)
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "InvalidSignatureException")
        self.assertTrue(r["message"].startswith("Signature not yet current: "), r["message"])

    def test_request_14_minutes_old_is_accepted(self):
        when = control.utc_now() - datetime.timedelta(minutes=14)
        status, _, r = CTL.raw("ListTasks", {}, when=when)
        self.assertEqual(status, 200, r)

    def test_unsigned_request(self):
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", CTL.server.port, timeout=30,
                                           context=control._ssl_context(CTL.server))
        try:
            conn.request("POST", "/", body=b"{}", headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "FmrsService.ListTasks"})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        control.record_response("ListTasks", resp.status, raw, "raw")
        self.assertIn(resp.status, (400, 403), raw)
        self.assertEqual(json.loads(raw)["__type"].rsplit("#", 1)[-1],
                         "MissingAuthenticationTokenException")

    def test_other_region_in_the_scope_is_accepted(self):
        # docs/control-plane.md: signed for service datasync, any region.
        status, _, r = CTL.raw("ListTasks", {}, region="eu-west-3")
        self.assertEqual(status, 200, r)

    def test_other_service_in_the_scope_is_refused(self):
        status, _, r = CTL.raw("ListTasks", {}, service="s3")
        self.assertEqual(status, 403, r)
        self.assertEqual(r["__type"], "InvalidSignatureException")

    def test_http_is_refused_on_the_https_port(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", CTL.server.port, timeout=10)
        try:
            conn.request("POST", "/", body=b"{}")
            resp = conn.getresponse()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = None  # the TLS listener hung up: fine
        finally:
            conn.close()
        self.assertNotEqual(status, 200)



if __name__ == "__main__":
    unittest.main()
