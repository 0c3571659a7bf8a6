# An origin that trusts keygate's signed identity assertion (IDENTITY_ASSERTION = "jwt") and not
# the X-Keygate-* headers: docs/gateway.md's PyJWT verifier (verify_assertion, verbatim), run behind
# keygate by test/e2e/identity-assertion.test.ts. Standard library plus PyJWT with cryptography.
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

KEYGATE_URL = os.environ["KEYGATE_URL"]            # where keygate serves /.well-known/jwks.json
KEYGATE_ISSUER = os.environ["KEYGATE_ISSUER"]      # keygate's KEY_ISSUER
ORIGIN_AUDIENCE = os.environ["ORIGIN_AUDIENCE"]    # this origin as keygate names it: ORIGIN_URL

# ---- BEGIN docs/gateway.md verifier ----
jwks = jwt.PyJWKClient(f"{KEYGATE_URL}/.well-known/jwks.json")

def verify_assertion(token, method, path):
    """The caller's identity if keygate signed `token` for this origin, method and path; raises otherwise."""
    if jwt.get_unverified_header(token).get("typ") != "keygate-identity+jwt":
        raise jwt.InvalidTokenError("not a keygate identity assertion")
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["EdDSA"],
                        audience=ORIGIN_AUDIENCE, issuer=KEYGATE_ISSUER, options={"require": ["exp", "iat"]})
    if claims["method"] != method or claims["path"] != path:
        raise jwt.InvalidTokenError("the assertion is for another request")
    return claims
# ---- END docs/gateway.md verifier ----


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        token = self.headers.get("x-keygate-assertion")
        if not token:
            return self.answer(401, {"error": "no identity assertion"})
        try:
            claims = verify_assertion(token, self.command, self.path.split("?", 1)[0])
        except jwt.InvalidTokenError as err:
            return self.answer(403, {"error": str(err)})
        # The seed's Flask decorator pins the JWKS's first signing key to verify API keys; with the
        # assertion key published too, that must still be keygate's RS256 key.
        api_key = self.headers.get("authorization", "")[len("Bearer "):]
        seed_pinned = jwks.get_signing_keys()[0].key
        api_key_id = jwt.decode(api_key, seed_pinned, algorithms=["RS256"], audience="your-api")["key_id"] if api_key else None
        return self.answer(200, {"claims": claims, "assertion": token, "api_key_id": api_key_id})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
