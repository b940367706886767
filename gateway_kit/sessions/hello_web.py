"""A tiny interactive web app (the second packaged example): a page and a WebSocket echo.

Run by the kit as ``python -m gateway_kit.sessions.hello_web --port P --base-url /sessions/N/``
with the token in ``HELLO_WEB_TOKEN``. It proves an interactive definition is not
Jupyter-specific: any server that listens on ``{port}``, serves under ``{base_url}`` and checks
``{token}`` works. Every request must carry ``Authorization: token T`` (the session proxy adds
it); others get 403.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import html
import os
import signal
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Hello session</title></head>
<body><h1 id="hello">Hello from session {path}</h1><p>Requests served: <span id="count">{count}</span></p>
<p>Cookies the server received: <span id="cookies">{cookies}</span></p></body></html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("HELLO_WEB_TOKEN", "")
    if not token:
        parser.error("HELLO_WEB_TOKEN is not set")
    asyncio.run(run(args.host, args.port, args.base_url, token))


async def run(host: str, port: int, base_url: str, token: str) -> None:
    served = 0
    expected = f"token {token}"

    def respond(status: HTTPStatus, body: str, ctype: str = "text/html; charset=utf-8") -> Response:
        data = body.encode()
        # One request per connection (the websockets server closes it after a plain HTTP answer):
        # say so, or a client reusing the connection finds it closed (a 502 through the proxy).
        headers = Headers(
            [("Content-Type", ctype), ("Content-Length", str(len(data))), ("Connection", "close")]
        )
        return Response(status.value, status.phrase, headers, data)

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        nonlocal served
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return respond(HTTPStatus.FORBIDDEN, "forbidden\n", "text/plain")
        path = request.path.split("?", 1)[0]
        if path == base_url + "echo":
            return None  # the WebSocket handshake goes on
        if path in (base_url, base_url + "index.html"):
            served += 1
            cookies = html.escape(request.headers.get("Cookie", "") or "none")
            return respond(
                HTTPStatus.OK, PAGE.format(path=html.escape(base_url), count=served, cookies=cookies)
            )
        if path == base_url + "api/status":
            return respond(HTTPStatus.OK, '{"ok": true}', "application/json")
        return respond(HTTPStatus.NOT_FOUND, "not found\n", "text/plain")

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            await conn.send(message)

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(echo, host, port, process_request=process_request, max_size=16 * 1024 * 1024):
        await stop


if __name__ == "__main__":
    main()
