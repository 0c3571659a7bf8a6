#!/usr/bin/env python3
"""Rotate keygate API keys from CI, unattended, including the job's own management key.

The job holds two secrets: the key it rotates (e.g. DEPLOY_API_KEY) and a management key
(KEYGATE_MANAGEMENT_KEY, scopes ["keys:manage", ...], created once by a user with an expiry, e.g.
"expires_in_days": 90). It asks keygate for a replacement of KEY_ID; the old key keeps working for
GRACE_PERIOD_SECONDS so running jobs finish, then the gateway refuses it. With KEY_ID=self the
management key rotates itself: same scopes, a fresh lifetime of the same length, so a job that runs
more often than that lifetime keeps its own key alive without anyone holding a non-expiring key.
Standard library only (python3).

Environment:
  KEYGATE_URL              e.g. https://keys.example.com
  KEYGATE_TENANT           e.g. my-tenant
  KEYGATE_MANAGEMENT_KEY   an API key holding keys:manage (or admin:all)
  KEY_ID                   the id of the key to rotate (key-...), or "self" for the management key
  GRACE_PERIOD_SECONDS     optional, default 86400 (24 h, as in the seed's rotation example)
  NEW_KEY_FILE             optional: write the new api_key here (mode 600) instead of stdout

Prints the new api_key on stdout, so a workflow can pipe it straight into its secret store (with
NEW_KEY_FILE, the key goes into that file and stdout carries the new key's id instead), e.g.:
  python3 examples/rotate_key.py | gh secret set DEPLOY_API_KEY
  KEY_ID=self python3 examples/rotate_key.py | gh secret set KEYGATE_MANAGEMENT_KEY
Exits non-zero with keygate's error body if the rotation is refused. Store each new key before
the next rotation: a rotated key cannot be rotated again (409), and it stops at its grace period's end.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request


def own_key_id(api_key: str) -> str:
    """The key_id claim of a keygate key (its payload is plain base64url JSON)."""
    payload = api_key.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["key_id"]


def main() -> int:
    base = os.environ["KEYGATE_URL"].rstrip("/")
    tenant = os.environ["KEYGATE_TENANT"]
    management_key = os.environ["KEYGATE_MANAGEMENT_KEY"]
    key_id = os.environ["KEY_ID"]
    if key_id == "self":
        key_id = own_key_id(management_key)
    grace = int(os.environ.get("GRACE_PERIOD_SECONDS", "86400"))
    request = urllib.request.Request(
        f"{base}/api/v1/tenant/{tenant}/api-keys/{key_id}/rotate",
        data=json.dumps({"grace_period_seconds": grace}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {management_key}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            new_key = json.load(response)
    except urllib.error.HTTPError as err:
        print(f"rotation of {key_id} refused: {err.code} {err.read().decode(errors='replace')}", file=sys.stderr)
        return 1

    print(
        f"rotated {key_id} -> {new_key['id']} (expires_at {new_key['expires_at']}); the old key works for {grace} s more",
        file=sys.stderr,
    )
    target = os.environ.get("NEW_KEY_FILE")
    if target:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key["api_key"])
        print(new_key["id"])
    else:
        print(new_key["api_key"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
