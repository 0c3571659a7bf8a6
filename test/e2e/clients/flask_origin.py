# The seed's "Checking Scopes in Your API" example, run as a real origin behind keygate.
# Lines outside the BEGIN/END markers are the only additions: the Flask `app` the example
# assumes, PUBLIC_KEY from keygate's JWKS, and a runner.
import os

import jwt
from flask import Flask

app = Flask(__name__)
# keygate publishes its signing keys at /.well-known/jwks.json; this origin pins the current one.
PUBLIC_KEY = jwt.PyJWKClient(os.environ['KEYGATE_JWKS_URL']).get_signing_keys()[0].key

# ---- BEGIN seed example (verbatim) ----
from functools import wraps
from flask import request, jsonify
import jwt

def require_scope(*required_scopes):
    """Decorator to check API key scopes"""
    def decorator(f):
        @wraps(f)
        def decorated_function(*args, **kwargs):
            # Extract token from header
            auth_header = request.headers.get('Authorization', '')
            if not auth_header.startswith('Bearer '):
                return jsonify({'error': 'No token provided'}), 401

            token = auth_header[7:]

            try:
                # Decode and verify token
                payload = jwt.decode(
                    token,
                    PUBLIC_KEY,
                    algorithms=['RS256'],
                    audience='your-api'
                )

                # Check scopes
                token_scopes = payload.get('scopes', [])
                if not any(scope in token_scopes for scope in required_scopes):
                    return jsonify({
                        'error': 'Insufficient permissions',
                        'required': list(required_scopes),
                        'provided': token_scopes
                    }), 403

                # Attach payload to request
                request.api_key_info = payload

            except jwt.ExpiredSignatureError:
                return jsonify({'error': 'Token expired'}), 401
            except jwt.InvalidTokenError as e:
                return jsonify({'error': 'Invalid token', 'detail': str(e)}), 401

            return f(*args, **kwargs)
        return decorated_function
    return decorator

# Usage
@app.route('/api/v1/deploy', methods=['POST'])
@require_scope('deploy:production')
def deploy_production():
    # Only keys with 'deploy:production' scope can access
    return jsonify({'status': 'deployed'})

@app.route('/api/v1/resources', methods=['GET'])
@require_scope('api:read', 'admin:all')
def list_resources():
    # Keys with either 'api:read' OR 'admin:all' can access
    key_id = request.api_key_info.get('key_id')
    return jsonify({'resources': [], 'accessed_by': key_id})
# ---- END seed example ----

if __name__ == '__main__':
    app.run(host='127.0.0.1', port=int(os.environ['PORT']))
