"""A minimal reader of workerd's perfetto traces (`workerd serve --perfetto-trace=PATH=CATS`):
just enough protobuf to list TrackEvent slices (name, start, duration). No dependency.

    python3 perfetto.py TRACE.pb          prints every slice: duration ms, name
"""
import sys


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


# TracePacket: 8 timestamp, 10 trusted_packet_sequence_id, 11 track_event, 12 interned_data,
# 13 sequence_flags. TrackEvent: 9 type (1 begin, 2 end, 3 instant), 10 name_iid, 11
# track_uuid, 23 name. InternedData: 2 event_names { 1 iid, 2 name }.
def slices(data):
    names = {}  # (sequence, iid) -> name
    open_ = {}  # (sequence, track) -> [(name, ts)]
    clock = {}  # sequence -> last absolute time (track events use incremental timestamps)
    out = []
    for num, _, packet in fields(data):
        if num != 1:
            continue
        ts = seq = flags = 0
        clock_id = None
        event = interned = None
        for n, _, v in fields(packet):
            if n == 8:
                ts = v
            elif n == 13:
                flags = v
            elif n == 58:
                clock_id = v
            elif n == 10:
                seq = v
            elif n == 11:
                event = v
            elif n == 12:
                interned = v
        if interned is not None:
            for n, _, v in fields(interned):
                if n == 2:
                    iid = name = None
                    for m, _, w in fields(v):
                        if m == 1:
                            iid = w
                        elif m == 2:
                            name = w.decode("utf-8", "replace")
                    names[(seq, iid)] = name
        if event is None:
            continue
        if flags & 1:  # incremental state cleared: the delta chain restarts
            clock[seq] = 0
        if clock_id is None or clock_id >= 64:  # an incremental clock: ts is a delta
            ts = clock[seq] = clock.get(seq, 0) + ts
        kind, name, track = 0, None, 0
        for n, _, v in fields(event):
            if n == 9:
                kind = v
            elif n == 10:
                name = names.get((seq, v), f"iid:{v}")
            elif n == 23:
                name = v.decode("utf-8", "replace")
            elif n == 11:
                track = v
        stack = open_.setdefault((seq, track), [])
        if kind == 1:
            stack.append((name, ts))
        elif kind == 2 and stack:
            name, start = stack.pop()
            out.append((name, start, ts - start))
        elif kind == 3:
            out.append((name, ts, 0))
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        for name, start, dur in slices(f.read()):
            print(f"{dur / 1e6:10.3f} ms  {start}  {name}")
