"""Health monitors, L7 policies and L7 rules."""

from __future__ import annotations

from typing import Any

from flask import Response
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, current_cloud, json_response
from gateway_kit.localcloud.store import Doc

from .children import _active_lb, _create_body, _new_child
from .common import (
    HM,
    L7POLICY,
    L7RULE,
    LISTENER,
    MEMBER,
    POOL,
    _apply_common,
    _auth,
    _body,
    _check_attrs,
    _enum,
    _int,
    _invalid,
    _live,
    _lock_lb,
    _referenced,
    _str,
    _uuid,
    _writable,
)
from .health import _HM_KEYS, _L7P_KEYS, _L7R_KEYS, _arm_member_check, _member_status
from .specs import _render_hm, _render_l7policy, _render_l7rule

_HM_ATTRS = _writable(_HM_KEYS, "pool_id")


def _apply_hm(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    for key, lo, hi in (
        ("delay", 0, 2147483647),
        ("timeout", 0, 2147483647),
        ("max_retries", 1, 10),
        ("max_retries_down", 1, 10),
    ):
        if key in body:
            doc[key] = _int(body, key, lo, hi, required=True)
    if "http_method" in body:
        doc["http_method"] = _enum(body, "http_method", olc.SUPPORTED_HEALTH_MONITOR_HTTP_METHODS)
    if "url_path" in body:
        path = body["url_path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise ApiError(400, "Validation failure: URL path is not valid.")
        doc["url_path"] = path
    for key in ("expected_codes", "http_version", "domain_name", "tags"):
        if key in body:
            doc[key] = body[key]
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        enable = bool(body["admin_state_up"]) and not doc.get("admin_state_up", True)
        doc["admin_state_up"] = bool(body["admin_state_up"])
        if enable and doc.get("pool_id"):
            for member in cloud.store.find(MEMBER, lambda d: d["pool_id"] == doc["pool_id"]):
                _arm_member_check(cloud, member)
                cloud.put(MEMBER, member)
    if doc.get("timeout") is not None and doc.get("delay") is not None and doc["timeout"] > doc["delay"]:
        raise ApiError(
            400,
            f"Validation failure: The request delay value {doc['delay']} should be larger than the "
            f"request timeout value {doc['timeout']}.",
        )


def _create_hm() -> Response:
    cloud, auth, body = _create_body("healthmonitor", _HM_ATTRS)
    hm_type = _enum(body, "type", olc.SUPPORTED_HEALTH_MONITOR_TYPES, required=True)
    pool_id = _uuid(body, "pool_id")
    if pool_id is None:
        raise _invalid("pool_id", None, "Mandatory field missing.")
    for key in ("delay", "timeout", "max_retries"):
        if key not in body:
            raise _invalid(key, None, "Mandatory field missing.")
    pool = _referenced(cloud, auth, POOL, "Pool", pool_id)
    if cloud.store.find(HM, lambda d: d["pool_id"] == pool_id):
        raise ApiError(409, "This pool already has a health monitor")
    lb = _active_lb(cloud, pool)
    doc = _new_child(cloud, auth, lb, body, ("health_monitor", HM, "Health Monitor"))
    is_http = hm_type in (olc.HEALTH_MONITOR_HTTP, olc.HEALTH_MONITOR_HTTPS)
    doc.update(
        {
            "pool_id": pool_id,
            "type": hm_type,
            "max_retries_down": 3,
            "http_method": olc.HEALTH_MONITOR_HTTP_DEFAULT_METHOD if is_http else None,
            "url_path": "/" if is_http else None,
            "expected_codes": "200" if is_http else None,
            "http_version": None,
            "domain_name": None,
            "operating_status": olc.ONLINE,
        }
    )
    _apply_hm(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(HM, doc)
    for member in cloud.store.find(MEMBER, lambda d: d["pool_id"] == pool_id):
        _arm_member_check(cloud, member)
        member["operating_status"] = _member_status(cloud, member)
        cloud.put(MEMBER, member)
    return json_response({"healthmonitor": _render_hm(cloud, doc)}, 201)


_L7P_ATTRS = _writable(_L7P_KEYS, "rules")


def _apply_l7policy(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "action" in body:
        doc["action"] = _enum(body, "action", olc.SUPPORTED_L7POLICY_ACTIONS, required=True)
    _apply_common(doc, body)
    for key in ("redirect_url", "redirect_prefix", "redirect_http_code", "tags", "position"):
        if key in body:
            doc[key] = body[key]
    if "redirect_pool_id" in body:
        doc["redirect_pool_id"] = _uuid(body, "redirect_pool_id")
    action = doc["action"]
    if action == olc.L7POLICY_ACTION_REDIRECT_TO_URL:
        if not doc.get("redirect_url"):
            raise ApiError(400, "Invalid L7 Policy: redirect_url must be set when action is REDIRECT_TO_URL")
        doc["redirect_pool_id"] = doc["redirect_prefix"] = None
        doc["redirect_http_code"] = doc.get("redirect_http_code") or 302
    elif action == olc.L7POLICY_ACTION_REDIRECT_PREFIX:
        if not doc.get("redirect_prefix"):
            raise ApiError(
                400, "Invalid L7 Policy: redirect_prefix must be set when action is REDIRECT_PREFIX"
            )
        doc["redirect_pool_id"] = doc["redirect_url"] = None
        doc["redirect_http_code"] = doc.get("redirect_http_code") or 302
    elif action == olc.L7POLICY_ACTION_REDIRECT_TO_POOL:
        pool_id = doc.get("redirect_pool_id")
        pool = cloud.get(POOL, pool_id) if pool_id else None
        if pool is None or pool["loadbalancer_id"] != doc["loadbalancer_id"]:
            raise ApiError(400, f"Pool {pool_id} not found.")
        doc["redirect_url"] = doc["redirect_prefix"] = doc["redirect_http_code"] = None
    else:
        doc["redirect_url"] = doc["redirect_prefix"] = doc["redirect_http_code"] = doc["redirect_pool_id"] = (
            None
        )


def _create_l7policy() -> Response:
    cloud, auth, body = _create_body("l7policy", _L7P_ATTRS)
    _enum(body, "action", olc.SUPPORTED_L7POLICY_ACTIONS, required=True)
    listener_id = _uuid(body, "listener_id")
    listener = _referenced(cloud, auth, LISTENER, "Listener", listener_id)
    lb = _active_lb(cloud, listener)
    doc = _new_child(cloud, auth, lb, body, ("l7policy", L7POLICY, "L7 Policy"))
    siblings = cloud.store.find(L7POLICY, lambda d: d["listener_id"] == listener_id)
    doc.update(
        {
            "description": "",
            "listener_id": listener_id,
            "action": body["action"],
            "redirect_pool_id": None,
            "redirect_url": None,
            "redirect_prefix": None,
            "redirect_http_code": None,
            "position": len(siblings) + 1,
            "operating_status": olc.ONLINE,
        }
    )
    _apply_l7policy(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(L7POLICY, doc)
    return json_response({"l7policy": _render_l7policy(cloud, doc)}, 201)


_L7R_ATTRS = _writable(_L7R_KEYS)


def _apply_l7rule(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "type" in body:
        doc["type"] = _enum(body, "type", olc.SUPPORTED_L7RULE_TYPES, required=True)
    if "compare_type" in body:
        doc["compare_type"] = _enum(body, "compare_type", olc.SUPPORTED_L7RULE_COMPARE_TYPES, required=True)
    for key in ("key", "value", "tags"):
        if key in body:
            doc[key] = body[key]
    for key in ("invert", "admin_state_up"):
        if key in body:
            doc[key] = bool(body[key])
    if doc["type"] in (olc.L7RULE_TYPE_HEADER, olc.L7RULE_TYPE_COOKIE) and not doc.get("key"):
        raise ApiError(400, f"Error parsing L7Rule: key must be specified for {doc['type']} rules")
    if not doc.get("value"):
        raise _invalid("value", doc.get("value"), "Mandatory field missing.")


def _policy_for(cloud: LocalCloud, auth: AuthContext, policy_id: str) -> Doc:
    return _live(cloud, auth, L7POLICY, "L7 Policy", policy_id)


def _create_l7rule(policy_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    policy = _policy_for(cloud, auth, policy_id)
    body = _body("rule")
    _check_attrs(body, _L7R_ATTRS, "rule")
    _enum(body, "type", olc.SUPPORTED_L7RULE_TYPES, required=True)
    _enum(body, "compare_type", olc.SUPPORTED_L7RULE_COMPARE_TYPES, required=True)
    lb = _active_lb(cloud, policy)
    doc = _new_child(cloud, auth, lb, body, ("l7rule", L7RULE, "L7 Rule"))
    del doc["name"]
    doc.update({"l7policy_id": policy_id, "key": None, "invert": False, "operating_status": olc.ONLINE})
    doc["type"] = body["type"]
    doc["compare_type"] = body["compare_type"]
    _apply_l7rule(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(L7RULE, doc)
    return json_response({"rule": _render_l7rule(cloud, doc)}, 201)
