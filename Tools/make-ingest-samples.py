#!/usr/bin/env python3
"""Writes the sample change logs in Data/ingest/: one maintenance history (devices, faults,
repairs) in every format Engram reads, the rows it leaves (final-rows.json) and the graph
edges its foreign keys imply over time (edges.json, for the links in tables.toml).

    python3 Tools/make-ingest-samples.py
"""
import json, os

OUT = os.path.join(os.path.dirname(__file__), "..", "Data", "ingest")
T0 = 1_780_000_000  # 2026-05-28T20:26:40Z

# (transaction, [(op, table, row before, row after)]), in commit order.
history = [
    (501, [("I", "devices", None, {"id": 1, "name": "PUMP-7", "site": "Hall A"}),
           ("I", "devices", None, {"id": 2, "name": "VALVE-3", "site": "Hall B"})]),
    (502, [("I", "faults", None, {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": None, "status": "open"})]),
    (503, [("I", "faults", None, {"id": 2, "device_id": 2, "component": "seal", "symptom": "leak", "cause": None, "status": "open"})]),
    (504, [("U", "faults", {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": None, "status": "open"},
            {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": "dry lubricant", "status": "open"})]),
    (505, [("I", "repairs", None, {"id": 1, "fault_id": 1, "device_id": 1, "action": "regreased the bearing", "minutes": 45}),
           ("U", "faults", {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": "dry lubricant", "status": "open"},
            {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": "dry lubricant", "status": "closed"})]),
    (506, [("D", "faults", {"id": 2, "device_id": 2, "component": "seal", "symptom": "leak", "cause": None, "status": "open"}, None)]),
    (507, [("U", "devices", {"id": 2, "name": "VALVE-3", "site": "Hall B"}, {"id": 2, "name": "VALVE-3", "site": "Hall C"})]),
    # The fault was logged against the wrong device: its AFFECTS edge moves.
    (508, [("U", "faults", {"id": 1, "device_id": 1, "component": "bearing", "symptom": "overheating", "cause": "dry lubricant", "status": "closed"},
            {"id": 1, "device_id": 2, "component": "bearing", "symptom": "overheating", "cause": "dry lubricant", "status": "closed"})]),
]

def commit_time(i): return T0 + 3600 * i
def lsn(i, j): return 0x16B00000 + 0x100 * i + j

def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")

def wal_columns(row):
    types = {int: "integer", str: "text", type(None): "text"}
    return [{"name": k, "type": types[type(v)], "value": v} for k, v in row.items()]

def write(name, lines):
    with open(os.path.join(OUT, name), "w") as f:
        for line in lines: f.write(json.dumps(line, separators=(",", ":")) + "\n")

deb, w2, w1, mx, en = [], [], [], [], []
for i, (xid, changes) in enumerate(history):
    t = commit_time(i)
    v1 = {"xid": xid, "nextlsn": "0/%X" % lsn(i, 99), "timestamp": iso(t), "change": []}
    w2.append({"action": "B", "xid": xid, "lsn": "0/%X" % lsn(i, 0), "timestamp": iso(t)})
    for j, (op, table, before, after) in enumerate(changes):
        deb.append({"before": before, "after": after,
                    "source": {"connector": "postgresql", "db": "maint", "schema": "public", "table": table,
                               "txId": xid, "lsn": lsn(i, j + 1), "ts_ms": t * 1000},
                    "op": {"I": "c", "U": "u", "D": "d"}[op], "ts_ms": t * 1000 + 5, "transaction": None})
        if op == "D": deb.append(None)  # Kafka's tombstone after a delete
        c2 = {"action": op, "xid": xid, "lsn": "0/%X" % lsn(i, j + 1), "timestamp": iso(t), "schema": "public", "table": table,
              "pk": [{"name": "id", "type": "integer"}]}
        if after is not None: c2["columns"] = wal_columns(after)
        if before is not None: c2["identity"] = [{"name": "id", "type": "integer", "value": before["id"]}]
        w2.append(c2)
        c1 = {"kind": {"I": "insert", "U": "update", "D": "delete"}[op], "schema": "public", "table": table}
        if after is not None:
            c1.update(columnnames=list(after), columntypes=[c["type"] for c in wal_columns(after)], columnvalues=list(after.values()))
        if before is not None: c1["oldkeys"] = {"keynames": ["id"], "keytypes": ["integer"], "keyvalues": [before["id"]]}
        v1["change"].append(c1)
        m = {"database": "maint", "table": table, "type": {"I": "insert", "U": "update", "D": "delete"}[op], "ts": t, "xid": xid,
             "xoffset": j, "position": "master.000001:%d" % (1000 * i + 10 * j + 4), "data": after if after is not None else before,
             "primary_key_columns": ["id"]}
        if j == len(changes) - 1: m["commit"] = True
        if op == "U": m["old"] = {k: before[k] for k in before if before[k] != after[k]}
        mx.append(m)
        row = after if after is not None else before
        # Engram's own lines are memories: the same ids, text and meta the table mapping makes.
        e = {"seq": len(en) + 1, "id": "%s:%d" % (table, row["id"])}
        if op == "D": e["op"] = "delete"
        else: e.update(namespace=table, time=t, meta={k: v for k, v in row.items()},
                       text="; ".join("%s: %s" % (k, row[k]) for k in sorted(row) if row[k] is not None))
        en.append(e)
    w2.append({"action": "C", "xid": xid, "lsn": "0/%X" % lsn(i, 99), "timestamp": iso(t)})
    w1.append(v1)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "debezium.jsonl"), "w") as f:
    for line in deb: f.write(json.dumps(line, separators=(",", ":")) + "\n")
write("wal2json-v2.jsonl", w2)
write("wal2json-v1.jsonl", w1)
write("maxwell.jsonl", mx)
write("engram.jsonl", en)

final = {}
for xid, changes in history:
    for op, table, before, after in changes:
        key = "%s:%d" % (table, (after or before)["id"])
        if op == "D": final.pop(key, None)
        else: final[key] = after
# The edges the tables imply at each commit time: (from, relation, to) valid from → to.
links = {"faults": [("device_id", "devices", "AFFECTS")], "repairs": [("fault_id", "faults", "REPAIRS"), ("device_id", "devices", "ON")]}
edges, open_edges = [], {}
for i, (xid, changes) in enumerate(history):
    t = commit_time(i)
    for op, table, before, after in changes:
        entity = "%s:%d" % (table, (after or before)["id"])
        want = set()
        if op != "D":
            for column, target, relation in links.get(table, []):
                if after.get(column) is not None: want.add((relation, "%s:%s" % (target, after[column])))
        for key in list(open_edges.get(entity, {})):
            if key not in want:
                e = open_edges[entity].pop(key); e["validTo"] = t
        for key in sorted(want):
            if key not in open_edges.setdefault(entity, {}):
                e = {"from": entity, "relation": key[0], "to": key[1], "validFrom": t, "validTo": None}
                open_edges[entity][key] = e; edges.append(e)
with open(os.path.join(OUT, "edges.json"), "w") as f:
    json.dump(sorted(edges, key=lambda e: (e["from"], e["relation"], e["to"], e["validFrom"])), f, indent=1)
    f.write("\n")

with open(os.path.join(OUT, "final-rows.json"), "w") as f:
    json.dump(final, f, indent=1, sort_keys=True)
    f.write("\n")
