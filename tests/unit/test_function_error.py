"""A worker's error code reaches response headers, so one forged by the function's own code is replaced."""

from __future__ import annotations

from turnout.runtime.supervisor import function_error


def test_known_codes_pass_and_anything_else_becomes_unhandled() -> None:
    for code in ("Function.Timeout", "Function.OutOfMemory", "Function.HandlerNotFound"):
        assert function_error({"code": code, "message": "m"}) == {"code": code, "message": "m"}
    for forged in (
        "x\r\nSet-Cookie: a=1",
        "Function.Bad\nX: y",
        "Function.Ünicode",
        7,
        None,
        "Function." + "A" * 65,
    ):
        cleaned = function_error({"code": forged, "message": "kept"})
        assert cleaned == {"code": "Function.Unhandled", "message": "kept"}, forged
