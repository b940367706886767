"""The identity service's seed (projects, users, roles) and registration with the local cloud."""

from __future__ import annotations

from typing import Any

from gateway_kit.localcloud.core import LocalCloud, new_id
from gateway_kit.localcloud.store import Doc

from .appcreds import make_appcred
from .common import APPCRED, ASSIGNMENT, PROJECT, ROLE, USER, bp, render_error
from .roles import assign
from .users import _new_user

# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    projects: dict[str, Doc] = {}
    for p in data.get("projects", []):
        doc = {
            "id": new_id().replace("-", ""),
            "name": p["name"],
            "description": p.get("description", ""),
            "domain_id": "default",
            "enabled": True,
            "tags": [],
        }
        cloud.put(PROJECT, doc)
        projects[p["name"]] = doc
    roles: dict[str, Doc] = {}
    for r in data.get("roles", []):
        doc = {"id": new_id().replace("-", ""), "name": r["name"]}
        cloud.put(ROLE, doc)
        roles[r["name"]] = doc
    users: dict[str, Doc] = {}
    for u in data.get("users", []):
        default = projects.get(u.get("default_project", ""))
        doc = _new_user(
            u["name"],
            u["password"],
            email=u.get("email"),
            default_project_id=default["id"] if default else None,
            enabled=True,
        )
        cloud.put(USER, doc)
        users[u["name"]] = doc
        for pname, rnames in (u.get("roles") or {}).items():
            for rname in rnames:
                assign(cloud, doc["id"], projects[pname]["id"], roles[rname]["id"])
    for c in data.get("application_credentials", []):
        user = users[c["user"]]
        project = projects[c["project"]]
        held = [
            roles[r] for r in roles if cloud.get(ASSIGNMENT, f"{user['id']}:{project['id']}:{roles[r]['id']}")
        ]
        cloud.put(
            APPCRED,
            make_appcred(
                c["id"], c["name"], c["secret"], user["id"], project["id"], held, unrestricted=False
            ),
        )


def register(cloud: LocalCloud) -> None:
    cloud.serve(bp, render_error, ("identity", "keystone"), seed=seed)
