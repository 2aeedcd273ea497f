"""engramd's gRPC listener called by a stock gRPC client (grpcio) with JSON messages.

    ENGRAM_BIN=.build/release python3 -m unittest discover -s Tools/python -v

Every method is at /engram.v1.SERVICE/METHOD; a request message is the method's params as
JSON, an answer its result (or each message of its stream) as JSON. gRPC's deadlines,
cancellation and status codes apply; on TCP every method but Health/Check needs the token.
"""

import json
import os
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_engram_client import Daemon, free_port  # noqa: E402


def encode(message):
    return json.dumps(message, allow_nan=False).encode()


def decode(data):
    return json.loads(data)


class GRPCTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.daemon = Daemon("engram-grpc-", dim=4, port=cls.port, server='grpc = "127.0.0.1:%d"\n' % cls.port)
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.port)
        grpc.channel_ready_future(cls.channel).result(timeout=30)
        cls.auth = (("authorization", "Bearer " + cls.daemon.token()),)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.daemon.stop()

    def unary(self, method):
        return self.channel.unary_unary("/engram.v1." + method, request_serializer=encode, response_deserializer=decode)

    def streaming(self, method):
        return self.channel.unary_stream("/engram.v1." + method, request_serializer=encode, response_deserializer=decode)

    def test_1_methods(self):
        self.assertEqual(self.unary("Health/Check")({})["status"], "SERVING")
        memories = [{"id": "a", "text": "PUMP-7 ground loudly", "vector": [1, 0, 0, 0]},
                    {"id": "b", "text": "VALVE-3 leaked", "vector": [0, 1, 0, 0]}]
        self.assertEqual(self.unary("Memory/Upsert")({"memories": memories}, metadata=self.auth)["ids"], ["a", "b"])
        hits = self.unary("Memory/Query")({"vector": [0.9, 0.1, 0, 0], "k": 2}, metadata=self.auth)["results"]
        self.assertEqual([h["id"] for h in hits], ["a", "b"])
        self.assertEqual(self.unary("Memory/Get")({"id": "b"}, metadata=self.auth)["text"], "VALVE-3 leaked")
        self.assertEqual(self.unary("Memory/Stats")({}, metadata=self.auth)["memories"], 2)
        exported = [m["id"] for m in self.streaming("Memory/Export")({}, metadata=self.auth)]
        self.assertEqual(sorted(exported), ["a", "b"])

    def test_2_status_codes(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary("Memory/Get")({"id": "nope"}, metadata=self.auth)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary("Memory/Query")({"vector": [1, 0, 0, 0], "k": "ten"}, metadata=self.auth)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("params.k", caught.exception.details())
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary("Memory/Teleport")({}, metadata=self.auth)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary("Memory/Stats")({})
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as caught:
            self.channel.unary_unary("/engram.v1.Memory/Stats")(b"[1,2", metadata=self.auth)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_3_ask_streams_and_is_cancelled(self):
        # A question whose answer runs to maxTokens: 200 decoding steps, which no CPU makes
        # in the 50 ms of the deadline below (even with the prompt's KV state kept).
        ask = {"question": "Write a very long story about PUMP-7, at least 500 words.", "mode": "text",
               "maxTokens": 200, "cache": False, "temperature": 0}
        messages = list(self.streaming("RAG/Ask")(ask, metadata=self.auth))
        pieces = [m["text"] for m in messages if "text" in m]
        self.assertGreater(len(pieces), 1)
        response = messages[-1]["response"]
        self.assertEqual("".join(pieces).strip(), response["answer"].strip())
        self.assertEqual(response["usage"]["completionTokens"], 200)
        # gRPC's own cancellation: the stream stops, the call ends CANCELLED.
        call = self.streaming("RAG/Ask")(ask, metadata=self.auth)
        first = next(call)
        self.assertIn("text", first)
        call.cancel()
        with self.assertRaises(grpc.RpcError) as caught:
            list(call)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.CANCELLED)
        # gRPC's own deadline, from the client's timer or the server's status alike.
        with self.assertRaises(grpc.RpcError) as caught:
            list(self.streaming("RAG/Ask")(ask, metadata=self.auth, timeout=0.05))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(self.unary("Health/Check")({})["status"], "SERVING")


class GRPCUnixTests(unittest.TestCase):
    """grpc = "unix:PATH": a socket only its owner may use, no token asked."""

    def test_unix_socket(self):
        daemon = Daemon("engram-grpc-unix-", dim=4, server='grpc = "unix:run/grpc.sock"\n')
        try:
            path = os.path.join(daemon.db, "run", "grpc.sock")
            with grpc.insecure_channel("unix:" + path) as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
                stats = channel.unary_unary("/engram.v1.Memory/Stats", request_serializer=encode, response_deserializer=decode)
                self.assertEqual(stats({})["memories"], 0)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        finally:
            daemon.stop()

if __name__ == "__main__":
    unittest.main()
