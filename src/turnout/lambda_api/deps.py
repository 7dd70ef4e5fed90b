"""What the Lambda API's operations take from the request: the caller by scope, the services, ARNs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from turnout.lambda_api import auth
from turnout.lambda_api.names import Arns
from turnout.services import Services
from turnout.services.tokens import Principal
from turnout.settings import Settings

Reader = Annotated[Principal, Depends(auth.requires("read"))]
Deployer = Annotated[Principal, Depends(auth.requires("deploy"))]
Invoker = Annotated[Principal, Depends(auth.requires("invoke"))]
QualifierQuery = Annotated[str | None, Query(alias="Qualifier")]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def arns(request: Request) -> Arns:
    settings: Settings = request.app.state.settings
    return Arns(settings.region, settings.account_id)
