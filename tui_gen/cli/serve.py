"""`tui-gen serve`: the app in a browser, behind a token.

textual-serve runs one app process per browser tab (a websocket), each `tui-gen launch` with the flags
given to serve, and relays its screen. textual-serve has no authentication of its own: TokenServer is
its Server with the page, the websocket and the downloads refused (403) without the token that serve
prints in its URL. The page, once opened with the token, keeps it in an HttpOnly, SameSite=Strict cookie
for its websocket (whose URL textual-serve's page script builds without the query) and for reloads.

The apps share the machine: tui_gen.app.serve holds what each app does differently when served (one
training at a time among them, the file pickers inside the folder serve was started in), from the two
variables of its environment set here. Closing a tab ends its app (textual-serve asks it to quit; the app
stops its training, which saves); Ctrl+C (SIGINT or SIGTERM to the server) asks every app to quit and
waits for them all before the server exits. A server killed outright leaves its apps to notice that by
themselves (tui_gen.app.serve.Served.server_gone).

The training process each app starts never writes to the app's standard output, which is textual-serve's
packet stream: it points its file descriptors 1 and 2 at its log before anything else
(tui_gen.process.child), and it is a spawned process, not a fork, so it inherits none of the handlers the
web driver installs for SIGINT and SIGTERM (textual-serve #16).

Textual-free: textual-serve is an aiohttp server that runs Textual apps as processes.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import secrets
import shlex
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tui_gen.app.serve import ROOT_ENV, STATE_ENV
from tui_gen.core.errors import ConfigError
from tui_gen.core.flag_values import number
from tui_gen.core.textsafe import one_line

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TOKEN_QUERY = "token"
TOKEN_BYTES = 24  # secrets.token_urlsafe: 32 characters
SERVE_OPTIONS = ("--host", "--port")  # serve's own options: every other argument is the apps' launch flags
FORBIDDEN_TEXT = (
    "403: this tui-gen server needs the token. Open the URL that `tui-gen serve` printed (it ends in "
    f"?{TOKEN_QUERY}=...).\n"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """serve's own options (the launch flags are added beside them by cli.main)."""
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}: this machine only); another one lets anyone "
        "who can reach it and has the URL use the app",
    )
    p.add_argument("--port", type=number(int), default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT})")


def public_url(host: str, port: int) -> str:
    """The server's URL for `host` and `port`, as a browser elsewhere would type it: an IPv6 address in
    brackets, and this machine's name for an address that means every interface (0.0.0.0, ::)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def exposure_warning(host: str) -> str | None:
    """What serve says when it listens beyond this machine (None: on a loopback address, it does not)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        loopback = False
    if loopback:
        return None
    return (
        f"warning: listening on {one_line(host)}, not on this machine alone: anyone who can reach it and has "
        "this URL can use the app and train on this machine. Share the URL only with people you trust."
    )


def launch_argv(argv: Sequence[str]) -> list[str]:
    """`tui-gen serve ...`'s arguments as the `launch ...` each tab runs: the same, less --host and --port
    (serve's parser takes no abbreviations of them, so these are their only spellings)."""
    rest = list(argv[list(argv).index("serve") + 1 :])
    kept: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":  # what follows is positional, whatever it looks like
            kept.extend(rest[i:])
            break
        if arg in SERVE_OPTIONS:
            i += 2
            continue
        if not arg.startswith(tuple(f"{option}=" for option in SERVE_OPTIONS)):
            kept.append(arg)
        i += 1
    return ["launch", *kept]


def app_command(launch: Sequence[str], root: Path, state: Path) -> str:
    """The shell command textual-serve runs for each tab: this Python's `tui-gen`, with the served
    environment. `exec`, so that the app is the process textual-serve started, not a shell around it."""
    env = [f"{ROOT_ENV}={root}", f"{STATE_ENV}={state}"]
    return shlex.join(["exec", "env", *env, sys.executable, "-m", "tui_gen", *launch])


def cmd_serve(args: argparse.Namespace) -> int:
    from tui_gen.app.options import LaunchOptions

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be 1 to 65535, got {args.port}")
    LaunchOptions.from_args(args)  # the launch flags checked once, here: a bad one is one line, not a broken tab
    _check_can_listen(args.host, args.port)  # before the URL is printed: a taken port prints no URL
    root = Path.cwd().resolve()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with tempfile.TemporaryDirectory(prefix="tui-gen-serve-") as state:
        server = _token_server(app_command(launch_argv(args.argv), root, Path(state)), args.host, args.port, token)
        try:
            server.serve()
        except OSError as e:  # taken since it was checked
            raise _cannot_listen(args.host, args.port, e) from None
    print("tui-gen serve: stopped; every app has ended", file=sys.stderr)
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """Bind every address `host` names on `port` for a moment, as the server will (SO_REUSEADDR, as
    aiohttp sets it): ConfigError if one cannot be."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as e:  # socket.gaierror for a name that does not resolve
        raise _cannot_listen(host, port, e) from None


def _cannot_listen(host: str, port: int, e: OSError) -> ConfigError:
    return ConfigError(f"cannot listen on {one_line(host)}:{port}: {e.strerror or e}; pick another --port (or --host)")


def _token_server(command: str, host: str, port: int, token: str):
    """A TokenServer: its class is made here, so that `tui-gen --help` never imports aiohttp."""
    import aiohttp_jinja2
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    class TokenServer(Server):
        """textual-serve's Server, with every page, websocket and download refused without the token."""

        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="tui-gen", public_url=public_url(host, port))
            self.token = token
            self.cookie = f"tui-gen-token-{port}"  # a cookie is the host's, whatever the port: one per server
            self.apps: set[AppService] = set()  # each open tab's app

        def authorised(self, request: web.Request) -> bool:
            given = request.query.get(TOKEN_QUERY) or request.cookies.get(self.cookie) or ""
            return secrets.compare_digest(given.encode(), self.token.encode())

        def refuse_unless_authorised(self, request: web.Request) -> None:
            if not self.authorised(request):
                raise web.HTTPForbidden(text=FORBIDDEN_TEXT)

        async def handle_index(self, request: web.Request) -> web.Response:
            """textual-serve's page, with its websocket and static URLs made from the address the browser
            used (a tunnel's port, a name for 0.0.0.0), not the one the server listens on."""
            self.refuse_unless_authorised(request)
            here, router = request.host, request.app.router  # the Host the browser sent (autoescaped below)
            context = {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{'wss' if request.secure else 'ws'}://{here}{router['websocket'].url_for()}",
                "config": {"static": {"url": f"{request.scheme}://{here}{router['static'].url_for(filename='/')}"}},
                "application": {"name": self.title},
            }
            response = aiohttp_jinja2.render_template("app_index.html", request, context)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
            response.headers["Referrer-Policy"] = "no-referrer"  # the token never leaves in a Referer
            response.headers["Cache-Control"] = "no-store"
            return response

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            self.refuse_unless_authorised(request)
            return await super().handle_websocket(request)

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
            """textual-serve's loop over a tab's messages, while its app runs (a private method of the
            version pyproject pins): the app is known meanwhile, so that on_shutdown can end it."""
            self.apps.add(app_service)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.apps.discard(app_service)

        async def handle_download(self, request: web.Request) -> web.StreamResponse:
            self.refuse_unless_authorised(request)
            return await super().handle_download(request)

        async def on_startup(self, app: web.Application) -> None:
            url = f"{self.public_url}/?{TOKEN_QUERY}={self.token}"
            self.console.print("tui-gen serve: the app in a browser, at", highlight=False)
            self.console.print(f"\n    {url}\n", highlight=False, markup=False, soft_wrap=True)
            warning = exposure_warning(host)
            if warning:
                self.console.print(warning, style="bold yellow", highlight=False, markup=False)
            self.console.print(
                "Each browser tab is an app; one run trains at a time (another tab watches it). "
                "Ctrl+C stops every app: training saves first.",
                highlight=False,
            )

        async def on_shutdown(self, app: web.Application) -> None:
            """Ctrl+C: every tab's app is asked to quit, as closing its tab does, and waited for (it stops
            its training, which saves); each then closes its tab's websocket, and the server goes."""
            apps = list(self.apps)
            if apps:
                self.console.print(f"stopping {len(apps)} app(s); training saves first…", highlight=False)
            await asyncio.gather(*(served.stop() for served in apps), return_exceptions=True)

    return TokenServer()
