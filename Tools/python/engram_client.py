"""A client of engramd's socket API (NDJSON on a Unix socket or TCP), standard library only.

    from engram_client import Client
    with Client(db="maint.db") as engram:              # or Client(socket_path=".../engramd.sock")
        engram.upsert([{"id": "n1", "text": "PUMP-7 was serviced"}])
        for hit in engram.query("what happened to the pump?", k=5)["results"]:
            print(hit["id"], hit["score"])
        answer = engram.ask("What happened to PUMP-7?")
        for piece in answer:                          # the answer as it is generated
            print(piece, end="", flush=True)
        print(answer.response["citations"])           # then the sources it cited

Every method of the API (Data/api/engram.v1.json) is reachable through `call` and
`stream`; errors raise the `EngramError` subclass of their status code (`NotFound`,
`InvalidArgument`, ...). One `Client` is one connection, used by one thread at a time.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
from typing import Any, Dict, Iterator, List, Optional, Tuple


class EngramError(Exception):
    """An error answered by engramd: its gRPC status `code`, `message` and `details`."""

    code = "UNKNOWN"

    def __init__(self, message: str, code: Optional[str] = None, details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Cancelled(EngramError): code = "CANCELLED"
class InvalidArgument(EngramError): code = "INVALID_ARGUMENT"
class DeadlineExceeded(EngramError): code = "DEADLINE_EXCEEDED"
class NotFound(EngramError): code = "NOT_FOUND"
class AlreadyExists(EngramError): code = "ALREADY_EXISTS"
class PermissionDenied(EngramError): code = "PERMISSION_DENIED"
class ResourceExhausted(EngramError): code = "RESOURCE_EXHAUSTED"
class FailedPrecondition(EngramError): code = "FAILED_PRECONDITION"
class Aborted(EngramError): code = "ABORTED"
class OutOfRange(EngramError): code = "OUT_OF_RANGE"
class Unimplemented(EngramError): code = "UNIMPLEMENTED"
class Internal(EngramError): code = "INTERNAL"
class Unavailable(EngramError): code = "UNAVAILABLE"
class DataLoss(EngramError): code = "DATA_LOSS"
class Unauthenticated(EngramError): code = "UNAUTHENTICATED"

_ERRORS = {cls.code: cls for cls in EngramError.__subclasses__()}


def _error(body: Dict[str, Any]) -> EngramError:
    code = body.get("code", "UNKNOWN")
    cls = _ERRORS.get(code, EngramError)
    return cls(body.get("message", ""), code=code, details=body.get("details"))


class AskStream:
    """The pieces of an answer as they are generated; afterwards `response` holds the whole
    answer with its sources (AskResponse in the schema)."""

    def __init__(self, messages: Iterator[Dict[str, Any]]):
        self._messages = messages
        self.response: Optional[Dict[str, Any]] = None

    def __iter__(self) -> Iterator[str]:
        for message in self._messages:
            if "text" in message:
                yield message["text"]
            elif "response" in message:
                self.response = message["response"]

    def text(self) -> str:
        """Reads the whole answer and returns it."""
        for _ in self:
            pass
        return self.response["answer"] if self.response else ""


class Client:
    """One connection to engramd."""

    def __init__(self, socket_path: Optional[str] = None, db: Optional[str] = None, timeout: Optional[float] = None,
                 address: Optional[Tuple[str, int]] = None, token: Optional[str] = None,
                 ssl_context: Optional[ssl.SSLContext] = None):
        """The Unix socket of the daemon serving `db` (or `socket_path`); or, with `address`,
        engramd's TCP listener ([server] tcp), where `token` (the database's engramd.token) is
        sent with every call and `ssl_context` wraps the connection in TLS."""
        if address is not None:
            raw = socket.create_connection(address, timeout=timeout)
            self._socket = ssl_context.wrap_socket(raw, server_hostname=address[0]) if ssl_context else raw
        else:
            if socket_path is None:
                db = db or os.environ.get("ENGRAM_DB") or "engram.db"
                socket_path = os.path.join(db, "run", "engramd.sock")
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._socket.settimeout(timeout)
            self._socket.connect(socket_path)
        self._metadata = {"authorization": "Bearer " + token} if token is not None else None
        self._reader = self._socket.makefile("rb")
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._reader.close()
        self._socket.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # The protocol.

    def _send(self, method: str, params: Optional[Dict[str, Any]], deadline_ms: Optional[float]) -> int:
        call_id = next(self._ids)
        request: Dict[str, Any] = {"id": call_id, "method": method}
        if params is not None:
            request["params"] = params
        if deadline_ms is not None:
            request["deadlineMs"] = deadline_ms
        if self._metadata is not None:
            request["metadata"] = self._metadata
        self._socket.sendall(json.dumps(request, allow_nan=False).encode() + b"\n")
        return call_id

    def _answers(self, call_id: int) -> Iterator[Dict[str, Any]]:
        while True:
            line = self._reader.readline()
            if not line:
                raise Unavailable("engramd closed the connection")
            answer = json.loads(line)
            if answer.get("id") == call_id:
                yield answer

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, deadline_ms: Optional[float] = None) -> Any:
        """A unary call: its result, or the `EngramError` it answered."""
        call_id = self._send(method, params, deadline_ms)
        for answer in self._answers(call_id):
            if "error" in answer:
                raise _error(answer["error"])
            if "result" in answer:
                return answer["result"]
        raise Internal("no answer")

    def stream(self, method: str, params: Optional[Dict[str, Any]] = None, deadline_ms: Optional[float] = None) -> Iterator[Any]:
        """A streaming call: its messages, until its status."""
        call_id = self._send(method, params, deadline_ms)
        for answer in self._answers(call_id):
            if "error" in answer:
                raise _error(answer["error"])
            if "message" in answer:
                yield answer["message"]
            elif "status" in answer:
                return

    # The methods.

    def health(self) -> str:
        return self.call("engram.v1.Health/Check")["status"]

    def upsert(self, memories: List[Dict[str, Any]], sync: Optional[bool] = None) -> List[str]:
        params: Dict[str, Any] = {"memories": memories}
        if sync is not None:
            params["sync"] = sync
        return self.call("engram.v1.Memory/Upsert", params)["ids"]

    def get(self, memory_id: str, include_vector: bool = False) -> Dict[str, Any]:
        return self.call("engram.v1.Memory/Get", {"id": memory_id, "includeVector": include_vector})

    def delete(self, ids: List[str], ignore_missing: bool = False) -> int:
        return self.call("engram.v1.Memory/Delete", {"ids": ids, "ignoreMissing": ignore_missing})["deleted"]

    def query(self, text: Optional[str] = None, vector: Optional[List[float]] = None, k: int = 10,
              deadline_ms: Optional[float] = None, **options: Any) -> Dict[str, Any]:
        """`options`: the other fields of QueryRequest (mode, filter, scoring, graphHops, ...)."""
        params: Dict[str, Any] = {"k": k, **options}
        if text is not None:
            params["text"] = text
        if vector is not None:
            params["vector"] = vector
        return self.call("engram.v1.Memory/Query", params, deadline_ms)

    def stats(self) -> Dict[str, Any]:
        return self.call("engram.v1.Memory/Stats")

    def export(self, include_vectors: bool = False) -> Iterator[Dict[str, Any]]:
        return self.stream("engram.v1.Memory/Export", {"includeVectors": include_vectors})

    def ask(self, question: str, deadline_ms: Optional[float] = None, **options: Any) -> AskStream:
        """`options`: the other fields of AskRequest (k, passages, maxTokens, graphHops, ...)."""
        return AskStream(self.stream("engram.v1.RAG/Ask", {"question": question, **options}, deadline_ms))

    def feedback(self, answer_id: str, good: bool, note: Optional[str] = None) -> Dict[str, Any]:
        params: Dict[str, Any] = {"answerId": answer_id, "verdict": "good" if good else "bad"}
        if note is not None:
            params["note"] = note
        return self.call("engram.v1.RAG/Feedback", params)

    def graph_entity(self, entity: str, depth: int = 1, as_of: Optional[str] = None) -> Dict[str, Any]:
        params: Dict[str, Any] = {"entity": entity, "depth": depth}
        if as_of is not None:
            params["asOf"] = as_of
        return self.call("engram.v1.Graph/Entity", params)

    def graph_path(self, start: str, goal: str, max_hops: int = 4) -> Optional[List[Dict[str, Any]]]:
        return self.call("engram.v1.Graph/Path", {"from": start, "to": goal, "maxHops": max_hops}).get("edges")

    def graph_stats(self) -> Dict[str, Any]:
        return self.call("engram.v1.Graph/Stats")

    def ingest_status(self) -> List[Dict[str, Any]]:
        return self.call("engram.v1.Ingest/Status")["sources"]

    def ingest_errors(self, limit: int = 1000) -> List[Dict[str, Any]]:
        return self.call("engram.v1.Ingest/Errors", {"limit": limit})["deadLetters"]

    def import_file(self, path: str, **options: Any) -> Iterator[Dict[str, Any]]:
        """Has engramd import the JSON Lines file at `path` (read by the daemon), as `engram
        import` does; `options`: batchSize, namespace, skipInvalid, maxLineBytes. Yields the
        stream's messages: {"progress"}, {"acknowledged"}, {"skipped"}, then {"summary"}."""
        return self.stream("engram.v1.Ingest/Import", {"path": os.path.abspath(path), **options})

    def reload_model(self, path: Optional[str] = None) -> Dict[str, Any]:
        """Loads the GGUF at `path` (default: the file serving, again) beside the model serving
        and swaps them once loaded: {"model", "previous", "loadMs"}. A file that fails to load
        raises (NotFound, DataLoss, ...) and leaves the old model serving."""
        return self.call("engram.v1.Admin/ReloadModel", {} if path is None else {"path": path})
