"""End-to-end: ferry server + ferry agent driven with boto3's datasync client.

One server (SQLite) and one agent for the module; tests that kill agents use
agents of their own. ferry's CreateLocationLocal is not in boto3's model: it
goes as a hand-signed request (control.Control.create_location_local);
everything else goes through boto3.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_control_flow
"""

import json
import os
import time
import unittest

import control
import oracle
from control import client_error, wait_for

OFFLINE_AFTER = 6  # seconds: --agent-offline-after of the module's server
CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    CTL = control.Control.start(control.ModuleCleanups(), offline_after=OFFLINE_AFTER)



TEMP_PREFIX = b".ferry-tmp-"


def no_partial_files(testcase, src, dst):
    """Every file under dst has a final name and is complete: the same bytes
    as the source's file of that name."""
    for rel, st in oracle.walk(dst).items():
        name = os.path.basename(rel)
        testcase.assertFalse(name.startswith(TEMP_PREFIX), f"temporary file left: {rel!r}")
        if oracle.kind(st) == "file":
            src_st = None
            try:
                src_st = oracle.lstat_rel(src, rel)
            except FileNotFoundError:
                pass
            testcase.assertIsNotNone(src_st, f"{rel!r} at the destination is not at the source")
            testcase.assertEqual(st.st_size, src_st.st_size, f"{rel!r} is partial")
            testcase.assertEqual(oracle.digest_rel(dst, rel), oracle.digest_rel(src, rel),
                                 f"{rel!r} differs from its source")


def bulk(root, n, size, seed=5):
    """n random files of `size` bytes under root (made if needed)."""
    return oracle.make_flat_tree(root, n, size, seed=seed, prefix="bulk")


class ControlCase(oracle.FerryTestCase):
    def setUp(self):
        # An agent that died in an earlier test (see ServerRestart) would
        # leave every later execution QUEUED: start it again.
        CTL.ensure_agents()

    @property
    def c(self):
        return CTL.client()

    def local(self, path, agent_arn=None):
        os.makedirs(path, exist_ok=True)
        return CTL.create_location_local(path, [agent_arn or CTL.agent_arn])

    def task(self, src, dst, agent_arn=None, **kw):
        s = self.local(src, agent_arn)
        d = self.local(dst, agent_arn)
        return CTL.create_task(s, d, **kw)

    def start(self, task_arn, **kw):
        return self.c.start_task_execution(TaskArn=task_arn, **kw)["TaskExecutionArn"]

    def assertSucceeded(self, d):
        self.assertEqual(d["Status"], "SUCCESS", f"{d}\n{CTL.logs()}")
        self.assertNotIn("ErrorCode", d.get("Result", {}), d)


# --------------------------------------------------------------------------
# The main flow


class MainFlow(ControlCase):
    """Two local locations, a task with filters and options, a first run
    watched while it runs, a second run that transfers nothing."""

    @classmethod
    def setUpClass(cls):
        base = oracle.make_scratch(control.ClassCleanups(cls))
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        oracle.make_tree(os.path.join(cls.src, "tree"), seed=4242, files=50, dirs=10)
        # 12 MB at 4 MB/s: the first run lasts about 3 s, long enough to see
        # its counters move.
        bulk(os.path.join(cls.src, "bulk"), 6, 2_000_000)
        os.makedirs(os.path.join(cls.src, "tree", "skipdir", "inner"))
        for rel in ("tree/a.tmp", "tree/skipdir/x", "tree/skipdir/inner/y", "bulk/b.tmp",
                    "other/not-included"):
            p = os.path.join(cls.src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            oracle.write_file(p, os.urandom(1000), mtime_ns=1_600_000_000_000_000_001)
        c = CTL.client()
        cls.src_arn = CTL.create_location_local(cls.src)
        cls.dst_arn = CTL.create_location_local(cls.dst)
        cls.options = {"VerifyMode": "POINT_IN_TIME_CONSISTENT", "OverwriteMode": "ALWAYS",
                       "PreserveDeletedFiles": "REMOVE", "TransferMode": "CHANGED",
                       "Atime": "BEST_EFFORT", "Mtime": "PRESERVE", "Uid": "INT_VALUE",
                       "Gid": "INT_VALUE", "PosixPermissions": "PRESERVE",
                       "BytesPerSecond": 4_000_000, "LogLevel": "OFF"}
        cls.includes = [{"FilterType": "SIMPLE_PATTERN", "Value": "/tree|/bulk"}]
        cls.excludes = [{"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp|/tree/skipdir"}]
        cls.task_arn = c.create_task(
            SourceLocationArn=cls.src_arn, DestinationLocationArn=cls.dst_arn,
            Name="main-flow", Options=cls.options, Includes=cls.includes,
            Excludes=cls.excludes)["TaskArn"]
        cls.polls = []
        cls.first_arn = c.start_task_execution(TaskArn=cls.task_arn)["TaskExecutionArn"]
        cls.first = CTL.wait_execution(cls.first_arn, timeout=90, on_poll=cls.polls.append,
                                       interval=0.1)
        cls.task_after_first = c.describe_task(TaskArn=cls.task_arn)
        cls.second_arn = c.start_task_execution(TaskArn=cls.task_arn)["TaskExecutionArn"]
        cls.second = CTL.wait_execution(cls.second_arn, timeout=90)

    @staticmethod
    def ignored(rel):
        return (rel.startswith(b"other") or rel.endswith(b".tmp")
                or rel == b"tree/skipdir" or rel.startswith(b"tree/skipdir/"))

    def test_locations_describe(self):
        d = self.c.list_locations()["Locations"]
        uris = {x["LocationArn"]: x["LocationUri"] for x in d}
        self.assertIn(self.src_arn, uris)
        agent_id = CTL.agent_arn.rsplit("/", 1)[1]
        self.assertEqual(uris[self.src_arn], f"local://{agent_id}{self.src}/")
        status, _, r = CTL.raw("DescribeLocationLocal", {"LocationArn": self.dst_arn})
        self.assertEqual(status, 200, r)
        self.assertEqual(r["Path"], self.dst)
        self.assertEqual(r["AgentArns"], [CTL.agent_arn])
        self.assertEqual(r["LocationUri"], f"local://{agent_id}{self.dst}/")

    def test_task_describe(self):
        t = self.task_after_first
        self.assertEqual(t["TaskArn"], self.task_arn)
        self.assertEqual(t["Name"], "main-flow")
        self.assertEqual(t["SourceLocationArn"], self.src_arn)
        self.assertEqual(t["DestinationLocationArn"], self.dst_arn)
        self.assertEqual(t["Includes"], self.includes)
        self.assertEqual(t["Excludes"], self.excludes)
        for k, v in self.options.items():
            self.assertEqual(t["Options"][k], v, k)
        # DataSync fills in the defaults of what was not given.
        self.assertEqual(t["Options"]["TaskQueueing"], "ENABLED")
        self.assertEqual(t["Options"]["PreserveDevices"], "NONE")
        self.assertEqual(t["Status"], "AVAILABLE")

    def test_current_execution_arn_is_the_most_recent(self):
        # DataSync: "CurrentTaskExecutionArn: the ARN of the most recent task
        # execution" (it stays once that execution has ended).
        self.assertEqual(self.task_after_first.get("CurrentTaskExecutionArn"), self.first_arn)

    def test_first_run_statuses_in_order(self):
        order = ["QUEUED", "LAUNCHING", "PREPARING", "TRANSFERRING", "VERIFYING", "SUCCESS"]
        seen = [p["Status"] for p in self.polls]
        ranks = [order.index(s) for s in seen]
        self.assertEqual(ranks, sorted(ranks), f"statuses went backwards: {control.compress(seen)}")
        self.assertIn("TRANSFERRING", seen, control.compress(seen))

    def test_counters_grow_while_it_runs(self):
        transferring = [p for p in self.polls if p["Status"] == "TRANSFERRING"]
        values = [p["BytesTransferred"] for p in transferring]
        final = self.first["BytesTransferred"]
        self.assertEqual(values, sorted(values), "BytesTransferred went down")
        partial = sorted({v for v in values if 0 < v < final})
        self.assertGreaterEqual(len(partial), 2,
                                f"no live progress seen while TRANSFERRING: {values}")
        files = [p["FilesTransferred"] for p in self.polls]
        self.assertEqual(files, sorted(files), "FilesTransferred went down")
        # Estimates never go down (ferry may still be preparing while it
        # transfers).
        est = [p["EstimatedFilesToTransfer"] for p in self.polls]
        self.assertEqual(est, sorted(est), "EstimatedFilesToTransfer went down")

    def test_destination_matches(self):
        self.assertTreesEqual(self.src, self.dst, ignore=self.ignored)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "other")))
        self.assertFalse(os.path.exists(os.path.join(self.dst, "tree", "skipdir")))
        self.assertFalse(os.path.exists(os.path.join(self.dst, "tree", "a.tmp")))

    def test_first_run_final_counters(self):
        d = self.first
        self.assertSucceeded(d)
        st = oracle.tree_stats(self.src, ignore=self.ignored)
        files, folders, nbytes = st["files"], st["folders"] - 1, st["bytes"]
        self.assertEqual(d["EstimatedFilesToTransfer"], files)
        self.assertEqual(d["EstimatedBytesToTransfer"], nbytes)
        self.assertEqual(d["FilesTransferred"], files)
        self.assertEqual(d["BytesWritten"], nbytes)
        self.assertEqual(d["BytesTransferred"], nbytes)
        # DataSync: with an exclude filter it lists everything at the source
        # before applying the filter, so excluded files may count (the two
        # *.tmp files and those under the excluded folder).
        self.assertGreaterEqual(d["FilesListed"]["AtSource"], files)
        self.assertLessEqual(d["FilesListed"]["AtSource"], files + 4)
        self.assertEqual(d["FilesVerified"], files)
        self.assertEqual(d["FoldersTransferred"], folders)
        self.assertEqual(d["FoldersVerified"], folders)
        self.assertEqual(d["FilesDeleted"], 0)
        self.assertEqual(d["FilesFailed"], {"Prepare": 0, "Transfer": 0, "Verify": 0,
                                            "Delete": 0})
        r = d["Result"]
        for phase in ("PrepareStatus", "TransferStatus", "VerifyStatus"):
            self.assertEqual(r[phase], "SUCCESS", phase)
        self.assertGreaterEqual(r["TotalDuration"], r["TransferDuration"])
        # 12 MB at 4 MB/s.
        self.assertGreaterEqual(r["TransferDuration"], 2000, r)
        self.assertEqual(d["Options"]["BytesPerSecond"], 4_000_000)
        self.assertEqual(d["Includes"], self.includes)
        self.assertEqual(d["Excludes"], self.excludes)
        self.assertLessEqual(d["StartTime"], d["LaunchTime"])
        self.assertLess(d["LaunchTime"], d["EndTime"])

    def test_second_run_transfers_nothing(self):
        d = self.second
        self.assertSucceeded(d)
        st = oracle.tree_stats(self.src, ignore=self.ignored)
        self.assertEqual(d["FilesTransferred"], 0)
        self.assertEqual(d["BytesWritten"], 0)
        self.assertEqual(d["BytesTransferred"], 0)
        self.assertEqual(d["EstimatedFilesToTransfer"], 0)
        self.assertEqual(d["FoldersTransferred"], 0)
        self.assertEqual(d["FilesDeleted"], 0)
        self.assertEqual(d["FilesListed"]["AtSource"], self.first["FilesListed"]["AtSource"])
        self.assertEqual(d["FilesVerified"], st["files"])

    def test_executions_listed(self):
        r = self.c.list_task_executions(TaskArn=self.task_arn)["TaskExecutions"]
        arns = {e["TaskExecutionArn"]: e["Status"] for e in r}
        self.assertEqual(arns, {self.first_arn: "SUCCESS", self.second_arn: "SUCCESS"})
        every = self.c.list_task_executions()["TaskExecutions"]
        self.assertTrue({self.first_arn, self.second_arn} <=
                        {e["TaskExecutionArn"] for e in every})

    def test_arn_shapes(self):
        import re
        self.assertRegex(self.task_arn, r"^arn:aws:datasync:ferry-local:000000000000:"
                                        r"task/task-[0-9a-f]{17}$")
        self.assertRegex(self.first_arn, "^" + re.escape(self.task_arn)
                         + r"/execution/exec-[0-9a-f]{17}$")
        self.assertRegex(self.src_arn, r"^arn:aws:datasync:ferry-local:000000000000:"
                                       r"location/loc-[0-9a-z]{17}$")
        self.assertRegex(CTL.agent_arn, r"^arn:aws:datasync:ferry-local:000000000000:"
                                        r"agent/agent-[0-9a-z]{17}$")



# --------------------------------------------------------------------------
# Cancel, queueing, bandwidth


class Cancel(ControlCase):
    def test_cancel_running_execution(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 8, 2_000_000)  # 16 MB at 1 MB/s: 16 s unless cancelled
        task = self.task(src, dst, Options={"BytesPerSecond": 1_000_000})
        arn = self.start(task)
        CTL.wait_execution(arn, ("TRANSFERRING",), timeout=30, interval=0.1)
        wait_for(lambda: CTL.describe_execution(arn)["BytesTransferred"] > 0, 15, 0.1,
                 "some bytes transferred")
        t0 = time.monotonic()
        self.c.cancel_task_execution(TaskExecutionArn=arn)
        now = CTL.describe_execution(arn)["Status"]
        self.assertIn(now, ("CANCELLING", "ERROR"))
        d = CTL.wait_execution(arn, timeout=20)
        self.assertLess(time.monotonic() - t0, 10, "the cancel took too long")
        self.assertEqual(d["Status"], "ERROR")
        self.assertEqual(d["Result"].get("ErrorCode"), "OperationCanceled", d["Result"])
        self.assertTrue(d["Result"].get("ErrorDetail"), d["Result"])
        self.assertLess(d["BytesWritten"], 16_000_000)
        no_partial_files(self, src, dst)
        # A cancelled execution cannot be cancelled again.
        code, msg, status, _ = client_error(self, self.c.cancel_task_execution,
                                            TaskExecutionArn=arn)
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        # The task is free again.
        self.assertEqual(self.c.describe_task(TaskArn=task)["Status"], "AVAILABLE")

    def test_cancel_queued_execution(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 3, 2_000_000)
        task = self.task(src, dst, Options={"BytesPerSecond": 1_000_000})
        first = self.start(task)
        second = self.start(task)
        self.assertEqual(CTL.describe_execution(second)["Status"], "QUEUED")
        self.c.cancel_task_execution(TaskExecutionArn=second)
        d = CTL.describe_execution(second)
        self.assertEqual(d["Status"], "ERROR")
        self.assertEqual(d["Result"]["ErrorCode"], "OperationCanceled")
        self.c.cancel_task_execution(TaskExecutionArn=first)
        self.assertEqual(CTL.wait_execution(first, timeout=20)["Status"], "ERROR")


class Queueing(ControlCase):
    def test_second_start_queues_behind_the_running_one(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 3, 2_000_000)  # 6 MB at 2 MB/s: about 3 s
        task = self.task(src, dst, Options={"BytesPerSecond": 2_000_000,
                                            "TaskQueueing": "ENABLED"})
        first = self.start(task)
        CTL.wait_execution(first, ("LAUNCHING", "PREPARING", "TRANSFERRING"), timeout=30,
                           interval=0.1)
        second = self.start(task)
        self.assertEqual(CTL.describe_execution(second)["Status"], "QUEUED")
        statuses = []

        def watch(_):
            statuses.append(CTL.describe_execution(first)["Status"] + "/"
                            + CTL.describe_execution(second)["Status"])
        d2 = CTL.wait_execution(second, timeout=60, on_poll=watch)
        self.assertSucceeded(d2)
        d1 = CTL.describe_execution(first)
        self.assertSucceeded(d1)
        # The second never ran while the first did.
        for pair in statuses:
            s1, s2 = pair.split("/")
            if s1 not in ("SUCCESS", "ERROR"):
                self.assertEqual(s2, "QUEUED", control.compress(statuses))
        self.assertLessEqual(d1["EndTime"], d2["LaunchTime"])
        self.assertEqual(d2["FilesTransferred"], 0)  # the first copied everything
        self.assertTreesEqual(src, dst)

    def test_task_status_while_running_and_queued(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 2, 2_000_000)
        task = self.task(src, dst, Options={"BytesPerSecond": 1_000_000})
        first = self.start(task)
        CTL.wait_execution(first, ("TRANSFERRING",), timeout=30, interval=0.1)
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Status"], "RUNNING")
        self.assertEqual(t["CurrentTaskExecutionArn"], first)
        self.c.cancel_task_execution(TaskExecutionArn=first)
        CTL.wait_execution(first, timeout=20)

    def test_disabled_refuses_a_second_start(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 3, 2_000_000)
        task = self.task(src, dst, Options={"BytesPerSecond": 1_000_000,
                                            "TaskQueueing": "DISABLED"})
        first = self.start(task)
        CTL.wait_execution(first, ("LAUNCHING", "PREPARING", "TRANSFERRING"), timeout=30,
                           interval=0.1)
        code, msg, status, _ = client_error(self, self.start, task)
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        self.assertTrue(msg)
        listed = self.c.list_task_executions(TaskArn=task)["TaskExecutions"]
        self.assertEqual([e["TaskExecutionArn"] for e in listed], [first])
        self.c.cancel_task_execution(TaskExecutionArn=first)
        CTL.wait_execution(first, timeout=20)
        # Once nothing runs, it starts again.
        again = self.start(task, OverrideOptions={"BytesPerSecond": -1})
        self.assertSucceeded(CTL.wait_execution(again, timeout=60))


class Bandwidth(ControlCase):
    def test_update_bytes_per_second_takes_effect_within_seconds(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        total = 30_000_000
        bulk(src, 15, 2_000_000)
        slow = 1_000_000
        task = self.task(src, dst, Options={"BytesPerSecond": slow, "VerifyMode": "NONE"})
        arn = self.start(task)
        CTL.wait_execution(arn, ("TRANSFERRING",), timeout=30, interval=0.1)
        wait_for(lambda: CTL.describe_execution(arn)["BytesTransferred"] > 0, 15, 0.1,
                 "some bytes transferred")
        # The slow rate, measured over about 3 s of reports.
        samples = []
        t_end = time.monotonic() + 3.5
        while time.monotonic() < t_end:
            samples.append((time.monotonic(), CTL.describe_execution(arn)["BytesTransferred"]))
            time.sleep(0.25)  # the sampling period of the measurement (not a wait)
        (ta, ba), (tb, bb) = samples[0], samples[-1]
        slow_rate = (bb - ba) / (tb - ta)
        self.assertLess(slow_rate, slow * 1.6, f"limit {slow} B/s, measured {slow_rate:.0f}")
        self.assertGreater(slow_rate, slow * 0.3, f"limit {slow} B/s, measured {slow_rate:.0f}")
        self.assertLess(bb, total / 2)
        fast = 50_000_000
        self.c.update_task_execution(TaskExecutionArn=arn, Options={"BytesPerSecond": fast})
        t_update = time.monotonic()
        d = CTL.describe_execution(arn)
        self.assertEqual(d["Options"]["BytesPerSecond"], fast)
        # At the old rate the rest would take more than 10 s; at the new one
        # well under a second, plus a sync or two for the change to arrive.
        d = CTL.wait_execution(arn, timeout=30, interval=0.1)
        took = time.monotonic() - t_update
        self.assertSucceeded(d)
        self.assertLess(took, 8, f"the new limit took {took:.1f} s to finish the rest")
        self.assertEqual(d["BytesWritten"], total)
        self.assertEqual(d["Options"]["BytesPerSecond"], fast)
        self.assertTreesEqual(src, dst)

    def test_update_refuses_other_options_and_ended_executions(self):
        base = self.scratch()
        task = self.task(os.path.join(base, "s"), os.path.join(base, "d"))
        arn = self.start(task)
        code, msg, status, _ = client_error(
            self, self.c.update_task_execution, TaskExecutionArn=arn,
            Options={"VerifyMode": "NONE"})
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertEqual(msg, "Currently, the only Option that you can modify with "
                              "UpdateTaskExecution is BytesPerSecond.")
        self.assertSucceeded(CTL.wait_execution(arn, timeout=30))
        code, msg, status, _ = client_error(
            self, self.c.update_task_execution, TaskExecutionArn=arn,
            Options={"BytesPerSecond": 1000})
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)


# --------------------------------------------------------------------------
# Tags, pagination, errors


class Tags(ControlCase):
    def test_tags_on_every_kind_of_resource(self):
        base = self.scratch()
        src = self.local(os.path.join(base, "s"))
        status, _, r = CTL.raw("CreateLocationLocal", {
            "Path": os.path.join(base, "d"), "AgentArns": [CTL.agent_arn],
            "Tags": [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "ferry"}]})
        self.assertEqual(status, 200, r)
        dst = r["LocationArn"]
        got = self.c.list_tags_for_resource(ResourceArn=dst)["Tags"]
        self.assertEqual(sorted(got, key=lambda t: t["Key"]),
                         [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "ferry"}])
        task = self.c.create_task(SourceLocationArn=src, DestinationLocationArn=dst,
                                  Tags=[{"Key": "k1", "Value": "v1"}])["TaskArn"]
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=task)["Tags"],
                         [{"Key": "k1", "Value": "v1"}])
        self.c.tag_resource(ResourceArn=task, Tags=[{"Key": "k2", "Value": "v2"},
                                                    {"Key": "k1", "Value": "new"}])
        got = self.c.list_tags_for_resource(ResourceArn=task)["Tags"]
        self.assertEqual(sorted(got, key=lambda t: t["Key"]),
                         [{"Key": "k1", "Value": "new"}, {"Key": "k2", "Value": "v2"}])
        # Paged one at a time.
        page = self.c.list_tags_for_resource(ResourceArn=task, MaxResults=1)
        self.assertEqual(len(page["Tags"]), 1)
        self.assertIn("NextToken", page)
        page2 = self.c.list_tags_for_resource(ResourceArn=task, MaxResults=1,
                                              NextToken=page["NextToken"])
        self.assertEqual(len(page2["Tags"]), 1)
        self.assertNotEqual(page["Tags"], page2["Tags"])
        self.assertNotIn("NextToken", page2)
        self.c.untag_resource(ResourceArn=task, Keys=["k1"])
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=task)["Tags"],
                         [{"Key": "k2", "Value": "v2"}])
        # An agent and an execution take tags too.
        self.c.tag_resource(ResourceArn=CTL.agent_arn, Tags=[{"Key": "site", "Value": "a"}])
        self.assertIn({"Key": "site", "Value": "a"},
                      self.c.list_tags_for_resource(ResourceArn=CTL.agent_arn)["Tags"])
        self.c.untag_resource(ResourceArn=CTL.agent_arn, Keys=["site"])
        ex = self.c.start_task_execution(TaskArn=task, Tags=[{"Key": "run", "Value": "1"}])
        arn = ex["TaskExecutionArn"]
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "run", "Value": "1"}])
        CTL.wait_execution(arn, timeout=30)
        # Tags of an unknown resource.
        code, msg, status, _ = client_error(
            self, self.c.list_tags_for_resource,
            ResourceArn=task[:-17] + "0123456789abcdef0")
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)

    def test_more_than_50_tags_refused(self):
        base = self.scratch()
        loc = self.local(os.path.join(base, "s"))
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        self.c.tag_resource(ResourceArn=loc, Tags=tags)
        code, msg, status, _ = client_error(self, self.c.tag_resource, ResourceArn=loc,
                                            Tags=[{"Key": "one-too-many", "Value": "v"}])
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)


class Pagination(ControlCase):
    def collect(self, op, key, item, **kw):
        seen, token, pages = [], None, 0
        while True:
            args = dict(kw, MaxResults=1)
            if token:
                args["NextToken"] = token
            r = getattr(self.c, op)(**args)
            pages += 1
            self.assertLessEqual(len(r[key]), 1)
            seen += [x[item] for x in r[key]]
            token = r.get("NextToken")
            if not token:
                return seen, pages
            self.assertLess(pages, 1000, "pagination does not end")

    def test_max_results_1_walks_every_resource_once(self):
        base = self.scratch()
        locs = [self.local(os.path.join(base, f"l{i}")) for i in range(4)]
        tasks = [CTL.create_task(locs[i], locs[i + 1], Name=f"page-{i}") for i in range(3)]
        execs = [self.start(tasks[0]) for _ in range(3)]
        for name, key, item, mine in (("list_locations", "Locations", "LocationArn", locs),
                                      ("list_tasks", "Tasks", "TaskArn", tasks),
                                      ("list_agents", "Agents", "AgentArn", [CTL.agent_arn])):
            seen, _ = self.collect(name, key, item)
            self.assertEqual(len(seen), len(set(seen)), f"{name}: duplicates {seen}")
            self.assertTrue(set(mine) <= set(seen), f"{name}: missing {set(mine) - set(seen)}")
            everything = getattr(self.c, name)()[key]
            self.assertEqual(set(seen), {x[item] for x in everything}, name)
        seen, pages = self.collect("list_task_executions", "TaskExecutions", "TaskExecutionArn",
                                   TaskArn=tasks[0])
        self.assertEqual(sorted(seen), sorted(execs))
        self.assertGreaterEqual(pages, 3)
        # boto3's paginators follow NextToken too.
        paged = []
        for page in self.c.get_paginator("list_locations").paginate(
                PaginationConfig={"PageSize": 2}):
            paged += [x["LocationArn"] for x in page["Locations"]]
        self.assertTrue(set(locs) <= set(paged))
        self.assertEqual(len(paged), len(set(paged)))
        for e in execs:
            CTL.wait_execution(e, timeout=60)

    def test_bad_next_token(self):
        # Not base64 (5 characters): never a token the server gave.
        code, msg, status, _ = client_error(self, self.c.list_tasks, NextToken="abcde")
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        # Outside the model's pattern [a-zA-Z0-9=_-]+.
        c = CTL.client(validate=False)
        code, msg, status, _ = client_error(self, c.list_locations, NextToken="not a token!")
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        self.assertIn("nextToken", msg)

    def test_list_filters(self):
        base = self.scratch()
        loc = self.local(os.path.join(base, "filtered"))
        r = self.c.list_locations(Filters=[{"Name": "LocationType", "Values": ["LOCAL"],
                                            "Operator": "Equals"}])["Locations"]
        self.assertIn(loc, {x["LocationArn"] for x in r})
        r = self.c.list_locations(Filters=[{"Name": "LocationUri", "Values": ["filtered"],
                                            "Operator": "Contains"}])["Locations"]
        self.assertEqual([x["LocationArn"] for x in r], [loc])
        r = self.c.list_locations(Filters=[{"Name": "LocationType", "Values": ["NFS"],
                                            "Operator": "Equals"}])["Locations"]
        self.assertNotIn(loc, {x["LocationArn"] for x in r})


class Errors(ControlCase):
    """Errors in DataSync's shape: HTTP 400, __type, message."""

    ARN_BASE = "arn:aws:datasync:ferry-local:000000000000:"

    def raw_error(self, op, body):
        status, _, r = CTL.raw(op, body)
        self.assertEqual(status, 400, r)
        self.assertIsInstance(r, dict)
        return r

    def test_unknown_arns(self):
        task = self.ARN_BASE + "task/task-0123456789abcdef0"
        cases = [
            (self.c.describe_task, {"TaskArn": task}, "not found"),
            (self.c.describe_task_execution,
             {"TaskExecutionArn": task + "/execution/exec-0123456789abcdef0"}, "not found"),
            (self.c.describe_location_nfs,
             {"LocationArn": self.ARN_BASE + "location/loc-0123456789abcdefg"}, "not found"),
            (self.c.delete_location,
             {"LocationArn": self.ARN_BASE + "location/loc-0123456789abcdefg"}, "not found"),
            (self.c.describe_agent,
             {"AgentArn": self.ARN_BASE + "agent/agent-0123456789abcdefg"}, "does not exist"),
            (self.c.start_task_execution, {"TaskArn": task}, "not found"),
            (self.c.delete_task, {"TaskArn": task}, "not found"),
        ]
        for fn, kw, words in cases:
            with self.subTest(op=fn.__name__):
                code, msg, status, resp = client_error(self, fn, **kw)
                self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
                self.assertIn(words, msg)
                self.assertIn(list(kw.values())[0], msg)
        # The raw body: DataSync's shape.
        r = self.raw_error("DescribeTask", {"TaskArn": task})
        self.assertEqual(r["__type"], "InvalidRequestException")
        self.assertEqual(r["message"], f"Task {task} not found.")

    def test_arn_of_another_account(self):
        other = "arn:aws:datasync:ferry-local:111122223333:task/task-0123456789abcdef0"
        code, msg, status, resp = client_error(self, self.c.describe_task, TaskArn=other)
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertEqual(msg, "Invalid parameter: ARN account (111122223333) must match "
                              "authenticated user.")
        r = self.raw_error("DescribeTask", {"TaskArn": other})
        self.assertEqual(r.get("errorCode"), "InvalidParameter")

    def test_bad_enum(self):
        base = self.scratch()
        s = self.local(os.path.join(base, "s"))
        d = self.local(os.path.join(base, "d"))
        c = CTL.client(validate=False)
        code, msg, status, _ = client_error(self, c.create_task, SourceLocationArn=s,
                                            DestinationLocationArn=d,
                                            Options={"VerifyMode": "SOMETIMES"})
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        prefix = ("1 validation error detected: Value 'SOMETIMES' at 'options.verifyMode' "
                  "failed to satisfy constraint: Member must satisfy enum value set: [")
        self.assertTrue(msg.startswith(prefix), msg)
        listed = msg[len(prefix):].rstrip("]").split(", ")
        self.assertEqual(sorted(listed),
                         sorted(["POINT_IN_TIME_CONSISTENT", "ONLY_FILES_TRANSFERRED", "NONE"]))
        # Nothing was created.
        tasks = {t["TaskArn"] for t in self.c.list_tasks()["Tasks"]}
        for t in tasks:
            self.assertNotEqual(self.c.describe_task(TaskArn=t).get("Options", {})
                                .get("VerifyMode"), "SOMETIMES")

    def test_missing_required_member(self):
        c = CTL.client(validate=False)
        code, msg, status, _ = client_error(self, c.describe_task)
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertEqual(msg, "1 validation error detected: Value null at 'taskArn' failed to "
                              "satisfy constraint: Member must not be null")
        code, msg, status, _ = client_error(self, c.create_agent)
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertIn("Value null at 'activationKey' failed to satisfy constraint: "
                      "Member must not be null", msg)

    def test_bad_arn_pattern_and_type(self):
        c = CTL.client(validate=False)
        code, msg, status, _ = client_error(self, c.describe_task, TaskArn="not-an-arn")
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertIn("Value 'not-an-arn' at 'taskArn' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern", msg)
        r = self.raw_error("ListTasks", {"MaxResults": "ten"})
        self.assertIn(r["__type"], ("InvalidRequestException", "SerializationException"))

    def test_unknown_operation(self):
        status, _, r = CTL.raw("LaunchRockets", {})
        self.assertEqual(status, 400, r)
        self.assertEqual(r["__type"], "UnknownOperationException")

    def test_invalid_option_combination(self):
        base = self.scratch()
        s = self.local(os.path.join(base, "s"))
        d = self.local(os.path.join(base, "d"))
        code, msg, status, _ = client_error(
            self, self.c.create_task, SourceLocationArn=s, DestinationLocationArn=d,
            Options={"TransferMode": "ALL", "PreserveDeletedFiles": "REMOVE"})
        self.assertEqual((code, status), ("InvalidRequestException", 400))
        self.assertEqual(msg, "Invalid SyncOption value. Option: TransferMode,"
                              "PreserveDeletedFiles, Value: ALL,REMOVE.")

    def test_bad_activation_key(self):
        code, msg, status, _ = client_error(self, self.c.create_agent,
                                            ActivationKey="AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)

    def test_delete_location_in_use(self):
        base = self.scratch()
        s = self.local(os.path.join(base, "s"))
        d = self.local(os.path.join(base, "d"))
        task = CTL.create_task(s, d)
        code, msg, status, _ = client_error(self, self.c.delete_location, LocationArn=s)
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        self.c.delete_task(TaskArn=task)
        self.c.delete_location(LocationArn=s)
        code, msg, status, _ = client_error(self, self.c.describe_task, TaskArn=task)
        self.assertIn("not found", msg)


# --------------------------------------------------------------------------
# Agents going away, servers restarting


class AgentOffline(ControlCase):
    def test_killed_agent_goes_offline_and_its_execution_ends(self):
        agent = CTL.add_agent("victim")
        c = self.c
        self.assertEqual(c.describe_agent(AgentArn=agent.arn)["Status"], "ONLINE")
        listed = {a["AgentArn"]: a["Status"] for a in c.list_agents()["Agents"]}
        self.assertEqual(listed.get(agent.arn), "ONLINE")
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        bulk(src, 10, 2_000_000)
        task = self.task(src, dst, agent_arn=agent.arn, Options={"BytesPerSecond": 1_000_000})
        arn = self.start(task)
        CTL.wait_execution(arn, ("TRANSFERRING",), timeout=30, interval=0.1)
        agent.kill()
        t0 = time.monotonic()
        CTL.wait_agent_status(agent.arn, "OFFLINE", OFFLINE_AFTER + 10)
        d = CTL.wait_execution(arn, timeout=OFFLINE_AFTER + 10)
        self.assertLess(time.monotonic() - t0, OFFLINE_AFTER + 10)
        self.assertEqual(d["Status"], "ERROR")
        self.assertEqual(d["Result"].get("ErrorCode"), "AgentOffline", d["Result"])
        self.assertIn(agent.arn.rsplit("/", 1)[1], d["Result"].get("ErrorDetail", ""))
        self.assertEqual(c.describe_task(TaskArn=task)["Status"], "UNAVAILABLE")
        # Back: the next execution completes the transfer.
        agent.start()
        CTL.wait_agent_status(agent.arn, "ONLINE", 30)
        c.update_task(TaskArn=task, Options={"BytesPerSecond": -1})
        d = CTL.run_task(task, timeout=60)
        self.assertSucceeded(d)
        self.assertTreesEqual(src, dst)
        self.assertEqual(c.describe_task(TaskArn=task)["Status"], "AVAILABLE")


class ServerRestart(ControlCase):
    def test_restart_mid_execution(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        st = bulk(src, 8, 1_000_000)  # 8 MB at 2 MB/s: about 4 s
        task = self.task(src, dst, Options={"BytesPerSecond": 2_000_000})
        arn = self.start(task)
        CTL.wait_execution(arn, ("TRANSFERRING",), timeout=30, interval=0.1)
        before = CTL.connections(CTL.agent)
        failed = CTL.failed_syncs(CTL.agent)
        CTL.server.stop()
        # The agent goes on copying, and retries its syncs: once it said so,
        # the server comes back.
        CTL.wait_failed_sync(CTL.agent, failed)
        CTL.server.start()
        CTL.wait_reconnected(CTL.agent, before)
        d = CTL.wait_execution(arn, timeout=60)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], st["files"])
        self.assertEqual(d["BytesWritten"], st["bytes"])
        self.assertEqual(d["FilesVerified"], st["files"])
        self.assertTreesEqual(src, dst)
        # Everything else is still there.
        self.assertEqual(self.c.describe_agent(AgentArn=CTL.agent_arn)["Status"], "ONLINE")
        self.assertSucceeded(CTL.run_task(task, timeout=60))

    def test_server_killed_mid_execution(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        st = bulk(src, 8, 1_000_000)
        task = self.task(src, dst, Options={"BytesPerSecond": 2_000_000})
        arn = self.start(task)
        CTL.wait_execution(arn, ("TRANSFERRING",), timeout=30, interval=0.1)
        before = CTL.connections(CTL.agent)
        failed = CTL.failed_syncs(CTL.agent)
        CTL.server.kill()
        CTL.wait_failed_sync(CTL.agent, failed)
        CTL.server.start()
        CTL.wait_reconnected(CTL.agent, before)
        d = CTL.wait_execution(arn, timeout=60)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], st["files"])
        self.assertEqual(d["BytesWritten"], st["bytes"])
        self.assertTreesEqual(src, dst)


class TaskReports(ControlCase):
    def test_an_undeliverable_report_stays_on_the_agent_and_the_result_says_where(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        st = bulk(src, 3, 1000)
        report_config = {
            "Destination": {"S3": {
                "S3BucketArn": "arn:aws:s3:::reports-bucket",
                "BucketAccessRoleArn": "arn:aws:iam::000000000000:role/reports"}},
            "OutputType": "STANDARD", "ReportLevel": "SUCCESSES_AND_ERRORS"}
        task = self.task(src, dst, TaskReportConfig=report_config)
        d = CTL.wait_execution(self.start(task), timeout=60)
        self.assertSucceeded(d)
        self.assertEqual(d["TaskReportConfig"]["OutputType"], "STANDARD")
        # This agent has no S3 endpoint it can reach (the test machine has no
        # network): the report is on the agent's machine, and ReportResult
        # says so instead of pretending it was delivered. (Delivery to a
        # real S3 server: test_s3_control.)
        report = d["ReportResult"]
        self.assertEqual(report["Status"], "ERROR", report)
        self.assertEqual(report["ErrorCode"], "ReportDeliveryFailed")
        self.assertIn("arn:aws:s3:::reports-bucket", report["ErrorDetail"])
        exec_id = d["TaskExecutionArn"].rsplit("/", 1)[1]
        folder = os.path.join(CTL.agent.dir, "task-reports", exec_id)
        self.assertIn(folder, report["ErrorDetail"])
        with open(os.path.join(folder, exec_id + ".summary-v1.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["TaskExecutionArn"], d["TaskExecutionArn"])
        with open(os.path.join(folder, exec_id + ".files-transferred-v1-00001.json")) as f:
            transferred = json.load(f)
        paths = sorted(r["RelativePath"] for r in transferred["Transferred"])
        self.assertEqual(len([p for p in paths if p != "/"]), st["files"], paths)



if __name__ == "__main__":
    unittest.main()
