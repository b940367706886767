"""Availability zones, extensions and the version document."""

from __future__ import annotations

from typing import Any

from flask import Response

from gateway_kit.localcloud.core import current_cloud, json_response, require_token

from .common import MAX_MICROVERSION, MIN_MICROVERSION, routes

# -- misc -------------------------------------------------------------------------------


@routes.get("/os-availability-zone")
def availability_zones() -> Response:
    require_token()
    return json_response(
        {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}
    )


@routes.get("/extensions")
def extensions() -> Response:
    require_token()
    names = (
        "AdminActions",
        "Flavors",
        "Keypairs",
        "Servers",
        "ServerMetadata",
        "Limits",
        "Quotas",
        "VolumeAttachments",
        "ServerGroups",
        "AvailabilityZone",
    )
    return json_response(
        {
            "extensions": [
                {
                    "alias": f"os-{n.lower()}",
                    "name": n,
                    "description": n,
                    "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
                    "updated": "2014-12-03T00:00:00Z",
                    "links": [],
                }
                for n in names
            ]
        }
    )


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_MICROVERSION,
        "min_version": MIN_MICROVERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": current_cloud().url("/compute/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ],
    }


@routes.get("")
@routes.get("/")
def version() -> Response:
    return json_response({"version": _version_doc()})
