"""End-to-end: a task whose locations two different agents serve, through
`ferry server`, two `ferry agent`s and the real `aws datasync` CLI.

agent0 serves the source and runs the execution; `receiver`, started with
`--link-listen 127.0.0.1:0`, serves the destination: the data goes from one
agent to the other over the mutual-TLS link (docs/link.md), and the tree that
arrives must be the source's, file by file, with modes, owners and times.
Compressible data is sent compressed (BytesCompressed below
BytesTransferred); the no-change re-run transfers nothing; a changed large
file is sent as its differences (1 MiB changed in a 24 MiB file sends about
1 MiB: delta transfer); UpdateTaskExecution's BytesPerSecond reaches a
running link execution, and a cancelled one ends with the receiver closing
its side; an object store (radosgw, OBJECT_STORAGE) served by the receiver
takes the tree over the link as it would locally (multipart parts and
metadata), read back identical, and one served by the sender gives it back
over the link to the receiver's disk; a destination
whose agents accept no link connections ends ERROR `AgentsDiffer` saying how
to start one.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_agent_link
(FERRY_TEST_S3_STATE: the fixture's radosgw; without it the module starts its
own).
"""

import os

import unittest
import urllib.parse

import control
import oracle
import s3

CTL = None
RECEIVER = None
S3 = None


def setUpModule():
    global CTL, RECEIVER, S3
    control.need_boto3()
    unittest.addModuleCleanup(s3.stop_own_server)
    S3 = s3.server()
    CTL = control.Control.start(control.ModuleCleanups())
    RECEIVER = CTL.link_receiver()


class AgentLink(oracle.FerryTestCase):
    def setUp(self):
        CTL.ensure_agents()

    def location(self, path, agent):
        os.makedirs(path, exist_ok=True)
        return CTL.create_location_local(path, [agent.arn])

    def run_task(self, task):
        arn = CTL.aws("start-task-execution", "--task-arn", task)["TaskExecutionArn"]
        return arn, CTL.wait_execution(arn, timeout=180)

    def task(self, src, dst):
        return CTL.aws("create-task", "--source-location-arn", src,
                       "--destination-location-arn", dst)["TaskArn"]

    def object_storage(self, bucket, subdirectory, agent):
        port = urllib.parse.urlsplit(S3.endpoint).port
        return CTL.aws("create-location-object-storage", "--server-hostname", "127.0.0.1",
                       "--server-port", str(port), "--server-protocol", "HTTP",
                       "--bucket-name", bucket, "--subdirectory", subdirectory,
                       "--access-key", S3.access_key, "--secret-key", S3.secret_key,
                       "--agent-arns", agent.arn)["LocationArn"]

    def assertSucceeded(self, d):
        self.assertEqual(d["Status"], "SUCCESS", f"{d}\n{CTL.logs()}")

    def test_a_tree_crosses_from_one_agent_to_the_other(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, 51, files=60, dirs=6, odd_names=True, fifos=False)
        # Compressible (text) and incompressible (random) large files.
        text = b"".join(b"line %d of a log file that compresses well\n" % i
                        for i in range(300_000))
        oracle.write_file(os.path.join(src, "log.txt"), text)
        oracle.write_file(os.path.join(src, "random.bin"), os.urandom(6 * (1 << 20) + 11))
        dst = os.path.join(base, "dst")
        task = self.task(self.location(src, CTL.agents[0]), self.location(dst, RECEIVER))
        arn, d = self.run_task(task)
        self.assertSucceeded(d)
        diffs = oracle.compare_trees(src, dst, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))
        # Over the link: the receiver served it, and the text went compressed.
        self.assertIn(f"serving the destination of {arn.rsplit('/', 1)[1]}",
                      control.read_text(RECEIVER.log) or "")
        self.assertLess(d["BytesCompressed"], d["BytesTransferred"] - len(text) // 2, d)
        self.assertEqual(d["BytesWritten"], d["BytesTransferred"], d)

        _, again = self.run_task(task)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

    def test_a_changed_large_file_is_sent_as_its_differences(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        os.makedirs(src)
        size = 24 << 20
        big = os.path.join(src, "big.bin")
        oracle.write_file(big, os.urandom(size))
        dst = os.path.join(base, "dst")
        task = self.task(self.location(src, CTL.agents[0]), self.location(dst, RECEIVER))
        self.assertSucceeded(self.run_task(task)[1])
        # 1 MiB rewritten in the middle, at no block boundary.
        with open(big, "r+b") as f:
            f.seek(11 * (1 << 20) + 4321)
            f.write(os.urandom(1 << 20))
        _, d = self.run_task(task)
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], 1, d)
        diffs = oracle.compare_trees(src, dst, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))
        # About the changed MiB crossed (random data: no compression), not
        # the file: at most 5% of it.
        self.assertGreaterEqual(d["BytesCompressed"], 1 << 20, d)
        self.assertLess(d["BytesCompressed"], size // 20, d)

    def test_bandwidth_changes_live_and_cancel_ends_the_link(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(16 << 20))
        dst = os.path.join(base, "dst")
        task = CTL.aws("create-task", "--source-location-arn",
                       self.location(src, CTL.agents[0]), "--destination-location-arn",
                       self.location(dst, RECEIVER),
                       "--options", "BytesPerSecond=65536")["TaskArn"]
        c = CTL.client()

        def transferring(task_arn):
            arn = c.start_task_execution(TaskArn=task_arn)["TaskExecutionArn"]
            d = CTL.wait_execution(arn, statuses=("TRANSFERRING", "SUCCESS", "ERROR"),
                                   timeout=60, interval=0.05)
            self.assertEqual(d["Status"], "TRANSFERRING", f"{d}\n{CTL.logs()}")
            return arn

        # Limited to 64 KiB/s, the 16 MiB would take over 4 minutes: it ends
        # within the wait only if the lifted limit reaches the sender.
        arn = transferring(task)
        c.update_task_execution(TaskExecutionArn=arn, Options={"BytesPerSecond": -1})
        d = CTL.wait_execution(arn, timeout=60)
        self.assertSucceeded(d)
        self.assertEqual(d["Options"]["BytesPerSecond"], -1, d)

        # Cancelled while it runs (limited again): ERROR, and the receiver
        # is told to close the link.
        with open(os.path.join(src, "big.bin"), "r+b") as f:
            f.write(os.urandom(1 << 20))
        c.update_task(TaskArn=task, Options={"BytesPerSecond": 262144})
        arn = transferring(task)
        c.cancel_task_execution(TaskExecutionArn=arn)
        d = CTL.wait_execution(arn, timeout=60)
        self.assertEqual(d["Status"], "ERROR", d)
        ended = f"link of {arn.rsplit('/', 1)[1]} ended"
        oracle.wait_for(lambda: ended in (control.read_text(RECEIVER.log) or ""), 30, 0.2,
                        "the receiver to end the link")

    def object_tree(self, seed):
        """A folder and the tree in it that an object store keeps whole:
        small files, and one of several chunks and multipart parts."""
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, seed, files=30, dirs=4, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(21 * (1 << 20) + seed))
        return base, src

    def test_an_object_store_behind_the_receiver(self):
        base, src = self.object_tree(53)
        bucket = S3.fresh_bucket(self, "link")
        store = self.object_storage(bucket, "/copy", RECEIVER)
        task = self.task(self.location(src, CTL.agents[0]), store)
        self.assertSucceeded(self.run_task(task)[1])
        _, again = self.run_task(task)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)
        back = os.path.join(base, "back")
        r = oracle.sync(f"s3://{bucket}/copy", back, "--endpoint-url", S3.endpoint,
                        env=S3.aws_env(), timeout=300)
        self.assertSuccess(r)
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

        # A destination the receiver cannot open: the sender's execution
        # ends with the receiver's reason.
        missing = self.object_storage("no-such-bucket-" + os.urandom(4).hex(), "/",
                                      RECEIVER)
        _, d = self.run_task(self.task(self.location(src, CTL.agents[0]), missing))
        self.assertEqual(d["Status"], "ERROR", d)
        self.assertIn("cannot open its destination", d["Result"]["ErrorDetail"])
        self.assertIn("no-such-bucket-", d["Result"]["ErrorDetail"])

    def test_an_object_store_behind_the_sender(self):
        # The other way round: the sending agent reads the tree from the
        # object store (stored there by `ferry sync`, with its metadata) and
        # the receiver writes it to its disk.
        base, src = self.object_tree(57)
        bucket = S3.fresh_bucket(self, "linksrc")
        self.assertSuccess(oracle.sync(src, f"s3://{bucket}/tree", "--endpoint-url",
                                       S3.endpoint, env=S3.aws_env(), timeout=300))
        store = self.object_storage(bucket, "/tree", CTL.agents[0])
        dst = os.path.join(base, "dst")
        task = self.task(store, self.location(dst, RECEIVER))
        arn, d = self.run_task(task)
        self.assertSucceeded(d)
        self.assertIn(f"serving the destination of {arn.rsplit('/', 1)[1]}",
                      control.read_text(RECEIVER.log) or "")
        diffs = oracle.compare_trees(src, dst, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))
        _, again = self.run_task(task)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

    def test_a_destination_agent_without_a_link_listener_is_named(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a"), b"a\n")
        # The other way round: agent0 (no --link-listen) at the destination.
        task = self.task(self.location(src, RECEIVER),
                         self.location(os.path.join(base, "dst"), CTL.agents[0]))
        _, d = self.run_task(task)
        self.assertEqual(d["Status"], "ERROR", d)
        self.assertEqual(d["Result"]["ErrorCode"], "AgentsDiffer", d)
        self.assertIn("--link-listen", d["Result"]["ErrorDetail"])
        self.assertIn(CTL.agents[0].arn, d["Result"]["ErrorDetail"])


if __name__ == "__main__":
    import unittest
    unittest.main()
