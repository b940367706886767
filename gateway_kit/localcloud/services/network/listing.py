"""Neutron list filtering (``?name=...&fields=...``) and marker/limit pagination."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway_kit.localcloud.core import current_cloud
from gateway_kit.localcloud.rest import after_marker, limited

# -- list filtering ---------------------------------------------------------------------

_NON_FILTERS = {
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "fields",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
}


def _matches(doc: dict[str, Any], key: str, wanted: list[str]) -> bool:
    if key == "fixed_ips":
        ips = doc.get("fixed_ips", [])
        for want in wanted:
            k, _, v = want.partition("=")
            if not any(str(ip.get(k)) == v for ip in ips):
                return False
        return True
    value = doc.get(key)
    if isinstance(value, bool):
        return any(w.lower() == str(value).lower() for w in wanted)
    if isinstance(value, list):
        return any(w in [str(x) for x in value] for w in wanted)
    return any(("" if value is None else str(value)) == w for w in wanted)


def _filter(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for key in set(request.args) - _NON_FILTERS:
        wanted = request.args.getlist(key)
        docs = [d for d in docs if _matches(d, key, wanted)]
    tag_all = [t for arg in request.args.getlist("tags") for t in arg.split(",")]
    if tag_all:
        docs = [d for d in docs if set(tag_all) <= set(d.get("tags", []))]
    tag_any = [t for arg in request.args.getlist("tags-any") for t in arg.split(",")]
    if tag_any:
        docs = [d for d in docs if set(tag_any) & set(d.get("tags", []))]
    not_tags = [t for arg in request.args.getlist("not-tags") for t in arg.split(",")]
    if not_tags:
        docs = [d for d in docs if not set(not_tags) <= set(d.get("tags", []))]
    sort_key = request.args.get("sort_key")
    if sort_key:
        docs.sort(
            key=lambda d: str(d.get(sort_key, "")), reverse=request.args.get("sort_dir", "asc") == "desc"
        )
    return docs


def _paginate(coll: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    docs = after_marker(docs, request.args.get("marker"))
    limit = request.args.get("limit")
    if limit:
        page = limited(docs, limit)
        if len(docs) > len(page):
            docs = page
            args = request.args.to_dict(flat=False)
            args["marker"] = [docs[-1]["id"]]
            from urllib.parse import urlencode

            body[coll.replace("-", "_") + "_links"] = [
                {"rel": "next", "href": current_cloud().url(request.path) + "?" + urlencode(args, doseq=True)}
            ]
    fields = request.args.getlist("fields")
    if fields:
        docs = [{k: v for k, v in d.items() if k in fields} for d in docs]
    body[coll.replace("-", "_")] = docs
    return body
