"""Use cases combining the domain, the store and the blob store."""

from __future__ import annotations

from dataclasses import dataclass

from turnout.services.aliases import AliasService
from turnout.services.bundles import BundleService
from turnout.services.changes import ChangeFeed
from turnout.services.diff import DiffService
from turnout.services.event_configs import EventConfigService
from turnout.services.function_urls import FunctionUrlService
from turnout.services.functions import FunctionService
from turnout.services.policies import PolicyService
from turnout.services.provisioning import ProvisioningService
from turnout.services.queue import EventQueue
from turnout.services.releases import ReleaseService
from turnout.services.resources import ResourceService
from turnout.services.rollouts import RolloutService
from turnout.services.routes import RouteService
from turnout.services.schedules import ScheduleService
from turnout.services.secrets import SecretService
from turnout.services.tags import TagService
from turnout.services.tokens import TokenService
from turnout.services.versions import VersionService


@dataclass(frozen=True)
class Services:
    bundles: BundleService
    functions: FunctionService
    versions: VersionService
    aliases: AliasService
    diff: DiffService
    tokens: TokenService
    changes: ChangeFeed
    provisioning: ProvisioningService
    rollouts: RolloutService
    function_urls: FunctionUrlService
    routes: RouteService
    schedules: ScheduleService
    queue: EventQueue
    event_configs: EventConfigService
    secrets: SecretService
    tags: TagService
    policies: PolicyService
    resources: ResourceService
    releases: ReleaseService
