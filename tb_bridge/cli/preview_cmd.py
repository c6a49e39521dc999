"""``atilax preview``: the bundled dashboards drawn from ThingsBoard (or stand-in) data into one static
HTML page, optionally with a headless-Chromium screenshot."""
from __future__ import annotations

import os
import time
from pathlib import Path

from tb_bridge.cli.io import CliInputError


def register(subparsers) -> None:
    parser = subparsers.add_parser("preview", help="render the bundled dashboards to static HTML (plotly)")
    parser.add_argument("--url", required=True, help="ThingsBoard base URL")
    parser.add_argument("--username", required=True, help="tenant administrator e-mail")
    parser.add_argument("--password", help="password (default: $ATILAX_TB__PASSWORD)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--dashboard", action="append", help="file stem of a bundled dashboard (repeatable; default all)")
    parser.add_argument("--screenshot", help="also write a PNG screenshot (needs Debian chromium)")
    parser.add_argument("--now-ms", type=int, help="render time, epoch ms (default: now)")
    parser.set_defaults(func=_preview)


def _preview(args) -> int:
    from tb_bridge.preview.data import RestData
    from tb_bridge.preview.render import render_page
    from tb_bridge.tbsetup.bundle import bundled_dashboards
    from tb_bridge.tbsetup.client import TbApiError, TbClient

    dashboards = bundled_dashboards()
    if args.dashboard:
        unknown = sorted(set(args.dashboard) - set(dashboards))
        if unknown:
            raise CliInputError(f"unknown dashboard(s) {unknown}; bundled: {sorted(dashboards)}")
        dashboards = {k: dashboards[k] for k in args.dashboard}
    password = args.password or os.environ.get("ATILAX_TB__PASSWORD")
    if not password:
        raise CliInputError("no password: pass --password or set ATILAX_TB__PASSWORD")
    try:
        client = TbClient(args.url, args.username, password)
    except TbApiError as exc:
        raise CliInputError(f"login failed: {exc}") from None
    with client:
        page = render_page(dashboards, RestData(client), args.now_ms or int(time.time() * 1000))
    out = Path(args.out)
    out.write_text(page, encoding="utf-8")
    print(out)
    if args.screenshot:
        from tb_bridge.preview.browser import BrowserError, screenshot

        try:
            print(screenshot(out, Path(args.screenshot)))
        except BrowserError as exc:
            raise CliInputError(str(exc)) from None
    return 0
