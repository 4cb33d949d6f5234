"""Idempotency keys on every POST, Stripe's way.

A POST must carry ``Idempotency-Key`` (1-255 characters). The first request with a key
runs and its response is stored byte for byte (encrypted under the master key: it may
hold a secret shown once); the same key again with the same method,
path and body gets that stored response (``Idempotent-Replayed: true``); with anything
else it gets 422; while the first is still running, 409. Keys belong to the API key
that sent them and are forgotten after 24 hours. A 5xx answer is not stored, so the
client may retry it. Requests that fail authentication never reach this point.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tillpoint.access.models import IdempotencyRecord
from tillpoint.access.service import Principal
from tillpoint.api.deps import ApiRoute, Handler
from tillpoint.api.problems import as_problem, problem
from tillpoint.core.i18n import _
from tillpoint.http.text import Text, is_one_line

HEADER = "Idempotency-Key"


def require_key(
    idempotency_key: Annotated[
        Text,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=255,
            description="Any unique string (a UUID): the same key replays the first answer",
        ),
    ],
) -> str:
    """Declares the header on every POST (the route class below enforces it)."""
    return idempotency_key


# Every POST names one (the route class below replays the first answer).
Key = Annotated[str, Depends(require_key)]


class IdempotentRoute(ApiRoute):
    """A route whose POSTs are idempotent on the caller's key (the caller is known by
    then: ``ApiRoute`` authenticates before this runs)."""

    def wrap_handler(self, handler: Handler) -> Handler:
        if not self.methods or "POST" not in self.methods:
            return handler

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            svc = request.app.state.services
            caller: Principal | None = getattr(request.state, "principal", None)
            if key is None or caller is None or not 0 < len(key) <= 255 or not is_one_line(key):
                return await handler(request)  # the route answers 400/401/422 itself
            body = await request.body()
            db, keystore, now = svc.tp.ctx.db, svc.tp.ctx.keystore, svc.tp.ctx.now()
            # Keyed: a body may hold a person's mobile number, which a plain hash kept
            # in the database would let anyone test guesses against.
            digest = hashlib.sha256(body).hexdigest()
            fingerprint = keystore.token(
                f"{request.method} {request.url.path} {digest}", kind="idempotency"
            )
            # Answers are kept encrypted: some hold a secret shown once (a new API key,
            # a terminal's master key), which must not lie in the database in clear.
            sealed = f"idempotency:{caller.key_id}:{key}"
            try:
                with db.transaction(invalidate=False) as s:
                    s.add(
                        IdempotencyRecord(
                            api_key_id=caller.key_id, key=key, fingerprint=fingerprint,
                            created_at=now,
                        )
                    )  # fmt: skip
            except IntegrityError:
                with db.read() as s:
                    prior = s.execute(
                        select(IdempotencyRecord).where(
                            IdempotencyRecord.api_key_id == caller.key_id,
                            IdempotencyRecord.key == key,
                        )
                    ).scalar_one()
                if prior.status_code is None:
                    return problem(
                        409,
                        "idempotency.in_flight",
                        _("A request with this Idempotency-Key is still being processed"),
                        instance=request.url.path,
                    )
                if prior.fingerprint != fingerprint:
                    return problem(
                        422,
                        "idempotency.mismatch",
                        _("This Idempotency-Key was used with another request"),
                        instance=request.url.path,
                    )
                return Response(
                    keystore.open_bytes(prior.body, sealed) if prior.body else b"",
                    status_code=prior.status_code,
                    media_type=prior.content_type,
                    headers={"Idempotent-Replayed": "true", "Cache-Control": "no-store"},
                )
            where = (
                IdempotencyRecord.api_key_id == caller.key_id,
                IdempotencyRecord.key == key,
            )

            def forget() -> None:
                with db.transaction(invalidate=False) as s:
                    s.execute(delete(IdempotencyRecord).where(*where))

            try:
                response: Response = await handler(request)
            except Exception as exc:
                answer = as_problem(request, exc)  # a refusal is an answer, kept as one
                if answer is None:
                    forget()
                    raise
                response = answer
            except BaseException:  # cancelled: the client may try again
                forget()
                raise
            if response.status_code >= 500:
                forget()
                return response
            with db.transaction(invalidate=False) as s:
                s.execute(
                    update(IdempotencyRecord)
                    .where(*where)
                    .values(
                        status_code=response.status_code,
                        content_type=response.headers.get("content-type"),
                        body=keystore.seal_bytes(bytes(response.body), sealed),
                    )
                )
            return response

        return idempotent
