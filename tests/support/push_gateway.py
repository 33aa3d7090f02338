#!/usr/bin/env python3
"""A push gateway for tests: answers the Matrix push gateway API and records
every push, instead of forwarding it to APNs or FCM.

    push_gateway.py [--host 127.0.0.1] [--port 0] [--log FILE]
                    [--reject PUSHKEY]... [--delay-ms N]

It serves:

  POST /_matrix/push/v1/notify
      A notification as the Matrix push gateway API has it
      (https://spec.matrix.org/v1.11/push-gateway-api/):
      {"notification": {"devices": [{"app_id", "pushkey", "data"?}...],
                        "type"?, "event_id"?, "content"?, ...}}.
      Each device is one push: it is recorded and written as one line
      PUSHKEY<TAB>TYPE<TAB>CONTENT_JSON (TYPE is the notification's `type`,
      `-` when absent; CONTENT_JSON is its `content`, `null` when absent)
      to the log (stdout unless --log). The answer is
      {"rejected": [the request's push keys that are to be rejected]};
      rejected keys are recorded too. A body that is not such a
      notification is 400 M_BAD_JSON; one over 1 MiB is 413 M_TOO_LARGE.
  GET /pushes[?pushkey=K][&type=T][&since=N]
      Every recorded push, oldest first, as a JSON list of
      {"seq", "pushkey", "app_id", "type", "content", "data", "rejected",
       "received_ms"}; `since` skips those with seq < N.
  POST /control
      Changes how it answers from now on; a JSON object with any of
      "reject": [keys] (answer them rejected), "accept": [keys] (stop
      rejecting them), "delay_ms": N (wait N ms before answering each
      notify), "fail_status": S (answer each notify with HTTP status S and
      no push recorded; 0 restores normal answers), "clear": true (forget
      every recorded push). Answers the resulting settings.
  GET /health
      {"ok": true}.

Anything else is 404 M_UNRECOGNIZED (405 for a known path with another
method), as the API says. Once bound, it prints one line to stdout,
`listening on http://HOST:PORT`, so a test can find the port. SIGTERM or
SIGINT stop it. Only the Python standard library is used.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

NOTIFY_PATH = "/_matrix/push/v1/notify"
MAX_BODY = 1 << 20
# Oldest records are dropped past this many, so a long benchmark run cannot
# grow the gateway without bound.
MAX_RECORDS = 200_000


class Gateway:
    """What the gateway records and how it is told to answer."""

    def __init__(self, log, rejected, delay_ms):
        self.lock = threading.Lock()
        self.log = log
        self.rejected = set(rejected)
        self.delay_ms = delay_ms
        self.fail_status = 0
        self.records = []
        self.next_seq = 0

    def settings(self):
        with self.lock:
            return {
                "reject": sorted(self.rejected),
                "delay_ms": self.delay_ms,
                "fail_status": self.fail_status,
                "recorded": self.next_seq,
            }

    def control(self, change):
        with self.lock:
            for key in change.get("reject", []):
                self.rejected.add(str(key))
            for key in change.get("accept", []):
                self.rejected.discard(str(key))
            if "delay_ms" in change:
                self.delay_ms = max(0, int(change["delay_ms"]))
            if "fail_status" in change:
                self.fail_status = int(change["fail_status"])
            if change.get("clear"):
                self.records.clear()

    def notify(self, notification):
        """Records one notification's pushes; returns the rejected keys."""
        kind = notification.get("type") or "-"
        content = notification.get("content")
        now_ms = int(time.time() * 1000)
        rejected = []
        lines = []
        with self.lock:
            for device in notification["devices"]:
                key = device["pushkey"]
                refused = key in self.rejected
                if refused:
                    rejected.append(key)
                self.records.append(
                    {
                        "seq": self.next_seq,
                        "pushkey": key,
                        "app_id": device["app_id"],
                        "type": kind,
                        "content": content,
                        "data": device.get("data"),
                        "rejected": refused,
                        "received_ms": now_ms,
                    }
                )
                self.next_seq += 1
                lines.append(
                    "%s\t%s\t%s\n"
                    % (key, kind, json.dumps(content, separators=(",", ":")))
                )
            if len(self.records) > MAX_RECORDS:
                del self.records[: len(self.records) - MAX_RECORDS]
            self.log.write("".join(lines))
            self.log.flush()
        return rejected

    def pushes(self, pushkey=None, kind=None, since=0):
        with self.lock:
            return [
                r
                for r in self.records
                if r["seq"] >= since
                and (pushkey is None or r["pushkey"] == pushkey)
                and (kind is None or r["type"] == kind)
            ]


def check_notification(body):
    """The notification in `body`, or a string saying what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("notification"), dict):
        return "the body must be an object with a `notification` object"
    notification = body["notification"]
    devices = notification.get("devices")
    if not isinstance(devices, list) or not devices:
        return "`notification.devices` must be a non-empty list"
    for device in devices:
        if not isinstance(device, dict):
            return "each device must be an object"
        for field in ("app_id", "pushkey"):
            if not isinstance(device.get(field), str) or not device[field]:
                return "each device needs a non-empty string `%s`" % field
        if "data" in device and not isinstance(device["data"], dict):
            return "a device's `data` must be an object"
    if "type" in notification and not isinstance(notification["type"], (str, type(None))):
        return "`notification.type` must be a string"
    return notification


def make_handler(gateway):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "wd-test-push-gateway"

        def log_message(self, format, *args):  # noqa: A002 - the base's name
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status, code, message):
            self.answer(status, {"errcode": code, "error": message})

        def read_json(self):
            """The request's JSON body, or None after answering an error."""
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                self.error(400, "M_BAD_JSON", "bad Content-Length")
                return None
            if length > MAX_BODY:
                # Read (a bounded amount of) what was sent first, so the
                # client reads this answer rather than a reset.
                left = min(length, 4 * MAX_BODY)
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
                self.close_connection = True
                self.error(413, "M_TOO_LARGE", "body over %d bytes" % MAX_BODY)
                return None
            raw = self.rfile.read(length)
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                self.error(400, "M_BAD_JSON", "not JSON: %s" % e)
                return None

        def do_POST(self):
            path = urlparse(self.path).path
            if path == NOTIFY_PATH:
                self.post_notify()
            elif path == "/control":
                change = self.read_json()
                if change is None:
                    return
                if not isinstance(change, dict):
                    self.error(400, "M_BAD_JSON", "a JSON object is expected")
                    return
                try:
                    gateway.control(change)
                except (TypeError, ValueError) as e:
                    self.error(400, "M_BAD_JSON", str(e))
                    return
                self.answer(200, gateway.settings())
            elif path in ("/pushes", "/health"):
                self.error(405, "M_UNRECOGNIZED", "use GET")
            else:
                self.error(404, "M_UNRECOGNIZED", "unknown endpoint")

        def post_notify(self):
            body = self.read_json()
            if body is None:
                return
            notification = check_notification(body)
            if isinstance(notification, str):
                self.error(400, "M_BAD_JSON", notification)
                return
            with gateway.lock:
                delay_ms, fail_status = gateway.delay_ms, gateway.fail_status
            if delay_ms:
                time.sleep(delay_ms / 1000)
            if fail_status:
                self.error(fail_status, "M_UNKNOWN", "told to fail")
                return
            self.answer(200, {"rejected": gateway.notify(notification)})

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/pushes":
                query = parse_qs(url.query)
                pick = lambda name: query[name][-1] if name in query else None  # noqa: E731
                try:
                    since = int(pick("since") or 0)
                except ValueError:
                    self.error(400, "M_INVALID_PARAM", "since must be a number")
                    return
                self.answer(200, gateway.pushes(pick("pushkey"), pick("type"), since))
            elif url.path == "/health":
                self.answer(200, {"ok": True})
            elif url.path in (NOTIFY_PATH, "/control"):
                self.error(405, "M_UNRECOGNIZED", "use POST")
            else:
                self.error(404, "M_UNRECOGNIZED", "unknown endpoint")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", help="file for the push lines (default: stdout)")
    parser.add_argument(
        "--reject", action="append", default=[], metavar="PUSHKEY",
        help="answer this push key rejected (repeatable)",
    )
    parser.add_argument("--delay-ms", type=int, default=0, help="wait before each answer")
    args = parser.parse_args()

    log = open(args.log, "a", encoding="utf-8") if args.log else sys.stdout
    gateway = Gateway(log, args.reject, max(0, args.delay_ms))
    server = ThreadingHTTPServer((args.host, args.port), make_handler(gateway))
    server.daemon_threads = True

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print("listening on http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if log is not sys.stdout:
            log.close()


if __name__ == "__main__":
    main()
