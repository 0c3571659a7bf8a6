#!/usr/bin/env python3
"""Rotate a keygate API key from CI, unattended.

The job holds two secrets: the key it rotates (e.g. DEPLOY_API_KEY) and a management key
(KEYGATE_MANAGEMENT_KEY, scopes ["keys:manage", ...], created once by a user). It asks keygate
for a replacement of KEY_ID; the old key keeps working for GRACE_PERIOD_SECONDS so running
jobs finish, then the gateway refuses it. Standard library only (python3).

Environment:
  KEYGATE_URL              e.g. https://keys.example.com
  KEYGATE_TENANT           e.g. my-tenant
  KEYGATE_MANAGEMENT_KEY   an API key holding keys:manage (or admin:all)
  KEY_ID                   the id of the key to rotate (key-...)
  GRACE_PERIOD_SECONDS     optional, default 86400 (24 h, as in the seed's rotation example)
  NEW_KEY_FILE             optional: write the new api_key here (mode 600) instead of stdout

Prints its api_key on stdout, so a workflow can pipe it straight into its secret store (with
NEW_KEY_FILE, the key goes into that file and stdout carries the new key's id instead), e.g.:
  python3 examples/rotate_key.py | gh secret set DEPLOY_API_KEY
Exits non-zero with keygate's error body if the rotation is refused.
"""
import json
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    base = os.environ["KEYGATE_URL"].rstrip("/")
    tenant = os.environ["KEYGATE_TENANT"]
    key_id = os.environ["KEY_ID"]
    grace = int(os.environ.get("GRACE_PERIOD_SECONDS", "86400"))
    request = urllib.request.Request(
        f"{base}/api/v1/tenant/{tenant}/api-keys/{key_id}/rotate",
        data=json.dumps({"grace_period_seconds": grace}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {os.environ['KEYGATE_MANAGEMENT_KEY']}",
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
        f"rotated {key_id} -> {new_key['id']}; the old key works for {grace} s more",
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
