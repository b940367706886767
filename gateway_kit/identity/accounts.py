"""Account policy: who may log in, which account a login maps to, and what it may do.

Accounts are found by the identity's ``(issuer, subject)`` only -- never by e-mail, which an
institution may reassign and a provider may not verify. A new identity either creates an account
(username derived by ``IDENTITY_USERNAME_CLAIMS``, collision-safe) or, from the profile page, is
linked to the signed-in account. Roles come from ``IDENTITY_ROLE_RULES`` and ``ADMIN_USERS`` and
are only ever raised at login, never lowered (an admin's manual change survives); projects from
``IDENTITY_PROJECT_MAP``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden
from .models import Identity, Project, ProjectMember, User, utcnow
from .providers import Profile

ROLE_RANK = {"user": 0, "operator": 1, "admin": 2}
_USERNAME_BAD = re.compile(r"[^a-z0-9._-]+")


def check_access(profile: Profile, rules: Mapping[str, Any]) -> None:
    """Raise Forbidden unless ``IDENTITY_ACCESS_RULES`` admit this login (deny wins)."""
    facts = {
        "providers": {profile.provider},
        "idps": {profile.idp} if profile.idp else set(),
        "email_domains": {profile.email.rsplit("@", 1)[-1].lower()} if "@" in profile.email else set(),
        "groups": set(profile.groups),
    }

    def matches(section: Mapping[str, Any]) -> bool:
        return any(
            facts[key] & {str(v).lower() if key == "email_domains" else str(v) for v in values}
            for key, values in section.items()
            if values
        )

    deny = rules.get("deny") or {}
    if deny and matches(deny):
        raise Forbidden(
            "Your account is not allowed to sign in to this gateway.",
            log_message=f"login denied by rule: {profile.provider} {profile.subject}",
        )
    allow = rules.get("allow") or {}
    if any(allow.values()) and not matches(allow):
        raise Forbidden(
            "Your account is not allowed to sign in to this gateway.",
            log_message=f"login not allowed by any rule: {profile.provider} {profile.subject}",
        )


def derive_username(sess: Session, profile: Profile, claims_order: list[str]) -> str:
    """A unique username from the first usable claim; ``name-2``, ``name-3``... on collision."""
    candidates = [
        *profile.username_hints,
        *(str(profile.claims[c]) for c in claims_order if profile.claims.get(c)),
    ]
    base = ""
    for raw in candidates:
        base = _USERNAME_BAD.sub("-", raw.split("@", 1)[0].strip().lower()).strip("-._")[:48]
        if base:
            break
    base = base or "user"
    name, n = base, 1
    while sess.scalars(select(User.id).where(User.username == name)).first() is not None:
        n += 1
        name = f"{base}-{n}"
    return name


def bootstrap_admin(profile: Profile, admins: list[str], providers: Mapping[str, Any]) -> bool:
    """Whether ``ADMIN_USERS`` names this login.

    Only identities nobody else can claim count: the exact ``issuer#subject`` pair, or an e-mail
    address that the provider verified (``email_verified``) and that lies in one of the
    provider's ``authoritative_email_domains`` (an organisation's own IdP for its own domain).
    Never a username (chosen at first login) and never an e-mail from any other provider.
    """
    bootstrap = {a.strip() for a in admins}
    if f"{profile.issuer}#{profile.subject}" in bootstrap:
        return True
    if not (profile.email and profile.email_verified and "@" in profile.email):
        return False
    entry = providers.get(profile.provider) or {}
    domains = {str(d).strip().lower() for d in entry.get("authoritative_email_domains") or []}
    email = profile.email.strip().lower()
    return email.rsplit("@", 1)[1] in domains and email in {a.lower() for a in bootstrap}


def _granted_role(profile: Profile, config: Mapping[str, Any]) -> str:
    role = "user"
    for candidate, groups in (config.get("IDENTITY_ROLE_RULES") or {}).items():
        if set(groups) & set(profile.groups) and ROLE_RANK[candidate] > ROLE_RANK[role]:
            role = candidate
    if bootstrap_admin(profile, config.get("ADMIN_USERS") or [], config.get("IDENTITY_PROVIDERS") or {}):
        role = "admin"
    return role


def resolve_login(
    sess: Session, profile: Profile, config: Mapping[str, Any], link_to: User | None = None
) -> User:
    """Find or create the account for this login (or link it to ``link_to``); apply roles/projects.

    :raises Forbidden: access rules refuse the login, or the account is disabled.
    :raises Conflict: linking an identity that already belongs to another account.
    """
    check_access(profile, config.get("IDENTITY_ACCESS_RULES") or {})
    ident = sess.scalars(
        select(Identity).where(Identity.issuer == profile.issuer, Identity.subject == profile.subject)
    ).first()
    if link_to is not None:
        if ident is not None and ident.user_id != link_to.id:
            raise Conflict("That identity is already linked to another account.")
        user = link_to
    elif ident is not None:
        user = ident.user
    else:
        user = User(
            username=derive_username(sess, profile, config["IDENTITY_USERNAME_CLAIMS"]),
            display_name=profile.display_name[:200],
            email=profile.email[:320],
            role="user",
        )
        sess.add(user)
        sess.flush()
    if user.disabled:
        raise Forbidden("This account is disabled. Contact the gateway's administrators.")
    if ident is None:
        ident = Identity(
            user_id=user.id, provider=profile.provider, issuer=profile.issuer, subject=profile.subject
        )
        sess.add(ident)
    ident.email = profile.email[:320]
    ident.idp = profile.idp[:512]
    ident.claims = _storable(profile.claims)
    ident.last_login_at = utcnow()
    if profile.display_name and not user.display_name:
        user.display_name = profile.display_name[:200]
    if profile.email and not user.email:
        user.email = profile.email[:320]
    role = _granted_role(profile, config)
    if ROLE_RANK[role] > ROLE_RANK.get(user.role, 0):
        user.role = role
    _join_projects(sess, user, profile.groups, config.get("IDENTITY_PROJECT_MAP") or {})
    sess.flush()
    return user


def _join_projects(sess: Session, user: User, groups: list[str], project_map: Mapping[str, str]) -> None:
    for group in groups:
        pname = project_map.get(group)
        if not pname:
            continue
        project = sess.scalars(select(Project).where(Project.name == pname)).first()
        if project is None:
            project = Project(name=pname, title=pname)
            sess.add(project)
            sess.flush()
        exists = sess.scalars(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id, ProjectMember.user_id == user.id
            )
        ).first()
        if exists is None:
            sess.add(ProjectMember(project_id=project.id, user_id=user.id, role="member"))


def _storable(claims: Mapping[str, Any]) -> dict[str, Any]:
    # Keep identity claims, not protocol noise (nonce, at_hash) that means nothing later.
    drop = {"nonce", "at_hash", "c_hash", "exp", "iat", "auth_time", "nbf", "jti"}
    return {k: v for k, v in claims.items() if k not in drop}
