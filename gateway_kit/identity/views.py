"""Identity pages: login and logout, the profile (identities, tokens) and the admin pages."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError
from sqlalchemy import func, select

from ..db import db
from ..errors import BadRequest, Forbidden, GatewayError, NotFound, ValidationError
from ..web.request import digits
from .access import current_user, login_required, login_user, logout_user, revoke_sessions, role_required
from .accounts import ROLE_RANK, resolve_login
from .models import ROLES, Identity, User, UserSession
from .providers import IdentityProvider, LoginFailed
from .scopes import ROLE_SCOPES
from .tokens import SCOPES, create_token, revoke_all_tokens, revoke_token, tokens_of

log = logging.getLogger("gateway_kit.identity")

bp = Blueprint("identity", __name__, template_folder="templates")
PENDING_KEY = "gk_login"
#: ID-token claims that userinfo must not override (OpenID Connect Core 5.3.2).
PROTECTED_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "azp", "auth_time", "at_hash"}


def providers() -> dict[str, IdentityProvider]:
    found: dict[str, IdentityProvider] = current_app.extensions["gateway_kit.identity_providers"]
    return found


def _provider(name: str) -> IdentityProvider:
    prov = providers().get(name)
    if prov is None or prov.client is None:
        raise NotFound("No such identity provider.")
    return prov


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL of ours, from PUBLIC_URL when set (behind a proxy), else the request."""
    public: str = current_app.config.get("PUBLIC_URL", "")
    if public:
        return public.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def safe_next(target: str | None) -> str:
    """``target`` if it stays on our own origin, as a path; else ``/`` (no open redirect)."""
    if not target or any(c in target for c in "\\\r\n\t") or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        own = urlsplit(request.host_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            return "/"
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        return "/"
    return str(urlunsplit(("", "", path, parts.query, "")))


@bp.get("/login")
def login() -> ResponseReturnValue:
    nxt = safe_next(request.args.get("next"))
    return render_template("identity/login.html", providers=providers(), next=nxt)


def _begin(prov: IdentityProvider, nxt: str, link_uid: int | None) -> ResponseReturnValue:
    assert prov.client is not None
    session[PENDING_KEY] = {"provider": prov.name, "next": nxt, "link_uid": link_uid}
    try:
        resp: Response = prov.client.authorize_redirect(
            external_url("identity.callback", name=prov.name), **prov.authorize_params()
        )
        return resp
    except (requests.RequestException, ValueError) as exc:
        raise LoginFailed(
            "The identity provider cannot be reached right now. Try again later.",
            log_message=f"{prov.name}: discovery failed: {exc}",
            status=502,
        ) from exc


@bp.get("/login/<name>")
def start(name: str) -> ResponseReturnValue:
    return _begin(_provider(name), safe_next(request.args.get("next")), None)


@bp.post("/profile/link/<name>")
@login_required
def link(name: str) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return _begin(_provider(name), url_for("identity.profile"), user.id)


def _validated_claims(prov: IdentityProvider) -> tuple[dict[str, Any], str]:
    """Run Authlib's code exchange and ID-token validation; translate every failure."""
    client = prov.client
    assert client is not None
    if request.args.get("error"):
        raise LoginFailed(
            f"The identity provider did not sign you in ({request.args.get('error', '')[:64]})."
        )
    try:
        metadata = client.load_server_metadata()
        options = {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client.client_id},
            "sub": {"essential": True},
        }
        token = client.authorize_access_token(
            claims_options=options, leeway=current_app.config["IDENTITY_ID_TOKEN_LEEWAY"]
        )
    except MismatchingStateError as exc:
        raise LoginFailed(
            "This login was not started here or has already been used (state "
            "mismatch). Start again from the login page.",
            log_message=f"{prov.name}: state mismatch",
        ) from exc
    except OAuthError as exc:
        raise LoginFailed(
            f"The identity provider refused the login ({exc.error}).",
            log_message=f"{prov.name}: token endpoint: {exc.error}: {exc.description}",
        ) from exc
    except JoseError as exc:
        raise LoginFailed(
            "The identity provider's ID token failed validation.",
            log_message=f"{prov.name}: ID token rejected: {exc.error}: {exc.description}",
        ) from exc
    except requests.RequestException as exc:
        raise LoginFailed(
            "The identity provider cannot be reached right now.",
            status=502,
            log_message=f"{prov.name}: {exc.__class__.__name__}",
        ) from exc
    except (ValueError, KeyError) as exc:
        raise LoginFailed(
            "The identity provider's answer could not be understood.",
            log_message=f"{prov.name}: malformed answer: {exc!r}",
        ) from exc
    if not token.get("id_token") or not token.get("userinfo"):
        raise LoginFailed(
            "The identity provider sent no ID token.",
            log_message=f"{prov.name}: no id_token in token response",
        )
    claims = dict(token["userinfo"])
    if metadata.get("userinfo_endpoint"):
        try:
            extra = dict(client.userinfo())
        except (requests.RequestException, ValueError) as exc:
            raise LoginFailed(
                "The identity provider's user information is unavailable.",
                log_message=f"{prov.name}: userinfo failed: {exc!r}",
            ) from exc
        if extra.get("sub") != claims["sub"]:
            raise LoginFailed(
                "The identity provider's user information is for someone else.",
                log_message=f"{prov.name}: userinfo sub mismatch",
            )
        claims.update({k: v for k, v in extra.items() if k not in PROTECTED_CLAIMS})
    return claims, str(token["id_token"])


@bp.get("/login/callback/<name>")
def callback(name: str) -> ResponseReturnValue:
    prov = _provider(name)
    pending = session.pop(PENDING_KEY, None) or {}
    claims, id_token = _validated_claims(prov)
    profile = prov.profile(claims)
    link_to = None
    if pending.get("link_uid") is not None:
        link_to = current_user()
        if link_to is None or link_to.id != pending["link_uid"]:
            raise LoginFailed("Sign in again before linking another identity.")
    try:
        user = resolve_login(db.session, profile, current_app.config, link_to)
        db.session.commit()
    except GatewayError:
        db.session.rollback()
        raise
    log.info("login: user %s via %s (%s)", user.username, name, profile.subject)
    if link_to is not None:
        flash(f"Linked your {prov.title} identity.", "success")
        return redirect(url_for("identity.profile"))
    login_user(user, provider=name, id_token=id_token)
    return redirect(safe_next(pending.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    rec = logout_user()
    home = external_url("web.home")
    if rec is None or not rec.provider or not current_app.config["IDENTITY_PROVIDER_LOGOUT"]:
        return redirect(home)
    id_token, rec.id_token = rec.id_token, ""
    db.session.commit()
    prov = providers().get(rec.provider)
    if prov is None or prov.client is None:
        return redirect(home)
    try:
        metadata = prov.client.load_server_metadata()
    except (requests.RequestException, GatewayError, ValueError):
        return redirect(home)
    if not metadata.get("end_session_endpoint"):
        return redirect(home)
    url = prov.client.create_logout_url(
        post_logout_redirect_uri=home, id_token_hint=id_token, client_id=prov.client.client_id
    )["url"]
    return redirect(url)


def _profile_page(user: User, new_token: str | None = None) -> Response:
    identities = db.session.scalars(
        select(Identity).where(Identity.user_id == user.id).order_by(Identity.id)
    ).all()
    resp = make_response(
        render_template(
            "identity/profile.html",
            user=user,
            identities=identities,
            tokens=tokens_of(db.session, user.id),
            providers=providers(),
            # Only what this user's role can grant (a plain user is not offered "admin").
            scopes={s: what for s, what in SCOPES.items() if s in ROLE_SCOPES.get(user.role, ())},
            new_token=new_token,
            default_days=current_app.config["IDENTITY_TOKEN_DEFAULT_DAYS"],
            max_days=current_app.config["IDENTITY_TOKEN_MAX_DAYS"],
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/profile")
@login_required
def profile() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return _profile_page(user)


@bp.post("/profile/tokens")
@login_required
def create_token_form() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    raw_days = request.form.get("days", "").strip()
    days = digits(raw_days, 10**6) if raw_days else int(current_app.config["IDENTITY_TOKEN_DEFAULT_DAYS"])
    try:
        if days is None:
            raise ValidationError([{"field": "days", "message": "must be a whole number of days"}])
        _row, text = create_token(
            db.session, user, request.form.get("name", ""), request.form.getlist("scopes"), days
        )
    except ValidationError as exc:
        # The profile page again, saying what to change (not a bare error page).
        for e in exc.errors:
            flash(f"Token not created: {e['field']} {e['message']}.", "error")
        resp = _profile_page(user)
        resp.status_code = 422
        return resp
    db.session.commit()
    return _profile_page(user, new_token=text)  # shown this once, never again


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token_form(token_id: int) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    revoke_token(db.session, token_id, user.id)
    db.session.commit()
    flash("Token revoked.", "success")
    return redirect(url_for("identity.profile"))


@bp.post("/profile/identities/<int:identity_id>/unlink")
@login_required
def unlink(identity_id: int) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    ident = db.session.get(Identity, identity_id)
    if ident is None or ident.user_id != user.id:
        raise NotFound("No such identity.")
    count = (
        db.session.scalar(select(func.count()).select_from(Identity).where(Identity.user_id == user.id)) or 0
    )
    if count <= 1:
        raise BadRequest("This is your only identity; you could not sign in again without it.")
    db.session.delete(ident)
    db.session.commit()
    flash("Identity unlinked.", "success")
    return redirect(url_for("identity.profile"))


# -- admin -------------------------------------------------------------------------------------


@bp.get("/admin/users")
@role_required("admin")
def admin_users() -> ResponseReturnValue:
    users = db.session.scalars(select(User).order_by(User.username)).all()
    counts = dict(db.session.execute(select(Identity.user_id, func.count()).group_by(Identity.user_id)).all())
    return render_template("identity/admin_users.html", users=users, identity_counts=counts)


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


@bp.get("/admin/users/<int:user_id>")
@role_required("admin")
def admin_user(user_id: int) -> ResponseReturnValue:
    target = _target(user_id)
    identities = db.session.scalars(select(Identity).where(Identity.user_id == target.id)).all()
    active_sessions = (
        db.session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == target.id, UserSession.revoked_at.is_(None))
        )
        or 0
    )
    return render_template(
        "identity/admin_user.html",
        target=target,
        identities=identities,
        tokens=tokens_of(db.session, target.id),
        roles=ROLES,
        active_sessions=active_sessions,
    )


def _not_self(target: User) -> None:
    me = current_user()
    if me is not None and me.id == target.id:
        raise Forbidden("Admins cannot demote or disable themselves; ask another admin.")


@bp.post("/admin/users/<int:user_id>/role")
@role_required("admin")
def admin_set_role(user_id: int) -> ResponseReturnValue:
    target = _target(user_id)
    role = request.form.get("role", "")
    if role not in ROLES:
        raise BadRequest(f"Role must be one of {', '.join(ROLES)}.")
    if ROLE_RANK[role] < ROLE_RANK[target.role]:
        _not_self(target)
    target.role = role
    db.session.commit()
    flash(f"{target.username} is now {role}.", "success")
    return redirect(url_for("identity.admin_user", user_id=target.id))


@bp.post("/admin/users/<int:user_id>/disable")
@role_required("admin")
def admin_disable(user_id: int) -> ResponseReturnValue:
    target = _target(user_id)
    _not_self(target)
    target.disabled = True
    # At once: every browser session and every token stops working on its next request.
    revoke_sessions(target.id)
    revoke_all_tokens(db.session, target.id)
    db.session.commit()
    log.info("admin: disabled %s", target.username)
    flash(f"{target.username} is disabled; their sessions and tokens are revoked.", "success")
    return redirect(url_for("identity.admin_user", user_id=target.id))


@bp.post("/admin/users/<int:user_id>/enable")
@role_required("admin")
def admin_enable(user_id: int) -> ResponseReturnValue:
    target = _target(user_id)
    target.disabled = False
    db.session.commit()
    flash(f"{target.username} is enabled again (revoked tokens stay revoked).", "success")
    return redirect(url_for("identity.admin_user", user_id=target.id))


@bp.post("/admin/tokens/<int:token_id>/revoke")
@role_required("admin")
def admin_revoke_token(token_id: int) -> ResponseReturnValue:
    row = revoke_token(db.session, token_id, None)
    db.session.commit()
    flash("Token revoked.", "success")
    return redirect(url_for("identity.admin_user", user_id=row.user_id))


def init_views(app: Flask) -> None:
    app.register_blueprint(bp)
