#!/usr/bin/env python3
"""bench/copyrows.py: the rows of raise batches as binary COPY files.

For bench/run's bounds part: the same rows as its INSERT floor (a case, its
event, its audit entry and its idempotency key with the case kept as a
case_raised row), written to OUT/{case,event,key,audit}_K.bin for batches
K = 0 .. N-1, each of B raises, in PostgreSQL's binary COPY format. Loaded
with COPY ... FROM STDIN (FORMAT binary), they measure what PostgreSQL
spends on the rows when nothing computes them and no executor plans them:
a floor under any design that writes these rows.

Usage: bench/copyrows.py N B OUT [FIRST_ID]
"""
import datetime
import hashlib
import os
import struct
import sys

# Type OIDs of the fields of a case_raised row (record_recv checks them).
INT8, INT2, INT4, TEXT, TIMESTAMPTZ, BOOL = 20, 21, 23, 25, 1184, 16
HOUR_US = 3600 * 10**6
HEADER = b"PGCOPY\n\xff\r\n\0" + struct.pack("!ii", 0, 0)
NULL = struct.pack("!i", -1)


def field(data):
    return struct.pack("!i", len(data)) + data


def i8(v):
    return field(struct.pack("!q", v))


def i4(v):
    return field(struct.pack("!i", v))


def i2(v):
    return field(struct.pack("!h", v))


def boolean(v):
    return field(b"\1" if v else b"\0")


def text(s):
    return field(s.encode())


def record(fields):
    """A composite value: its field count, then (type oid, field) each."""
    body = struct.pack("!i", len(fields))
    for oid, value in fields:
        body += struct.pack("!I", oid) + value
    return field(body)


def now_us():
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    return int((datetime.datetime.now(datetime.timezone.utc) - epoch).total_seconds() * 1e6)


def raise_rows(case_id, now):
    """The four rows of one raise, shaped like bench/run's FLOOR_SCRIPT."""
    node = case_id % 26 + 1
    title, desc = "gridbench case", "raised by gridbench, a load test"
    # accept_due, its 50% and 80% warnings, resolve_due and its warnings.
    due = [now + round(h * HOUR_US) for h in (4, 2, 3.2, 72, 36, 48)]
    case = [i8(case_id), i8(node), i8(node), i2(1), text(title), text(desc), text("other"),
            text("app"), text("admin"), i8(now), i8(now)] + [i8(d) for d in due] + [
            i2(0), i8(due[1])]
    event = [i8(case_id), i8(now), text("case.raised"), i8(node), i8(case_id), text("admin"),
             text(title)]
    audit = [i8(case_id), i8(now), text("admin"), text("RaiseCase"), i8(node), text("NODE"),
             text("raised: " + title), field(hashlib.sha256(b"").digest()),
             field(hashlib.sha256(title.encode()).digest())]
    kept = [(INT8, i8(case_id)), (INT8, i8(node)), (INT8, i8(node)), (INT2, i2(1)),
            (TEXT, text(title)), (TEXT, text(desc)), (TEXT, text("other")), (TEXT, text("")),
            (TEXT, text("")), (TEXT, text("")), (INT2, i2(0)), (TEXT, text("app")),
            (TEXT, text("admin")), (TEXT, NULL), (TIMESTAMPTZ, i8(now)), (TIMESTAMPTZ, i8(now))]
    kept += [(TIMESTAMPTZ, i8(d)) for d in due]
    kept += [(INT2, i2(0)), (TIMESTAMPTZ, i8(due[1])), (BOOL, boolean(False))]
    kept += [(TIMESTAMPTZ, NULL)] * 4
    kept += [(TEXT, text("")), (INT2, i2(0)), (INT2, i2(0)), (INT8, NULL), (INT4, i4(0)),
             (INT4, i4(0)), (INT4, i4(0)), (BOOL, boolean(False)), (TEXT, text("")),
             (INT2, NULL), (INT8, NULL), (INT8, NULL), (TIMESTAMPTZ, NULL), (BOOL, NULL),
             (INT2, NULL)]
    assert len(kept) == 44, "case_raised has 44 fields (migration 0010)"
    key = [text("admin"), text(f"copy-{case_id}"), text("RaiseCase"),
           field(hashlib.sha256(title.encode()).digest()), record(kept)]
    return {"case": case, "event": event, "audit": audit, "key": key}


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[-1].strip())
    try:
        batches, size = int(sys.argv[1]), int(sys.argv[2])
        first = int(sys.argv[4]) if len(sys.argv) == 5 else 1
    except ValueError:
        sys.exit("copyrows.py: N, B and FIRST_ID are whole numbers")
    if batches < 1 or size < 1:
        sys.exit("copyrows.py: N and B must be at least 1")
    out = sys.argv[3]
    os.makedirs(out, exist_ok=True)
    now = now_us()
    for k in range(batches):
        tables = {"case": [], "event": [], "audit": [], "key": []}
        for i in range(size):
            for name, row in raise_rows(first + k * size + i, now).items():
                tables[name].append(struct.pack("!h", len(row)) + b"".join(row))
        for name, rows in tables.items():
            with open(os.path.join(out, f"{name}_{k}.bin"), "wb") as f:
                f.write(HEADER + b"".join(rows) + struct.pack("!h", -1))


if __name__ == "__main__":
    main()
