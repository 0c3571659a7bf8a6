"""A Flask (Werkzeug) origin whose routes mirror route-policy.json (wrangler.toml's default
ROUTE_POLICY), with Werkzeug's defaults (decoded PATH_INFO, case-sensitive, merge_slashes). Each
handler answers which policy rule its route mirrors (X-Route), and the method and tenant it saw
(X-Seen-*; Werkzeug's server folds "X-Keygate_Tenant" into X-Keygate-Tenant, as wsgiref does). Prints
its port on stdout. Run with Debian's python3-flask by test/e2e/path-differential.test.ts."""
import json
import logging
import os
import sys

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

RULES = json.load(open(os.path.join(os.path.dirname(__file__), "route-policy.json")))
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def rule_name(rule):
    method = rule["method"]
    return f"{'*' if method == '*' else ','.join([method] if isinstance(method, str) else method)} {rule['path']}"


def covers(rule, method):
    method = "GET" if method == "HEAD" else method
    listed = rule["method"]
    return listed == "*" or method == listed or (isinstance(listed, list) and method in listed)


app = Flask(__name__)


def view_for(pattern):
    def view(**_):
        rule = next((r for r in RULES if r["path"] == pattern and covers(r, request.method)), None)
        if rule is None:
            return jsonify(route=None), 405
        # In headers, so a HEAD answer says it too.
        response = jsonify(route=rule_name(rule))
        response.headers["X-Route"] = rule_name(rule)
        response.headers["X-Seen-Method"] = request.method
        if "X-Keygate-Tenant" in request.headers:
            response.headers["X-Seen-Tenant"] = request.headers["X-Keygate-Tenant"]
        return response

    return view


# One route per path pattern, in policy order; within it the first rule for the method wins, as in keygate.
for index, pattern in enumerate(dict.fromkeys(r["path"] for r in RULES)):
    view = view_for(pattern)
    if pattern.endswith("/**"):
        base = pattern[:-3]
        app.add_url_rule(base, f"r{index}", view, methods=METHODS, provide_automatic_options=False)
        app.add_url_rule(f"{base}/<path:rest>", f"r{index}-rest", view, methods=METHODS, provide_automatic_options=False)
    else:
        app.add_url_rule(pattern, f"r{index}", view, methods=METHODS, provide_automatic_options=False)


@app.errorhandler(404)
def not_found(_):
    return jsonify(route=None), 404


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    sys.stdout.flush()
    server.serve_forever()
