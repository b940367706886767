"""Children addressed under their parent (``pools/<id>/members``, ``l7policies/<id>/rules``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import AuthContext, LocalCloud, current_cloud
from gateway_kit.localcloud.store import Doc

from .children import _delete_child, _update_child
from .common import _auth, _not_found
from .listing import SPECS, _list, _show
from .monitors import _L7R_ATTRS, _apply_l7rule, _policy_for
from .pools import _MEMBER_ATTRS, _apply_member, _pool_for


@dataclass(frozen=True)
class Nested:
    """A child addressed under its parent (``pools/<id>/members``, ``l7policies/<id>/rules``)."""

    spec: str
    parent_key: str
    parent_for: Callable[[LocalCloud, AuthContext, str], Doc]
    apply: Callable[[LocalCloud, AuthContext, Doc, dict[str, Any]], None]
    attrs: tuple[str, ...]

    def under(self, parent_id: str) -> Callable[[Doc], bool]:
        return lambda d: d[self.parent_key] == parent_id

    def child(self, parent_id: str, rid: str) -> str:
        """Check the parent and that ``rid`` is one of its children; return ``rid``."""
        cloud = current_cloud()
        self.parent_for(cloud, _auth(), parent_id)
        doc = cloud.get(SPECS[self.spec].kind, rid)
        if doc is None or doc[self.parent_key] != parent_id:
            raise _not_found(SPECS[self.spec].label, rid)
        return rid


NESTED = {
    "members": Nested("members", "pool_id", _pool_for, _apply_member, _MEMBER_ATTRS),
    "rules": Nested("rules", "l7policy_id", _policy_for, _apply_l7rule, _L7R_ATTRS),
}


def _nested_list(nested: Nested, parent_id: str) -> Response:
    nested.parent_for(current_cloud(), _auth(), parent_id)
    return _list(SPECS[nested.spec], nested.under(parent_id))


def _nested_show(nested: Nested, parent_id: str, rid: str) -> Response:
    nested.parent_for(current_cloud(), _auth(), parent_id)
    return _show(SPECS[nested.spec], rid, nested.under(parent_id))


def _nested_update(nested: Nested, parent_id: str, rid: str) -> Response:
    return _update_child(SPECS[nested.spec], nested.apply, nested.attrs, nested.child(parent_id, rid))


def _nested_delete(nested: Nested, parent_id: str, rid: str) -> Response:
    return _delete_child(SPECS[nested.spec], None, nested.child(parent_id, rid))
