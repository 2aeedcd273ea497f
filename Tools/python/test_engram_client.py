"""Tests of engram_client.py against a real engramd on a real socket.

    ENGRAM_BIN=.build/release python3 -m unittest discover -s Tools/python -v

Needs the release binaries (`swift build -c release`) and the models (Tools/setup-models.sh).
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engram_client  # noqa: E402
from engram_client import Client  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ENGRAM_BIN", os.path.join(ROOT, ".build", "release"))


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="engram-client-")
        cls.db = os.path.join(cls.dir, "db")
        subprocess.run([os.path.join(BIN, "engram"), "init", "--db", cls.db], check=True, capture_output=True)
        cls.daemon = subprocess.Popen([os.path.join(BIN, "engramd"), "--db", cls.db],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        socket_path = os.path.join(cls.db, "run", "engramd.sock")
        deadline = time.time() + 30
        while not os.path.exists(socket_path):
            if time.time() > deadline or cls.daemon.poll() is not None:
                raise RuntimeError("engramd did not start: " + cls.daemon.stderr.read().decode(errors="replace"))
            time.sleep(0.05)
        cls.client = Client(socket_path=socket_path, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.daemon.terminate()
        cls.daemon.wait(timeout=30)
        shutil.rmtree(cls.dir)

    def test_1_memories(self):
        c = self.client
        self.assertEqual(c.health(), "SERVING")
        ids = c.upsert([
            {"id": "n1", "text": "PUMP-7 was serviced after a grinding noise.", "time": "2026-05-29T08:00:00Z"},
            {"id": "n2", "text": "The canteen menu changed on Monday.", "time": "2026-05-30T08:00:00Z"},
            {"id": "n3", "text": "Valve VALVE-3 leaks again; a new seal is ordered.", "time": "2026-05-31T08:00:00Z"},
        ])
        self.assertEqual(ids, ["n1", "n2", "n3"])
        found = c.query("what happened to the pump?", k=2)
        self.assertEqual(len(found["results"]), 2)
        self.assertEqual(found["results"][0]["id"], "n1")
        self.assertEqual(c.get("n3")["text"], "Valve VALVE-3 leaks again; a new seal is ordered.")
        self.assertEqual(c.stats()["memories"], 3)
        self.assertEqual(sorted(r["id"] for r in c.export()), ["n1", "n2", "n3"])
        self.assertEqual(c.graph_entity("devices:1")["edges"], [])
        self.assertEqual(c.ingest_status(), [])

    def test_2_errors(self):
        c = self.client
        with self.assertRaises(engram_client.NotFound) as caught:
            c.get("nope")
        self.assertIn("nope", caught.exception.message)
        with self.assertRaises(engram_client.InvalidArgument) as caught:
            c.call("engram.v1.Memory/Query", {"text": "x", "k": "ten"})
        self.assertIn("params.k", caught.exception.message)
        with self.assertRaises(engram_client.Unimplemented):
            c.call("engram.v1.Memory/Teleport")
        with self.assertRaises(ValueError):  # NaN cannot be sent as JSON at all
            c.query(vector=[float("nan")] * 384)
        # The connection serves on after each error.
        self.assertEqual(c.health(), "SERVING")

    def test_3_ask_streams(self):
        answer = self.client.ask("What happened to PUMP-7?", maxTokens=24, temperature=0)
        pieces = list(answer)
        self.assertGreater(len(pieces), 1)
        self.assertIsNotNone(answer.response)
        self.assertEqual("".join(pieces).strip(), answer.response["answer"].strip())
        self.assertTrue(all(r["id"] in ("n1", "n2", "n3") for r in answer.response["retrieved"]))

    def test_4_socket_is_private(self):
        run = os.path.join(self.db, "run")
        self.assertEqual(stat.S_IMODE(os.stat(run).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(run, "engramd.sock")).st_mode), 0o600)


if __name__ == "__main__":
    unittest.main()
