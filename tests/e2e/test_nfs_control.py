"""End-to-end: NFS locations through `ferry server` and a `ferry agent`,
against a real NFS-Ganesha (NFSv3, tests/support/nfs.sh).

This process enters the server's network namespace first (nfs.py), so the
ferry server, the agent, the aws CLI and the module's own Samba smbd
(tests/support/samba.sh, started here after entering the namespace: only
processes inside it reach the NFS server) all run there. The locations are
made with the real `aws datasync` CLI, as a DataSync user would
(create-location-nfs with --on-prem-config AgentArns=...): local to NFS
(owners, modes, mtimes to the microsecond on the export's folder), NFS to
local, NFS to SMB (content and mtimes), each tree compared file by file
with the original; the no-change re-run transfers nothing; an export served
by a second agent takes a tree from the first over the link (agent to
agent), and the first reads it back over the link to the second's disk; a
location on an export that does not exist ends ERROR naming it.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_nfs_control
(FERRY_TEST_NFS_STATE: the fixture's server; without it the module starts
its own).
"""

import os
import shutil
import unittest

import control
import nfs
import oracle
import test_smb_sync as smb
from test_smb_control import AgentTasks

CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    nfs.setUpModule()  # before any thread or process
    # An smbd of the module's own, inside the namespace (one outside it,
    # such as the samba fixture's, is out of the agent's reach).
    os.environ.pop("FERRY_TEST_SMB_STATE", None)
    smb.setUpModule()
    port = smb.SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)[1]
    CTL = control.Control.start(control.ModuleCleanups(), agent_args=["--smb-port", port])


class NfsControl(AgentTasks, oracle.FerryTestCase):
    def setUp(self):
        self.ctl = CTL
        CTL.ensure_agents()

    def nfs_location(self, folder, export=None, version="NFS3", agent_arn=None):
        args = ["create-location-nfs", "--server-hostname", nfs.NFS["FERRY_TEST_NFS_HOST"],
                "--subdirectory", f"{export or nfs.NFS['FERRY_TEST_NFS_EXPORT']}/{folder}",
                "--on-prem-config", f"AgentArns={agent_arn or CTL.agent_arn}"]
        if version:
            args += ["--mount-options", f"Version={version}"]
        return CTL.aws(*args)["LocationArn"]

    def source_tree(self, seed):
        src = os.path.join(self.scratch(), "src")
        oracle.make_tree(src, seed, files=40, dirs=6)  # odd names, links, owners, modes
        return src

    def assertUploaded(self, src, folder, up):
        """`src` arrived whole on the export's `folder`, nothing left beside
        it, and task `up` run again transfers nothing."""
        nfs.assert_same(self, src, nfs.on_export(folder), link_times=nfs.LINK_TIMES_KEPT)
        self.assertEqual(nfs.strays(nfs.on_export(folder)), [])
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

    def test_local_to_nfs_and_back_and_the_no_change_re_run(self):
        src = self.source_tree(11)
        folder = nfs.fresh_folder()
        export = self.nfs_location(folder)
        described = CTL.aws("describe-location-nfs", "--location-arn", export)
        self.assertTrue(described["LocationUri"].startswith("nfs://"), described)
        self.assertIn(f"/export/{folder}", described["LocationUri"], described)

        up = self.task(self.local(src), export)
        self.assertSucceeded(self.run_task(up))
        self.assertUploaded(src, folder, up)

        back = os.path.join(self.scratch(), "back")
        d = self.run_task(self.task(export, self.local(back)))
        self.assertSucceeded(d)
        nfs.assert_same(self, src, back, link_times=nfs.LINK_TIMES_KEPT)
        nfs.assert_same(self, nfs.on_export(folder), back)  # links' times too

    def test_nfs_without_mount_options_to_local(self):
        src = self.source_tree(12)
        folder = nfs.fresh_folder()
        r = oracle.sync(src, nfs.url(folder))  # filled by `ferry sync`
        self.assertEqual(r.rc, 0, r.describe())
        back = os.path.join(self.scratch(), "back")
        d = self.run_task(self.task(self.nfs_location(folder, version=None), self.local(back)))
        self.assertSucceeded(d)
        self.assertEqual(d["FilesTransferred"], oracle.tree_stats(src)["files"], d)
        nfs.assert_same(self, src, back, link_times=nfs.LINK_TIMES_KEPT)

    def test_nfs_to_smb_and_the_no_change_re_run(self):
        src = os.path.join(self.scratch(), "src")
        # What SMB holds: no owners, modes, links or names it refuses.
        oracle.make_tree(src, 13, files=40, dirs=6, odd_names=False, symlinks=False,
                         fifos=False, owners=False, modes=False)
        folder = nfs.fresh_folder()
        share = "ctl-" + os.urandom(6).hex()
        self.addCleanup(shutil.rmtree, smb.on_share(share), True)
        up = self.task(self.local(src), self.nfs_location(folder))
        self.assertSucceeded(self.run_task(up))
        across = self.task(self.nfs_location(folder), self.smb_location(share))
        d = self.run_task(across)
        self.assertSucceeded(d)
        smb.SmbSync.assertSameFiles(self, src, smb.on_share(share))  # as SMB keeps them
        self.assertEqual(smb.strays(smb.on_share(share)), [])
        again = self.run_task(across)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

    def test_an_export_behind_the_receiving_agent_of_a_link(self):
        # A second agent (in the same namespace) serves the export and takes
        # the tree from the first over the link: owners, modes, links, times.
        receiver = CTL.link_receiver()
        src = self.source_tree(14)
        folder = nfs.fresh_folder()
        up = self.task(self.local(src), self.nfs_location(folder, agent_arn=receiver.arn))
        self.run_over_link(up, receiver)
        self.assertUploaded(src, folder, up)

        # And back the other way: the first agent reads the export and the
        # second writes its own disk.
        back = os.path.join(self.scratch(), "back")
        self.run_over_link(self.task(self.nfs_location(folder), self.local(back, receiver.arn)),
                           receiver)
        nfs.assert_same(self, src, back, link_times=nfs.LINK_TIMES_KEPT)

    def test_a_missing_export_ends_error_naming_the_location(self):
        src = os.path.join(self.scratch(), "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        # A name without "export" in it: the word must be the message's.
        d = self.run_task(self.task(self.local(src), self.nfs_location("x", export="/not-shared")))
        self.assertEqual(d["Status"], "ERROR", d)
        detail = d["Result"].get("ErrorDetail", "")
        self.assertIn("nfs://127.0.0.1/not-shared/x", detail)
        self.assertRegex(detail, r"\bexport")


if __name__ == "__main__":
    unittest.main()
