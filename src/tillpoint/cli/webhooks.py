"""tillpoint webhooks listen: a webhook receiver for development and demos.

It prints each event it receives and whether its ``Tillpoint-Signature`` verifies with
the endpoint's secret, and answers 200 (400 when the signature does not verify, so the
sender retries, as a real receiver should answer).
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated

import typer

from tillpoint.cli._common import err, handles_errors, out
from tillpoint.core.i18n import _
from tillpoint.core.ids import is_digits
from tillpoint.notify.webhooks import verify_signature

webhooks = typer.Typer(no_args_is_help=True)
MAX_BODY = 1 << 20


def receiver(secret: str | None) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            given = self.headers.get("Content-Length") or "0"
            length = int(given) if is_digits(given) else -1
            if not 0 <= length <= MAX_BODY:
                self.send_error(413 if length > MAX_BODY else 400)
                return
            body = self.rfile.read(length)
            header = self.headers.get("Tillpoint-Signature", "")
            verified = secret is not None and verify_signature(secret, header, body)
            try:
                event = json.loads(body)
                data = event.get("data", {})
                what = (
                    f"{event.get('id')} {event.get('type')} {data.get('object')} {data.get('id')} "
                    f"{data.get('amount_minor')} {data.get('currency')} {data.get('status')}"
                )
            except (ValueError, AttributeError):
                what = _("(not JSON)")
            mark = (
                _("signature verified")
                if verified
                else _("no secret given")
                if secret is None
                else _("SIGNATURE DOES NOT VERIFY")
            )
            out.print(f"{what}  [{mark}]", markup=False)
            self.send_response(200 if verified or secret is None else 400)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per event is printed above

    return Receiver


@webhooks.command("listen", help=_("Receive webhooks on a port and print each event."))
@handles_errors
def listen(
    port: Annotated[int, typer.Option(help=_("Port to listen on."), min=1, max=65535)] = 9000,
    bind: Annotated[str, typer.Option(help=_("Address to listen on."))] = "127.0.0.1",
    secret: Annotated[
        str | None,
        typer.Option(
            help=_("The endpoint's signing secret (whsec_...); default $TILLPOINT_WEBHOOK_SECRET."),
            show_default=False,
        ),
    ] = None,
) -> None:
    secret = secret or os.environ.get("TILLPOINT_WEBHOOK_SECRET") or None
    server = ThreadingHTTPServer((bind, port), receiver(secret))
    err.print(_("Listening for webhooks on http://{bind}:{port}/ (Ctrl-C stops).").format(
        bind=bind, port=server.server_address[1]
    ))  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
