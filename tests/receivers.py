"""Real receivers on loopback for delivery tests: an HTTP webhook server and an SMTP server.

`HttpReceiver` records every request and answers from a script: by default 200 with
body `ok` (what Slack's webhook answers); `fail_next(n, status, retry_after=...)` answers
the next n requests with an error, `answer_always(status)` every request; `refuse()`
closes the listening socket so connections are refused, `recover()` listens again on the
same port. `SmtpReceiver` is aiosmtpd with LOGIN/PLAIN auth on a plain (non-TLS)
connection, recording each message; `refuse(reply)` answers every message's DATA with
`reply` (e.g. a 451) until `accept()`, `down()` stops listening until `up()`.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.simulator.server import QuietServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class _Script:
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class HttpReceiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answered: list[int] = []
        self._script = _Script()
        self._lock = threading.Lock()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, n: int, status: int, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._script.failures.extend([(status, headers)] * n)

    def answer_always(self, status: int, retry_after: int | None = None) -> None:
        """Answer every request `status` from now on (with a Retry-After header if given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._script.status = status
            self._script.headers = headers

    def refuse(self) -> None:
        self._stop()

    def recover(self) -> None:
        if self._server is None:
            self._listen()

    def close(self) -> None:
        self._stop()

    def clear(self) -> None:
        """Forget every request received so far (the script stays)."""
        with self._lock:
            self.requests.clear()
            self.answered.clear()

    def bodies(self, path_prefix: str = "/") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def _next_answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            if self._script.failures:
                status, headers = self._script.failures.pop(0)
            else:
                status, headers = self._script.status, self._script.headers
            self.answered.append(status)
            body = self._script.body if status == 200 else b'{"error": "scripted"}'
            return status, headers, body

    def _listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request("POST", self.path, dict(self.headers), self.rfile.read(length))
                status, headers, body = receiver._next_answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = QuietServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = False
        server.block_on_close = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return "" if part is None else str(part.get_content())


class SmtpReceiver:
    """aiosmtpd on loopback, plain SMTP with AUTH; `password` is the one it accepts."""

    def __init__(self, user: str = "ftmon", password: str = "s3cret-pass") -> None:
        self.user, self.password = user, password
        self.mails: list[Mail] = []
        self.refused = 0
        self._refusal: str | None = None
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller: Controller | None = None
        self.up()

    def up(self) -> None:
        """Listen (again, on the same port)."""
        if self._controller is None:
            self._controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                authenticator=self._authenticate,
                auth_require_tls=False,
            )
            self._controller.start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, reply: str = "451 4.3.0 Temporary local problem, try again later") -> None:
        with self._lock:
            self._refusal = reply

    def accept(self) -> None:
        with self._lock:
            self._refusal = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            if self._refusal is not None:
                self.refused += 1
                return self._refusal
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def url(self, password: str | None = None, to: str = "ml-team@example.com") -> str:
        pw = self.password if password is None else password
        return (
            f"mailto://{self.user}:{pw}@127.0.0.1:{self.port}"
            f"/?to={to}&from=ftmon@example.com&smtp=127.0.0.1"
        )

    def close(self) -> None:
        self.down()

    def __iter__(self) -> Iterator[Mail]:
        with self._lock:
            return iter(list(self.mails))
