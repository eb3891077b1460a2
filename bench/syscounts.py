#!/usr/bin/env python3
"""
syscounts.py
    What one run of a program does, counted with strace (untimed): the files
    it opens and reads, the connections it makes, and the protocol messages
    it sends to PostgreSQL and the socket writes and reads that carry them.
    Used by bench/run.sh for the no-op runs; prints one JSON object.

Usage: syscounts.py DIR -- COMMAND [ARG...]
    DIR: the migrations directory or definitions file of the run; opens of
    paths under it (or equal to it) are counted apart from the others
    (shared libraries, configuration files).

The messages are read from the bytes the client writes to its sockets:
the startup packet (and any SSL or GSSAPI request before it) has no type
byte, every later message starts with one ("Q" a simple query, "P" "B"
"D" "E" "S" the extended protocol, "X" terminate).

bench/syscounts.py
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

SYSCALLS = "openat,open,read,pread64,close,connect,sendto,recvfrom,write,sendmsg,recvmsg"
LINE = re.compile(r'^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)')
UNFINISHED = re.compile(r'^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>$')
RESUMED = re.compile(r'^(\d+)\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\d+)')
HEX = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def strace_lines(path):
    """Complete syscall lines, unfinished/resumed pairs joined."""
    pending = {}
    with open(path, errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            m = UNFINISHED.match(raw)
            if m:
                pending[m.group(1)] = (m.group(2), m.group(3))
                continue
            m = RESUMED.match(raw)
            if m and m.group(1) in pending:
                name, head = pending.pop(m.group(1))
                yield name, head + m.group(3), int(m.group(4))
                continue
            m = LINE.match(raw)
            if m:
                yield m.group(2), m.group(3), int(m.group(4))


def first_arg_fd(args):
    try:
        return int(args.split(",", 1)[0])
    except ValueError:
        return None


def buffer_bytes(args):
    m = HEX.search(args)
    if not m:
        return b""
    return bytes(int(h, 16) for h in m.group(1).split("\\x")[1:])


def count_messages(stream):
    """Protocol messages in the bytes a client wrote on one connection."""
    counts = collections.Counter()
    pos = 0
    # untyped first: SSLRequest / GSSENCRequest (8 bytes), then the startup packet
    while pos + 8 <= len(stream):
        length = int.from_bytes(stream[pos:pos + 4], "big")
        code = int.from_bytes(stream[pos + 4:pos + 8], "big")
        if length < 8 or pos + length > len(stream):
            break
        pos += length
        if code in (80877103, 80877104):
            counts["ssl/gss request"] += 1
            continue
        counts["startup"] += 1
        break
    while pos + 5 <= len(stream):
        kind = chr(stream[pos])
        length = int.from_bytes(stream[pos + 1:pos + 5], "big")
        if length < 4:
            break
        counts[kind if kind.isalnum() else repr(kind)] += 1
        pos += 1 + length
    return counts


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    target = os.path.realpath(sys.argv[1])
    argv = sys.argv[3:]
    with tempfile.NamedTemporaryFile(prefix="syscounts.", suffix=".txt", delete=False) as t:
        trace = t.name
    try:
        r = subprocess.run(["strace", "-f", "-qq", "-o", trace, "-s", "1048576", "-xx",
                            "-e", "trace=" + SYSCALLS] + argv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit("syscounts: %s failed (%d): %s" % (argv[0], r.returncode, r.stderr[-2000:]))
        fds = {}  # fd -> "file" (under target), "other", "socket"
        streams = collections.defaultdict(bytes)
        c = collections.Counter()
        for name, args, ret in strace_lines(trace):
            if name in ("open", "openat"):
                path = buffer_bytes(args).decode("utf-8", "replace")
                if ret < 0:
                    continue
                real = os.path.realpath(path) if path else ""
                mine = real == target or real.startswith(target + os.sep)
                c["opened, ours" if mine else ("opened, libraries" if ".so" in path else "opened, other")] += 1
                fds[ret] = "file" if mine else "other"
            elif name in ("read", "pread64"):
                kind = fds.get(first_arg_fd(args))
                if kind == "file":
                    c["reads, ours"] += 1
                elif kind == "socket":
                    c["socket reads"] += 1
            elif name == "close":
                fds.pop(first_arg_fd(args), None)
            elif name == "connect":
                fd = first_arg_fd(args)
                if fd is not None and ("sin_port" in args or "sin6_port" in args or "sun_path" in args):
                    fds[fd] = "socket"
            elif name in ("sendto", "write", "sendmsg"):
                fd = first_arg_fd(args)
                if fds.get(fd) == "socket" and ret > 0:
                    c["socket writes"] += 1
                    streams[fd] += buffer_bytes(args)[:ret]
            elif name in ("recvfrom", "recvmsg"):
                if fds.get(first_arg_fd(args)) == "socket":
                    c["socket reads"] += 1
        messages = collections.Counter()
        for stream in streams.values():
            messages.update(count_messages(stream))
        out = dict(c)
        out["connections"] = messages["startup"]
        out["messages"] = sum(messages.values())
        out["message kinds"] = " ".join("%s×%d" % (k, v) for k, v in sorted(messages.items()))
        print(json.dumps(out, sort_keys=True))
    finally:
        os.unlink(trace)


if __name__ == "__main__":
    main()
