"""End-to-end: Azure Blob locations through `ferry server` and a `ferry agent`,
against Azurite (tests/support/azurite.sh).

The locations are made with the real `aws datasync` CLI, as a DataSync user
would (create-location-azure-blob with a ContainerUrl, SAS authentication and
the token in SasConfiguration); the agent is started with
--azure-endpoint-url, since DataSync's ContainerUrl takes only https hosts
and Azurite serves its account on a path. Local to Azure and back, compared
file by file with the original; the no-change re-run transfers nothing; a
read-only token used as a destination ends the execution ERROR saying so,
without the token anywhere in what the API returns.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_azure_control
(FERRY_TEST_AZURE_STATE: the fixture's Azurite; without it the module starts
its own).
"""

import json
import os

import control
import oracle
import test_azure_sync as azure
from test_smb_control import AgentTasks

CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    azure.setUpModule()
    CTL = control.Control.start(
        control.ModuleCleanups(),
        agent_args=["--azure-endpoint-url", azure.AZ["FERRY_TEST_AZURE_ENDPOINT"]])


class AzureControl(AgentTasks, oracle.FerryTestCase):
    def setUp(self):
        self.ctl = CTL
        CTL.ensure_agents()

    def azure_location(self, folder, token=None):
        account = azure.AZ["FERRY_TEST_AZURE_ACCOUNT"]
        container = azure.AZ["FERRY_TEST_AZURE_CONTAINER"]
        # As JSON input: the aws CLI would fetch an https:// parameter.
        request = {
            "ContainerUrl": f"https://{account}.blob.core.windows.net/{container}",
            "Subdirectory": f"/{folder}",
            "AuthenticationType": "SAS",
            "SasConfiguration": {"Token": token or azure.AZ["FERRY_TEST_AZURE_SAS"]},
            "AgentArns": [self.ctl.agent_arn],
        }
        return self.ctl.aws("create-location-azure-blob", "--cli-input-json",
                            json.dumps(request))["LocationArn"]

    def test_local_to_azure_and_back_and_the_no_change_re_run(self):
        src = os.path.join(self.scratch(), "src")
        oracle.make_tree(src, 31, files=40, dirs=6, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        folder = azure.fresh()
        blob = self.azure_location(folder)
        described = CTL.aws("describe-location-azure-blob", "--location-arn", blob)
        self.assertNotIn(azure.AZ["FERRY_TEST_AZURE_SAS"], json.dumps(described))
        up = self.task(self.local(src), blob)
        self.assertSucceeded(self.run_task(up))
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

        back = os.path.join(self.scratch(), "back")
        d = self.run_task(self.task(blob, self.local(back)))
        self.assertSucceeded(d)
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def test_a_read_only_token_as_destination_ends_error_saying_so(self):
        src = os.path.join(self.scratch(), "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        ro = azure.AZ["FERRY_TEST_AZURE_SAS_READ_ONLY"]
        d = self.run_task(self.task(self.local(src), self.azure_location(azure.fresh(), ro)))
        self.assertEqual(d["Status"], "ERROR", d)
        said = json.dumps(d, default=str)
        self.assertIn("a destination needs", said)  # the ErrorDetail
        self.assertNotIn(ro, said + self.ctl.logs())


if __name__ == "__main__":
    import unittest
    unittest.main()
