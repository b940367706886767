"""Certificate settings: the ACME CA, the account, DNS-01 waits, storage and renewal."""

from __future__ import annotations

from typing import Any

from ..settings import Setting, host_port_list, positive

#: Directory URL presets: a setting or ``--directory`` may name one of these instead of a URL.
DIRECTORY_PRESETS: dict[str, str] = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


def _directory(value: Any) -> str | None:
    if value in DIRECTORY_PRESETS or str(value).startswith(("https://", "http://")):
        return None
    return "an https:// ACME directory URL or a preset (" + ", ".join(DIRECTORY_PRESETS) + ")"


SETTINGS: list[Setting] = [
    Setting(
        "CERTS_DIRECTORY_URL",
        str,
        "letsencrypt",
        "ACME directory URL of the certificate authority, or a preset: letsencrypt, letsencrypt-staging.",
        validate=_directory,
    ),
    Setting(
        "CERTS_STAGING_DIRECTORY_URL",
        str,
        "letsencrypt-staging",
        "ACME directory used with --staging (a URL or a preset).",
        validate=_directory,
    ),
    Setting(
        "CERTS_CA_BUNDLE",
        str,
        "",
        "PEM file of the CA that signs the ACME server's own TLS certificate (empty: the "
        "system's trust store). Needed for Pebble and private CAs.",
    ),
    Setting(
        "CERTS_CONTACT_EMAIL",
        str,
        "",
        "Contact e-mail of the ACME account (expiry notices from the CA go there).",
    ),
    Setting(
        "CERTS_AGREE_TOS",
        bool,
        False,
        "Agree to the certificate authority's terms of service when registering the account "
        "(required; read them at the directory's meta.termsOfService).",
    ),
    Setting(
        "CERTS_CLOUD_NAME",
        str,
        "",
        "clouds.yaml entry used for Designate, Barbican and Octavia (empty: CLOUD_NAME).",
    ),
    Setting(
        "CERTS_DNS_NAMESERVERS",
        list,
        [],
        "HOST:PORT of the nameservers to check TXT visibility on (empty: the zone's own "
        "authoritative nameservers from Designate, port 53).",
        validate=host_port_list("nameserver"),
    ),
    Setting(
        "CERTS_DNS_TIMEOUT",
        float,
        300.0,
        "Seconds to wait for a challenge TXT to be ACTIVE in Designate and visible in DNS.",
        validate=positive(),
    ),
    Setting(
        "CERTS_DNS_POLL_INTERVAL",
        float,
        2.0,
        "Seconds between two checks while waiting for a TXT record.",
        validate=positive(),
    ),
    Setting(
        "CERTS_ACME_TIMEOUT",
        float,
        120.0,
        "Seconds to wait for the CA to validate the challenges and issue the certificate.",
        validate=positive(),
    ),
    Setting(
        "CERTS_KEY_TYPE",
        str,
        "ec-p256",
        "Key type of new certificate keys.",
        choices=("ec-p256", "ec-p384", "rsa-2048", "rsa-4096"),
    ),
    Setting(
        "CERTS_RENEW_BEFORE_DAYS",
        int,
        30,
        "Renew a certificate this many days before it expires.",
        validate=positive(),
    ),
    Setting(
        "CERTS_RENEW_CHECK_INTERVAL",
        float,
        3600.0,
        "Seconds between two worker passes over the certificates.",
        validate=positive(),
    ),
    Setting(
        "CERTS_RETRY_BASE_SECONDS",
        float,
        600.0,
        "Wait after a failed renewal attempt (doubles after each failure).",
        validate=positive(),
    ),
    Setting(
        "CERTS_RETRY_MAX_SECONDS",
        float,
        86400.0,
        "Longest wait between two failed renewal attempts.",
        validate=positive(),
    ),
]
