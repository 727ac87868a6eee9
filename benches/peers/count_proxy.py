#!/usr/bin/env python3
"""A counting TCP proxy for `benches/flower_round.sh`: each node connects to its own
listening port, everything is forwarded unchanged to the SuperLink, and every byte
is counted.

The Fleet API is protobuf over HTTP/1.1 (one POST per call, keep-alive), so the proxy
also follows the HTTP framing passively (Content-Length or chunked) and writes one
JSON line per call: which node, the path, when the request's first byte arrived and
when the response's last byte left, and the bytes of the request and response heads
and bodies. Head + body of all calls add up to every byte on the wire (checked by the
`conn` lines written when a connection closes or the proxy stops).

    count_proxy.py --upstream 127.0.0.1:9092 --listen node-0=40001 --listen node-1=40002 \
        --log calls.jsonl --ready-file ready

Standard library only. Stops on SIGTERM/SIGINT after writing each open connection's
totals.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

CHUNK = 65536


class HttpFramer:
    """Splits one direction of an HTTP/1.1 connection into messages, passively.

    `feed(data, now)` returns the messages completed by `data` as dicts with
    `start` (time of the first byte), `end`, `first_line`, `head` (bytes of the start
    line, headers and chunk framing) and `body` (payload bytes). Once the framing
    cannot be followed, `broken` is set and bytes are only counted.
    """

    def __init__(self):
        self.buf = bytearray()
        self.state = "head"
        self.msg = None
        self.remaining = 0
        self.broken = False

    def _new(self, now):
        self.msg = {"start": now, "first_line": "", "head": 0, "body": 0, "headers": {}}

    def feed(self, data, now):
        if self.broken:
            return []
        self.buf += data
        done = []
        while True:
            if self.state == "head":
                if not self.buf:
                    break
                if self.msg is None:
                    self._new(now)
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > 1 << 20:
                        self.broken = True
                    break
                head = bytes(self.buf[: end + 4])
                del self.buf[: end + 4]
                lines = head.decode("latin-1").split("\r\n")
                self.msg["first_line"] = lines[0]
                self.msg["head"] += len(head)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                self.msg["headers"] = headers
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self.state = "chunk-size"
                else:
                    self.remaining = int(headers.get("content-length", "0"))
                    self.state = "body"
            elif self.state == "body":
                take = min(self.remaining, len(self.buf))
                del self.buf[:take]
                self.remaining -= take
                self.msg["body"] += take
                if self.remaining:
                    break
                done.append(self._finish(now))
            elif self.state == "chunk-size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                line = bytes(self.buf[: end + 2])
                del self.buf[: end + 2]
                self.msg["head"] += len(line)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.broken = True
                    break
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk-data"
            elif self.state == "chunk-data":
                take = min(self.remaining, len(self.buf))
                del self.buf[:take]
                self.remaining -= take
                self.msg["body"] += take
                if self.remaining:
                    break
                self.state = "chunk-crlf"
            elif self.state == "chunk-crlf":
                if len(self.buf) < 2:
                    break
                del self.buf[:2]
                self.msg["head"] += 2
                self.state = "chunk-size"
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                del self.buf[: end + 2]
                self.msg["head"] += end + 2
                if end == 0:
                    done.append(self._finish(now))
        return done

    def _finish(self, now):
        msg = self.msg
        msg["end"] = now
        del msg["headers"]
        self.msg = None
        self.state = "head"
        return msg


class Proxy:
    def __init__(self, upstream, log):
        self.upstream = upstream
        self.log = log
        self.conns = {}
        self.next_conn = 0

    def write(self, record):
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()

    async def handle(self, node, reader, writer):
        conn = self.next_conn
        self.next_conn += 1
        host, port = self.upstream
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError as e:
            self.write({"node": node, "conn": conn, "error": f"upstream: {e}"})
            writer.close()
            return
        totals = {"node": node, "conn": conn, "opened": time.time(), "up": 0, "down": 0}
        self.conns[conn] = totals
        pending = []  # requests waiting for their responses, in order

        def on_request(msg):
            pending.append(msg)

        def on_response(msg):
            req = pending.pop(0) if pending else {"first_line": "?", "head": 0, "body": 0,
                                                   "start": msg["start"]}
            parts = req["first_line"].split(" ")
            self.write({
                "node": node,
                "conn": conn,
                "method": parts[0],
                "path": parts[1] if len(parts) > 1 else "?",
                "t0": req["start"],
                "t_req_end": req["end"] if "end" in req else None,
                "t_resp_start": msg["start"],
                "t1": msg["end"],
                "status": msg["first_line"].split(" ")[1] if " " in msg["first_line"] else "?",
                "req_head": req["head"],
                "req_body": req["body"],
                "resp_head": msg["head"],
                "resp_body": msg["body"],
            })

        async def pump(src, dst, key, framer, emit):
            try:
                while True:
                    data = await src.read(CHUNK)
                    if not data:
                        break
                    now = time.time()
                    totals[key] += len(data)
                    for msg in framer.feed(data, now):
                        emit(msg)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:  # noqa: BLE001 - closing a broken socket
                    pass

        up_framer, down_framer = HttpFramer(), HttpFramer()
        await asyncio.gather(
            pump(reader, up_writer, "up", up_framer, on_request),
            pump(up_reader, writer, "down", down_framer, on_response),
        )
        self.close_conn(conn, broken=up_framer.broken or down_framer.broken)

    def close_conn(self, conn, broken=False):
        totals = self.conns.pop(conn, None)
        if totals is not None:
            self.write(dict(totals, kind="conn", closed=time.time(), unframed=broken))


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the SuperLink")
    parser.add_argument("--listen", action="append", required=True,
                        help="NAME=PORT: a port on 127.0.0.1 for the node NAME")
    parser.add_argument("--log", required=True, help="JSON lines, one per call")
    parser.add_argument("--ready-file", help="written once every port listens")
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    with open(args.log, "w", encoding="utf-8") as log:
        proxy = Proxy((host, int(port)), log)
        servers = []
        for item in args.listen:
            name, listen_port = item.split("=", 1)
            server = await asyncio.start_server(
                lambda r, w, n=name: proxy.handle(n, r, w), "127.0.0.1", int(listen_port)
            )
            servers.append(server)
        if args.ready_file:
            with open(args.ready_file, "w", encoding="utf-8") as f:
                f.write("ready\n")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for server in servers:
            server.close()
        for conn in list(proxy.conns):
            proxy.close_conn(conn)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
