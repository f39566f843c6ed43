"""The `rbac` section: the groups bound to the model namespace's roles."""

from __future__ import annotations

from pydantic import Field

from components.settings.values import GroupName, SettingsModel


class Rbac(SettingsModel):
    """Groups (from the cluster's authenticator) bound to the namespace roles."""

    deployer_groups: list[GroupName] = Field(default_factory=list, alias="deployerGroups")
    auditor_groups: list[GroupName] = Field(default_factory=list, alias="auditorGroups")
    platform_groups: list[GroupName] = Field(default_factory=list, alias="platformGroups")
    """Who may change the model namespace's locked security labels through the API."""
