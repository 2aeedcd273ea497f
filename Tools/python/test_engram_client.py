"""Tests of engram_client.py against a real engramd on a real socket.

    ENGRAM_BIN=.build/release python3 -m unittest discover -s Tools/python -v

Needs the release binaries (`swift build -c release`) and the models (Tools/setup-models.sh).
"""

import json
import os
import shutil
import socket
import ssl
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


class Daemon:
    """A new database (`dim` dimensions, else the embedder's) with `server` added to its
    [server] settings, and engramd serving it, up once its Unix socket exists (and `port`
    accepts connections, when given)."""

    def __init__(self, prefix: str, dim=None, server: str = "", port=None):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.db = os.path.join(self.dir, "db")
        subprocess.run([os.path.join(BIN, "engram"), "init", "--db", self.db] + (["--dim", str(dim)] if dim else []),
                       check=True, capture_output=True)
        if server:
            with open(os.path.join(self.db, "engram.toml"), "a") as toml:
                toml.write("\n[server]\n" + server)
        self.process = subprocess.Popen([os.path.join(BIN, "engramd"), "--db", self.db],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.socket_path = os.path.join(self.db, "run", "engramd.sock")
        deadline = time.time() + 30
        while not self.up(port):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("engramd did not start: " + self.process.stderr.read().decode(errors="replace"))
            time.sleep(0.05)

    def up(self, port) -> bool:
        if not os.path.exists(self.socket_path):
            return False
        if port is None:
            return True
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def token(self) -> str:
        with open(os.path.join(self.db, "engramd.token")) as f:
            return f.read().strip()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stderr.close()
        shutil.rmtree(self.dir)


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("engram-client-")
        cls.db = cls.daemon.db
        cls.client = Client(socket_path=cls.daemon.socket_path, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.daemon.stop()

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TLSTests(unittest.TestCase):
    """engramd on TCP with TLS: a certificate made here by openssl, the token it generated."""

    @classmethod
    def setUpClass(cls):
        cls.keys = tempfile.mkdtemp(prefix="engram-tls-keys-")
        cls.cert, key = os.path.join(cls.keys, "cert.pem"), os.path.join(cls.keys, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.port, cls.grpc_port = free_port(), free_port()
        cls.daemon = Daemon("engram-tls-", dim=4, port=cls.port,
                            server='tcp = "127.0.0.1:%d"\ngrpc = "127.0.0.1:%d"\ntls_certificate = "%s"\ntls_key = "%s"\n'
                                   % (cls.port, cls.grpc_port, cls.cert, key))
        cls.db = cls.daemon.db
        cls.token = cls.daemon.token()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.keys)

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    def test_token_file_is_private(self):
        path = os.path.join(self.db, "engramd.token")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertRegex(self.token, r"^[0-9a-f]{64}$")

    def test_calls_over_tls_need_the_token(self):
        with Client(address=("127.0.0.1", self.port), token=self.token, ssl_context=self.context(), timeout=30) as c:
            self.assertEqual(c.upsert([{"id": "t1", "text": "PUMP-7", "vector": [1, 0, 0, 0]}]), ["t1"])
            self.assertEqual(c.query(vector=[1, 0, 0, 0], k=1)["results"][0]["id"], "t1")
        with Client(address=("127.0.0.1", self.port), ssl_context=self.context(), timeout=30) as c:
            self.assertEqual(c.health(), "SERVING")  # the one method open to all
            with self.assertRaises(engram_client.Unauthenticated):
                c.stats()
        with Client(address=("127.0.0.1", self.port), token="0" * 64, ssl_context=self.context(), timeout=30) as c:
            with self.assertRaises(engram_client.Unauthenticated):
                c.get("t1")

    def test_grpc_over_tls(self):
        import grpc  # only this test needs grpcio
        with open(self.cert, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel("127.0.0.1:%d" % self.grpc_port, credentials,
                                 options=(("grpc.ssl_target_name_override", "localhost"),)) as channel:
            stats = channel.unary_unary("/engram.v1.Memory/Stats", request_serializer=lambda m: json.dumps(m).encode(),
                                        response_deserializer=json.loads)
            self.assertIn("memories", stats({}, metadata=(("authorization", "Bearer " + self.token),), timeout=30))
            with self.assertRaises(grpc.RpcError) as caught:
                stats({}, timeout=30)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_plain_tcp_gets_no_answer(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as raw:
            raw.sendall(b'{"id":1,"method":"engram.v1.Health/Check"}\n')
            received = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                received += chunk
            self.assertNotIn(b"SERVING", received)


if __name__ == "__main__":
    unittest.main()
