"""hello: a Turnout function. Deploy it with `turnout deploy .`"""

from __future__ import annotations

import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Called once per invocation, Lambda-style, with the JSON event and a context object."""
    greeting = os.environ.get("GREETING", "Hello")
    name = event.get("name", "world")
    return {"message": f"{greeting}, {name}!", "version": context.function_version}
