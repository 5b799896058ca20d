"""End-to-end: S3 and S3-compatible locations through `ferry server` and a
`ferry agent`, against a real Ceph radosgw (s3.py).

One server, one agent and one radosgw for the module; a fresh bucket per
test (per class where a class shares one run). The agent is started the way
a user runs one next to S3: `--s3-endpoint-url` naming radosgw's HTTP
endpoint and the AWS_* keys in its environment (for CreateLocationS3, the
manifest and the task report); CreateLocationObjectStorage carries its own
keys. The locations are made with the real `aws datasync` CLI, as a DataSync
user would; the bucket is judged with boto3 (and `aws s3api`), the restored
tree with oracle.py.

Run: tests/support/radosgw.sh start /tmp/rgw
     cd tests/e2e && FERRY_TEST_S3_STATE=/tmp/rgw FERRY_BIN=/path/to/ferry \\
         python3 -m unittest -v test_s3_control
(without FERRY_TEST_S3_STATE the module starts a radosgw of its own).
"""

import hashlib
import json
import os
import time
import unittest
import urllib.parse

import control
import oracle
import s3

CTL = None
S3 = None
ROLE = "arn:aws:iam::000000000000:role/ferry-e2e"  # DataSync needs one; ferry ignores it
# Bounds on how long an execution that cannot reach its bucket may take to
# end ERROR (seconds, stretched by oracle.scaled() under sanitizers): a few
# bounded retries fit, retrying forever does not.
FAIL_PROMPTLY = 20


def setUpModule():
    global CTL, S3
    control.need_boto3()
    # Module cleanups run last-in first-out: radosgw (when this process
    # started its own) stops after the agent.
    unittest.addModuleCleanup(s3.stop_own_server)
    S3 = s3.server()
    CTL = control.Control.start(control.ModuleCleanups(),
                                agent_args=["--s3-endpoint-url", S3.endpoint],
                                agent_env=S3.aws_env())


def port_of(url):
    return urllib.parse.urlsplit(url).port


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class S3ControlCase(oracle.FerryTestCase):
    def setUp(self):
        CTL.ensure_agents()

    @property
    def c(self):
        return CTL.client()

    @staticmethod
    def object_storage(bucket, subdirectory="/dst", *, https=False, certificate=None,
                       secret_key=None):
        """`aws datasync create-location-object-storage` for radosgw's HTTP
        (or HTTPS) endpoint; certificate: a PEM file for
        --server-certificate. Returns the location ARN."""
        port = port_of(S3.https_endpoint if https else S3.endpoint)
        args = ["create-location-object-storage", "--server-hostname", "127.0.0.1",
                "--server-port", port, "--server-protocol", "HTTPS" if https else "HTTP",
                "--bucket-name", bucket, "--subdirectory", subdirectory,
                "--access-key", S3.access_key, "--secret-key", secret_key or S3.secret_key,
                "--agent-arns", CTL.agent_arn]
        if certificate:
            args += ["--server-certificate", "fileb://" + certificate]
        return CTL.aws(*args)["LocationArn"]

    @staticmethod
    def s3_location(bucket, subdirectory="/s3dst"):
        """`aws datasync create-location-s3` without agents: the task's
        other location's agent serves it, through its --s3-endpoint-url."""
        return CTL.aws("create-location-s3", "--s3-bucket-arn", f"arn:aws:s3:::{bucket}",
                       "--subdirectory", subdirectory,
                       "--s3-config", f"BucketAccessRoleArn={ROLE}")["LocationArn"]

    def local(self, path):
        os.makedirs(path, exist_ok=True)
        return CTL.create_location_local(path, [CTL.agent_arn])

    @staticmethod
    def task(src_arn, dst_arn, *extra):
        return CTL.aws("create-task", "--source-location-arn", src_arn,
                       "--destination-location-arn", dst_arn, *extra)["TaskArn"]

    @staticmethod
    def start(task_arn):
        return CTL.aws("start-task-execution", "--task-arn", task_arn)["TaskExecutionArn"]

    def run_task(self, task_arn, timeout=90):
        """Starts an execution with the aws CLI, waits for its end; returns
        (the final Describe, seconds from start to end)."""
        t0 = time.monotonic()
        arn = self.start(task_arn)
        d = CTL.wait_execution(arn, timeout=timeout)
        return d, time.monotonic() - t0

    def assertSucceeded(self, d):
        self.assertEqual(d["Status"], "SUCCESS", f"{d}\n{CTL.logs()}")
        self.assertNotIn("ErrorCode", d.get("Result", {}), d)

    def assertFailedPromptly(self, d, elapsed, code_pattern, *needles):
        """ERROR within FAIL_PROMPTLY seconds, with an ErrorDetail that
        holds every needle (strings) and matches code_pattern (a regex)."""
        self.assertEqual(d["Status"], "ERROR", f"{d}\n{CTL.logs()}")
        detail = d["Result"].get("ErrorDetail", "")
        for needle in needles:
            self.assertIn(needle, detail, d["Result"])
        self.assertRegex(detail, code_pattern, d["Result"])
        self.assertLess(elapsed, oracle.scaled(FAIL_PROMPTLY),
                        f"the execution took {elapsed:.1f} s to fail: {d['Result']}")

    # The bucket, as boto3 reads it

    @staticmethod
    def objects(bucket, prefix=""):
        """{key: HeadObject response} of every object under prefix."""
        c = S3.client()
        out = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"]] = c.head_object(Bucket=bucket, Key=o["Key"])
        return out

    @staticmethod
    def body(bucket, key):
        return S3.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def assertBucketHolds(self, bucket, prefix, src, *, metadata=True):
        """The objects under prefix are exactly the tree at src: a file or a
        symbolic link per object (its content or its target), a folder
        marker "rel/" per folder (the root's is prefix itself), with sizes,
        sha256 and, if asked, file-permissions/file-mtime/file-owner/
        file-group as the source's lstat."""
        got = self.objects(bucket, prefix)
        expected = {}
        for rel, st in oracle.walk(src).items():
            name = os.fsdecode(rel)
            kind = oracle.kind(st)
            if kind == "dir":
                expected[prefix + (name + "/" if name else "")] = (rel, st, kind)
            else:
                expected[prefix + name] = (rel, st, kind)
        self.assertEqual(sorted(got), sorted(expected), "the bucket's keys")
        problems = []
        for key, (rel, st, kind) in sorted(expected.items()):
            head = got[key]
            if kind == "file":
                want_size, want_sha = st.st_size, oracle.digest_rel(src, rel)
            elif kind == "symlink":
                target = oracle.readlink_rel(src, rel)
                want_size, want_sha = len(target), sha256(target)
            else:
                want_size, want_sha = 0, sha256(b"")
            if head["ContentLength"] != want_size:
                problems.append(f"{key}: size {head['ContentLength']} != {want_size}")
            elif sha256(self.body(bucket, key)) != want_sha:
                problems.append(f"{key}: content differs from the source's")
            if not metadata:
                continue
            meta = head.get("Metadata", {})
            want = {"file-permissions": "0%o" % st.st_mode,
                    "file-mtime": f"{st.st_mtime_ns}ns",
                    "file-owner": str(st.st_uid), "file-group": str(st.st_gid)}
            for k, v in want.items():
                if meta.get(k) != v:
                    problems.append(f"{key}: {k} {meta.get(k)!r} != {v!r} (metadata {meta})")
        self.assertEqual(problems, [], "\n".join(problems[:40]))


def small_tree(root, seed):
    """A small tree: nested folders with their own modes and times, files
    of several modes (one empty, one of 12 MB: a multipart upload), symbolic
    links; names S3 can hold (UTF-8), no FIFOs (object storage cannot)."""
    oracle.make_tree(root, seed, files=14, dirs=4, max_size=40_000, odd_names=False,
                     deep=False, fifos=False, symlinks=False)
    big = os.path.join(root, "dir00", "big.bin")
    with oracle.keep_dir_mtime(os.path.dirname(big)):
        oracle.write_file(big, os.urandom(12_000_000), mode=0o640,
                          mtime_ns=1_650_000_000_123_456_789)
    for i, (name, target) in enumerate([("dir00/link-to-big", "big.bin"),
                                        ("link-dangling", "does/not/exist"),
                                        ("link-absolute", "/etc")]):
        path = os.path.join(root, name)
        with oracle.keep_dir_mtime(os.path.dirname(path)):
            os.symlink(target, path)
            if oracle.is_root():
                os.lchown(path, 1000 + i, 1000)
            oracle.set_times(path, 1_500_000_000_000_000_001 + i)
    return oracle.tree_stats(root)


# --------------------------------------------------------------------------
# 1. LOCAL -> OBJECT_STORAGE -> LOCAL over HTTP


class ObjectStorageFlow(S3ControlCase):
    """create-location-object-storage with the aws CLI, a first run, a
    second run that transfers nothing, and the way back."""

    @classmethod
    def setUpClass(cls):
        base = oracle.make_scratch(control.ClassCleanups(cls))
        cls.src = os.path.join(base, "src")
        cls.stats = small_tree(cls.src, seed=81)
        cls.bucket = S3.fresh_bucket(cls, "flow")
        cls.src_arn = CTL.create_location_local(cls.src, [CTL.agent_arn])
        cls.obj_arn = cls.object_storage(cls.bucket, "/dst")
        cls.task_arn = cls.task(cls.src_arn, cls.obj_arn, "--name", "to-object-storage")
        cls.first_arn = cls.start(cls.task_arn)
        cls.first = CTL.wait_execution(cls.first_arn, timeout=120)

    def test_first_run_succeeds(self):
        d = self.first
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], self.stats["files"], d)
        self.assertEqual(d["BytesWritten"], self.stats["bytes"], d)
        self.assertEqual(d["FilesFailed"], {"Prepare": 0, "Transfer": 0, "Verify": 0,
                                            "Delete": 0})

    def test_bucket_holds_the_tree(self):
        self.assertSucceeded(self.first)
        self.assertBucketHolds(self.bucket, "dst/", self.src)

    def test_metadata_as_the_aws_cli_reads_it(self):
        self.assertSucceeded(self.first)
        rel = "dir00/big.bin"
        st = os.lstat(os.path.join(self.src, rel))
        head = json.loads(S3.aws(["s3api", "head-object", "--bucket", self.bucket,
                                  "--key", "dst/" + rel]).stdout)
        self.assertEqual(head["ContentLength"], 12_000_000)
        self.assertEqual(head["Metadata"]["file-permissions"], "0100640")
        self.assertEqual(head["Metadata"]["file-mtime"], "1650000000123456789ns")
        self.assertEqual(head["Metadata"]["file-owner"], str(st.st_uid))

    def test_describe_never_shows_the_secret(self):
        d = CTL.aws("describe-location-object-storage", "--location-arn", self.obj_arn)
        self.assertEqual(d["LocationArn"], self.obj_arn)
        self.assertEqual(d["AccessKey"], S3.access_key)
        self.assertEqual(d["ServerPort"], port_of(S3.endpoint))
        self.assertEqual(d["ServerProtocol"], "HTTP")
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertEqual(d["LocationUri"], f"object-storage://127.0.0.1/{self.bucket}/dst/")
        self.assertNotIn("SecretKey", d)
        self.assertNotIn(S3.secret_key, json.dumps(d))
        listed = CTL.aws("list-locations")
        self.assertNotIn(S3.secret_key, json.dumps(listed))
        # Nor in what the server and the agent log, having used it.
        for what, log in (("server", CTL.server.log), ("agent", CTL.agent.log)):
            self.assertNotIn(S3.secret_key, control.read_text(log) or "", f"the {what} log")

    def test_second_run_transfers_nothing(self):
        self.assertSucceeded(self.first)
        before = {k: (h["ETag"], h["LastModified"], h.get("Metadata"))
                  for k, h in self.objects(self.bucket, "dst/").items()}
        d, _ = self.run_task(self.task_arn)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], 0, d)
        self.assertEqual(d["BytesWritten"], 0, d)
        self.assertEqual(d["FilesDeleted"], 0, d)
        after = {k: (h["ETag"], h["LastModified"], h.get("Metadata"))
                 for k, h in self.objects(self.bucket, "dst/").items()}
        self.assertEqual(after, before, "objects were rewritten by a run that had nothing to do")

    def test_reverse_restores_the_tree(self):
        self.assertSucceeded(self.first)
        restored = os.path.join(self.scratch(), "restored")
        task = self.task(self.obj_arn, self.local(restored), "--name", "from-object-storage")
        d, _ = self.run_task(task)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], self.stats["files"], d)
        self.assertTreesEqual(self.src, restored)


# --------------------------------------------------------------------------
# 2. HTTPS and the server certificate


class Https(S3ControlCase):
    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.scratch(), "src")
        oracle.make_flat_tree(self.src, 3, 5000, seed=82)
        self.src_arn = self.local(self.src)
        self.bucket = S3.fresh_bucket(self, "https")

    def test_with_the_ca_as_server_certificate(self):
        obj = self.object_storage(self.bucket, "/tls", https=True, certificate=S3.ca_file)
        d = CTL.aws("describe-location-object-storage", "--location-arn", obj)
        self.assertEqual(d["ServerProtocol"], "HTTPS")
        self.assertEqual(d["ServerPort"], port_of(S3.https_endpoint))
        d, _ = self.run_task(self.task(self.src_arn, obj))
        self.assertSucceeded(d)
        self.assertBucketHolds(self.bucket, "tls/", self.src)

    def check_refused(self, certificate):
        obj = self.object_storage(self.bucket, "/tls", https=True, certificate=certificate)
        d, elapsed = self.run_task(self.task(self.src_arn, obj))
        self.assertFailedPromptly(d, elapsed, r"(?i)certificate", obj)
        self.assertEqual(self.objects(self.bucket), {}, "written through a refused TLS session")

    def test_without_a_server_certificate(self):
        self.check_refused(None)

    def test_with_another_ca(self):
        # A real CA, but not radosgw's: ferry server's own.
        self.check_refused(CTL.server.ca)


# --------------------------------------------------------------------------
# 3. Bad keys, missing buckets


class Refusals(S3ControlCase):
    def setUp(self):
        super().setUp()
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        oracle.make_flat_tree(self.src, 3, 5000, seed=83)
        self.src_arn = self.local(self.src)

    def test_bad_secret_key(self):
        bucket = S3.fresh_bucket(self, "badkey")
        obj = self.object_storage(bucket, "/dst", secret_key="x" * 40)
        d, elapsed = self.run_task(self.task(self.src_arn, obj))
        self.assertFailedPromptly(d, elapsed, r"403|SignatureDoesNotMatch", obj)
        self.assertEqual(self.objects(bucket), {})

    def test_missing_bucket_as_destination(self):
        obj = self.object_storage("ferry-no-such-bucket-e2ectl", "/dst")
        d, elapsed = self.run_task(self.task(self.src_arn, obj))
        self.assertFailedPromptly(d, elapsed, r"NoSuchBucket", obj,
                                  "ferry-no-such-bucket-e2ectl")

    def test_missing_bucket_as_source(self):
        obj = self.object_storage("ferry-no-such-bucket-e2ectl", "/src")
        dst = os.path.join(self.base, "dst")
        d, elapsed = self.run_task(self.task(obj, self.local(dst)))
        self.assertFailedPromptly(d, elapsed, r"NoSuchBucket", obj,
                                  "ferry-no-such-bucket-e2ectl")
        self.assertEqual(os.listdir(dst), [])


# --------------------------------------------------------------------------
# 4. CreateLocationS3 through the agent's --s3-endpoint-url


class S3Location(S3ControlCase):
    def test_local_to_s3_without_agent_arns(self):
        src = os.path.join(self.scratch(), "src")
        small_tree(src, seed=84)
        bucket = S3.fresh_bucket(self, "s3loc")
        loc = self.s3_location(bucket, "/s3dst")
        d = CTL.aws("describe-location-s3", "--location-arn", loc)
        self.assertEqual(d["LocationUri"], f"s3://{bucket}/s3dst/")
        self.assertFalse(d.get("AgentArns"), d)
        d, _ = self.run_task(self.task(self.local(src), loc))
        self.assertSucceeded(d)
        self.assertBucketHolds(bucket, "s3dst/", src)

    def test_missing_bucket(self):
        src = os.path.join(self.scratch(), "src")
        oracle.make_flat_tree(src, 2, 100, seed=85)
        loc = self.s3_location("ferry-no-such-bucket-e2ectl", "/x")
        d, elapsed = self.run_task(self.task(self.local(src), loc))
        self.assertFailedPromptly(d, elapsed, r"NoSuchBucket", "ferry-no-such-bucket-e2ectl")


# --------------------------------------------------------------------------
# 5. ManifestConfig: the manifest object in the bucket


class Manifest(S3ControlCase):
    LISTED = ["a.txt", "sub/b.txt", "sub/deeper/c with space.txt"]

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.scratch(), "src")
        for rel in self.LISTED + ["not-listed.txt", "sub/also-not.txt", "other/x.bin"]:
            path = os.path.join(self.src, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            oracle.write_file(path, os.urandom(3000), mtime_ns=1_600_000_000_000_000_007)
        self.bucket = S3.fresh_bucket(self, "manifest")
        self.dst_arn = self.object_storage(self.bucket, "/data")

    def manifest_config(self, key):
        return {"Action": "TRANSFER", "Format": "CSV",
                "Source": {"S3": {"ManifestObjectPath": key, "BucketAccessRoleArn": ROLE,
                                  "S3BucketArn": f"arn:aws:s3:::{self.bucket}"}}}

    def test_only_the_listed_files_are_transferred(self):
        csv = "".join(f'"{p}"\n' if " " in p else p + "\n" for p in self.LISTED)
        S3.client().put_object(Bucket=self.bucket, Key="manifests/list.csv", Body=csv.encode())
        task = CTL.create_task(self.local(self.src), self.dst_arn,
                               ManifestConfig=self.manifest_config("manifests/list.csv"))
        d, _ = self.run_task(task)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], len(self.LISTED), d)
        files = sorted(k for k in self.objects(self.bucket, "data/") if not k.endswith("/"))
        self.assertEqual(files, sorted("data/" + p for p in self.LISTED))
        for p in self.LISTED:
            with open(os.path.join(self.src, p), "rb") as f:
                self.assertEqual(self.body(self.bucket, "data/" + p), f.read(), p)

    def test_a_missing_manifest_object(self):
        task = CTL.create_task(self.local(self.src), self.dst_arn,
                               ManifestConfig=self.manifest_config("manifests/missing.csv"))
        d, elapsed = self.run_task(task)
        self.assertEqual(d["Result"].get("ErrorCode"), "ManifestError", d["Result"])
        self.assertFailedPromptly(d, elapsed, r"manifests/missing\.csv")
        self.assertEqual(self.objects(self.bucket, "data/"), {}, "transferred without a manifest")


# --------------------------------------------------------------------------
# 6. TaskReportConfig with Destination.S3


class TaskReport(S3ControlCase):
    def test_reports_delivered_to_the_bucket(self):
        src = os.path.join(self.scratch(), "src")
        st = oracle.make_flat_tree(src, 4, 2000, seed=86)
        bucket = S3.fresh_bucket(self, "report")
        dst = self.object_storage(bucket, "/data")
        config = {"Destination": {"S3": {"S3BucketArn": f"arn:aws:s3:::{bucket}",
                                         "Subdirectory": "/reports/",
                                         "BucketAccessRoleArn": ROLE}},
                  "OutputType": "STANDARD", "ReportLevel": "SUCCESSES_AND_ERRORS"}
        task = CTL.create_task(self.local(src), dst, TaskReportConfig=config)
        d, _ = self.run_task(task)
        self.assertSucceeded(d)
        self.assertEqual(d["ReportResult"]["Status"], "SUCCESS", d["ReportResult"])
        self.assertNotIn("ErrorCode", d["ReportResult"])
        exec_arn = d["TaskExecutionArn"]
        task_id = task.rsplit("/", 1)[1]
        exec_id = exec_arn.rsplit("/", 1)[1]
        summary_dir = f"reports/Summary-Reports/{task_id}/{exec_id}/"
        detailed_dir = f"reports/Detailed-Reports/{task_id}/{exec_id}/"
        keys = sorted(self.objects(bucket, "reports/"))
        self.assertEqual([k for k in keys if not k.startswith((summary_dir, detailed_dir))], [],
                         "report objects outside the documented folders")
        self.assertIn(summary_dir + f"{exec_id}.summary-v1.json", keys)
        transferred = detailed_dir + f"{exec_id}.files-transferred-v1-00001.json"
        self.assertIn(transferred, keys)
        for key in keys:
            if key.endswith("/"):
                continue
            doc = json.loads(self.body(bucket, key))
            self.assertEqual(doc["TaskExecutionArn"], exec_arn, key)
        summary = json.loads(self.body(bucket, summary_dir + f"{exec_id}.summary-v1.json"))
        self.assertEqual(summary["TaskExecutionArn"], exec_arn)
        records = json.loads(self.body(bucket, transferred))["Transferred"]
        paths = sorted(r["RelativePath"] for r in records if r["RelativePath"] != "/")
        self.assertEqual(paths, sorted("/" + n for n in os.listdir(src)), records)
        self.assertEqual(len(paths), st["files"])


if __name__ == "__main__":
    unittest.main()
