"""The `rbac` section: the groups bound to the model namespace's roles."""

from __future__ import annotations

from pydantic import Field

from .values import GroupName, SettingsModel


class Rbac(SettingsModel):
    """Groups (from the cluster's authenticator) bound to the namespace roles."""

    deployer_groups: list[GroupName] = Field(
        default_factory=list, alias="deployerGroups", description="groups bound to the namespace's deployer Role"
    )
    auditor_groups: list[GroupName] = Field(
        default_factory=list,
        alias="auditorGroups",
        description="groups bound to the namespace's read-only auditor Role",
    )
    platform_groups: list[GroupName] = Field(
        default_factory=list,
        alias="platformGroups",
        description=(
            "groups that may change the model namespace's locked security labels (PSA, isolation, "
            "mesh and signature opt-ins); with none, nobody can through the API until the lock (a "
            "ValidatingAdmissionPolicy) itself is changed"
        ),
    )
