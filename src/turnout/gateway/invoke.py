"""The invoke path: qualifier -> routing table -> pick -> pool -> worker -> outcome.

Every door reaches it through the one invocation entry (``gateway/entry.py``), which applies the
request limits; :meth:`Gateway.resolve` and :meth:`Gateway.run` are the two steps it takes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from turnout.domain.names import LATEST, check_function_name, parse_qualifier
from turnout.domain.pick import pick
from turnout.domain.version_number import parse_version_number
from turnout.errors import (
    AliasNotFound,
    FunctionNotFound,
    InvalidInput,
    TurnoutError,
    VersionNotFound,
)
from turnout.gateway.table import Entry, RoutingTable
from turnout.runtime.supervisor import Outcome, Supervisor, Target
from turnout.services.tokens import Principal


@dataclass(slots=True)
class Invocation:
    """One request to run a function, as the gateway received it."""

    function: str
    qualifier: str | None
    payload: bytes
    principal: Principal
    routing_key: str | None = None
    override: str | None = None


@dataclass(slots=True)
class Record:
    """What observers (metrics, logs) learn of each invocation."""

    request_id: str
    target: Target
    qualifier: str | None
    outcome: Outcome
    payload: bytes = b""  # the request (shadow traffic replays it)


class Gateway:
    def __init__(
        self,
        table: RoutingTable,
        supervisor: Supervisor,
        region: str,
        account_id: str,
        max_request_bytes: int,
        max_response_bytes: int = 6 * 1024 * 1024,
    ) -> None:
        self.table = table
        self.supervisor = supervisor
        self.region, self.account_id = region, account_id
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.observers: list[Callable[[Record], None]] = []
        # told of a platform error (Throttled, …) raised while running a resolved target, before it propagates
        self.failure_observers: list[Callable[[Target, TurnoutError], None]] = []
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"Gateway({self.table!r}, {self.supervisor!r})"

    def arn(self, function: str, qualifier: str | None = None) -> str:
        """The function ARN a handler sees as ``context.invoked_function_arn`` (keeps the qualifier)."""
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{function}"
        return f"{base}:{qualifier}" if qualifier else base

    async def run(self, target: Target, qualifier: str | None, payload: bytes, request_id: str) -> Outcome:
        """Run a resolved target and tell the observers (metrics, logs, windows, shadow) how it went."""
        arn = self.arn(target.function, qualifier)
        try:
            outcome = await self.supervisor.invoke(target, payload, request_id, arn)
        except TurnoutError as error:
            for failed in self.failure_observers:
                failed(target, error)
            raise
        if outcome.error is None and len(outcome.payload) > self.max_response_bytes:
            outcome.error = _response_too_large(len(outcome.payload), self.max_response_bytes)
            outcome.payload = b""
        record = Record(request_id, target, qualifier, outcome, payload)
        for observer in self.observers:
            observer(record)
        return outcome

    async def resolve(self, call: Invocation) -> Target:
        entry = self.table.get(call.function)
        if entry is None:
            check_function_name(call.function)
            entry = await run_in_threadpool(self.table.ensure, call.function)
            if entry is None:
                raise FunctionNotFound(f"function {call.function!r} does not exist", function=call.function)
        number, alias = self._choose(entry, call)
        if number is not None and number not in entry.versions:
            found = await run_in_threadpool(self.table.version, entry, number)
            if found is None:
                raise VersionNotFound(f"function {entry.function.name!r} has no version {number}")
        return entry.target(number, alias)

    def _choose(self, entry: Entry, call: Invocation) -> tuple[int | None, str | None]:
        """(version number or None for the draft, alias or None) for one call."""
        qualifier = call.qualifier
        if qualifier is None or qualifier == LATEST:
            if call.override is not None:
                raise InvalidInput("X-Turnout-Version-Override works only through an alias")
            return None, None
        alias = entry.aliases.get(qualifier)  # a known alias: no need to parse the qualifier
        if alias is None:
            parsed = parse_qualifier(qualifier)
            if parsed.alias is not None:
                raise AliasNotFound(f"function {call.function!r} has no alias {parsed.alias!r}")
            if call.override is not None:
                raise InvalidInput("X-Turnout-Version-Override works only through an alias")
            return parsed.version, None
        if call.override is not None:
            call.principal.require("deploy")
            return _override(call.override), alias.name
        return pick(alias.routing, call.routing_key, self._random.random()), alias.name

    def warm_routes(self, loop: asyncio.AbstractEventLoop, timeout: float) -> Callable[..., None]:
        """A table listener that warms the versions an alias change routes to, before it is acknowledged."""

        def listener(name: str, before: Entry | None, after: Entry | None) -> None:
            if after is None:
                return
            old = (
                set()
                if before is None
                else {(v, a.name) for a in before.aliases.values() for v in a.routing.versions}
            )
            new = {(v, a.name) for a in after.aliases.values() for v in a.routing.versions}
            for version, alias in new - old:
                target = after.target(version, alias)
                pool = self.supervisor.pools.get(target.key)
                if pool is not None and pool.size > 0:
                    continue  # already warm: no trip through the event loop
                future = asyncio.run_coroutine_threadsafe(self.supervisor.warm(target, 1), loop)
                try:
                    future.result(timeout)
                except Exception:  # noqa: BLE001 - a version that cannot warm fails at invoke, with its code
                    future.cancel()

        return listener


def _override(text: str) -> int:
    return parse_version_number(text, "X-Turnout-Version-Override")


def _response_too_large(size: int, limit: int) -> dict[str, Any]:
    code = "Function.ResponseSizeTooLarge"
    message = f"the function returned {size} bytes; the limit is {limit}"
    return {"kind": "error", "code": code, "type": "ResponseSizeTooLarge", "message": message, "trace": []}

