"""End-to-end: SMB locations through `ferry server` and a `ferry agent`,
against a real Samba smbd (tests/support/samba.sh).

One server, one agent (started with --smb-port: DataSync's ServerHostname
has no room for a port) and one smbd for the module. The locations are made
with the real `aws datasync` CLI, as a DataSync user would: local to SMB and
SMB to local, each tree compared file by file with the original, and the
no-change re-run transfers nothing; a share served by a second agent takes
a tree from the first over the link (agent to agent), and the first reads it
back over the link to the second's disk; a wrong password ends the execution
ERROR with a message naming the location, without the password anywhere in
what the API returns.

Run: tests/support/samba.sh start /tmp/smb
     cd tests/e2e && FERRY_TEST_SMB_STATE=/tmp/smb FERRY_BIN=/path/to/ferry \\
         python3 -m unittest -v test_smb_control
(without FERRY_TEST_SMB_STATE the module starts an smbd of its own).
"""

import os
import shutil
import unittest

import control
import oracle
import test_smb_sync as smb

CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    smb.setUpModule()
    port = smb.SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)[1]
    CTL = control.Control.start(control.ModuleCleanups(), agent_args=["--smb-port", port])


class AgentTasks:
    """Tasks through the module's server and agent (self.ctl), for the SMB
    and NFS control modules: locations, tasks, runs."""

    def smb_location(self, folder, password=None, version="AUTOMATIC", agent_arn=None):
        return self.ctl.aws(
            "create-location-smb", "--server-hostname", "127.0.0.1",
            "--subdirectory", f"/{smb.SMB['FERRY_TEST_SMB_SHARE']}/{folder}",
            "--user", smb.SMB["FERRY_TEST_SMB_USER"],
            "--password", password or smb.SMB["FERRY_TEST_SMB_PASSWORD"],
            "--mount-options", f"Version={version}",
            "--agent-arns", agent_arn or self.ctl.agent_arn)["LocationArn"]

    def local(self, path, agent_arn=None):
        os.makedirs(path, exist_ok=True)
        return self.ctl.create_location_local(path, [agent_arn or self.ctl.agent_arn])

    def task(self, src, dst):
        return self.ctl.aws("create-task", "--source-location-arn", src,
                            "--destination-location-arn", dst)["TaskArn"]

    def run_task(self, task):
        arn = self.ctl.aws("start-task-execution", "--task-arn", task)["TaskExecutionArn"]
        return self.ctl.wait_execution(arn, timeout=120)

    def assertSucceeded(self, d):
        self.assertEqual(d["Status"], "SUCCESS", f"{d}\n{self.ctl.logs()}")

    def run_over_link(self, task, receiver):
        """Runs a task whose destination the agent `receiver` serves: it
        succeeds, and the receiver says it served it (the data crossed the
        link from the source's agent)."""
        execution = self.ctl.aws("start-task-execution", "--task-arn", task)["TaskExecutionArn"]
        d = self.ctl.wait_execution(execution, timeout=180)
        self.assertSucceeded(d)
        self.assertIn(f"serving the destination of {execution.rsplit('/', 1)[1]}",
                      control.read_text(receiver.log) or "")
        return d


class SmbControl(AgentTasks, oracle.FerryTestCase):
    def setUp(self):
        self.ctl = CTL
        CTL.ensure_agents()

    def assertSameFiles(self, a, b):
        diffs = oracle.compare_trees(a, b, mode=False, uid=False, gid=False, mtime=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def test_local_to_smb_and_back_and_the_no_change_re_run(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, 11, files=40, dirs=6, odd_names=False, symlinks=False,
                         fifos=False, owners=False, modes=False)
        folder = "ctl-" + os.urandom(6).hex()
        self.addCleanup(shutil.rmtree, smb.on_share(folder), True)
        share = self.smb_location(folder, version="SMB3")
        up = self.task(self.local(src), share)
        d = self.run_task(up)
        self.assertSucceeded(d)
        self.assertSameFiles(src, smb.on_share(folder))
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

        back = os.path.join(base, "back")
        d = self.run_task(self.task(share, self.local(back)))
        self.assertSucceeded(d)
        self.assertSameFiles(src, back)
        self.assertEqual(smb.strays(smb.on_share(folder)), [])

    def test_a_share_behind_the_receiving_agent_of_a_link(self):
        # A second agent serves the share and takes the tree from the first
        # over the link (agent to agent).
        port = smb.SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)[1]
        receiver = CTL.link_receiver(["--smb-port", port])
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, 13, files=30, dirs=4, odd_names=False, symlinks=False,
                         fifos=False, owners=False, modes=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(21 * (1 << 20) + 5))
        folder = "link-" + os.urandom(6).hex()
        self.addCleanup(shutil.rmtree, smb.on_share(folder), True)
        up = self.task(self.local(src), self.smb_location(folder, agent_arn=receiver.arn))
        self.run_over_link(up, receiver)
        self.assertSameFiles(src, smb.on_share(folder))
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)
        self.assertEqual(smb.strays(smb.on_share(folder)), [])

        # And back the other way: the first agent reads the share and the
        # second writes its own disk.
        back = os.path.join(base, "back")
        self.run_over_link(self.task(self.smb_location(folder), self.local(back, receiver.arn)),
                           receiver)
        self.assertSameFiles(src, back)

    def test_a_wrong_password_ends_error_naming_the_location(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        folder = "ctl-" + os.urandom(6).hex()
        share = self.smb_location(folder, password="wrong-password-42")
        d = self.run_task(self.task(self.local(src), share))
        self.assertEqual(d["Status"], "ERROR", d)
        detail = d["Result"].get("ErrorDetail", "")
        self.assertIn("smb://", detail)
        self.assertIn(smb.SMB["FERRY_TEST_SMB_USER"], detail)
        self.assertNotIn("wrong-password-42", str(d))
        described = CTL.aws("describe-location-smb", "--location-arn", share)
        self.assertNotIn("wrong-password-42", str(described))


if __name__ == "__main__":
    unittest.main()
