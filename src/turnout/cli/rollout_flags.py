"""The options `turnout rollout start` and `turnout release create` share: how traffic moves (strategy)
and how each step is judged (gates), declared once. Parsed by ``rollout_options.start_body``."""

from __future__ import annotations

from typing import Annotated

import typer

STRATEGY, GATES = "Strategy", "Gates"

StrategyOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="all-at-once, canary (the default), linear, steps, blue-green, or a CodeDeploy preset "
        "such as Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce.",
        rich_help_panel=STRATEGY,
        show_default=False,
    ),
]

WeightOption = Annotated[
    str | None,
    typer.Option(
        metavar="PERCENT",
        help="canary: the candidate's share first (default 10).",
        rich_help_panel=STRATEGY,
    ),
]

BakeOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="canary, blue-green: how long the step bakes (90, 90s, 5m, 1h, 1m30s; default 5m).",
        rich_help_panel=STRATEGY,
    ),
]

StepOption = Annotated[
    str | None,
    typer.Option(
        metavar="PERCENT",
        help="linear: the share added each step (default 10).",
        rich_help_panel=STRATEGY,
    ),
]

IntervalOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION", help="linear: the time between steps (default 1m).", rich_help_panel=STRATEGY
    ),
]

StepsOption = Annotated[
    str | None,
    typer.Option(
        metavar="PCT:BAKE,...",
        help="Explicit steps, e.g. 5:1m,25:5m,50:5m (100% is added last); implies --strategy steps.",
        rich_help_panel=STRATEGY,
    ),
]

MaxErrorRateOption = Annotated[
    str | None,
    typer.Option(
        metavar="RATE",
        help="Roll back above this candidate error rate (0.05 or 5%).",
        rich_help_panel=GATES,
    ),
]

MaxP99Option = Annotated[
    str | None,
    typer.Option(
        "--max-p99",
        metavar="TIME",
        help="Roll back above this candidate p99 (250ms, 1.5s; a number is ms).",
        rich_help_panel=GATES,
    ),
]

MaxErrorIncreaseOption = Annotated[
    str | None,
    typer.Option(
        metavar="RATE",
        help="Roll back when the candidate's error rate is this much above the baseline's (0.01 or 1%).",
        rich_help_panel=GATES,
    ),
]

MaxP99RatioOption = Annotated[
    str | None,
    typer.Option(
        "--max-p99-ratio",
        metavar="X",
        help="Roll back when the candidate's p99 is above X times the baseline's.",
        rich_help_panel=GATES,
    ),
]

MinInvocationsOption = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help="Invocations a gate needs before it judges (default 100).",
        rich_help_panel=GATES,
    ),
]

AlphaOption = Annotated[
    str | None,
    typer.Option(
        metavar="A",
        help="Significance level of the statistical gates (default 0.01).",
        rich_help_panel=GATES,
    ),
]

NoGatesOption = Annotated[
    bool,
    typer.Option(
        "--no-gates", help="Turn every gate off: only the clock moves the rollout.", rich_help_panel=GATES
    ),
]

WindowOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="The metrics window the gates judge (default 1m).",
        rich_help_panel=GATES,
    ),
]

MaxHoldOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="How long a baked step waits for gates that cannot judge yet before it rolls back "
        "(default 10m).",
        rich_help_panel=GATES,
    ),
]
