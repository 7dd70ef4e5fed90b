"""Placeholder replaced by the full CLI."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from turnout.server import serve
        from turnout.settings import Settings

        serve(Settings.from_environ(os.environ))
