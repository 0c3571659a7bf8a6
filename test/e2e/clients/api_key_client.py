import requests
import os

class APIKeyClient:
    def __init__(self, api_key, base_url):
        self.api_key = api_key
        self.base_url = base_url
        self.headers = {
            'Authorization': f'Bearer {api_key}',
            'Content-Type': 'application/json'
        }

    def get(self, endpoint):
        """Make GET request"""
        response = requests.get(
            f"{self.base_url}{endpoint}",
            headers=self.headers
        )
        response.raise_for_status()
        return response.json()

    def post(self, endpoint, data):
        """Make POST request"""
        response = requests.post(
            f"{self.base_url}{endpoint}",
            headers=self.headers,
            json=data
        )
        response.raise_for_status()
        return response.json()

    def put(self, endpoint, data):
        """Make PUT request"""
        response = requests.put(
            f"{self.base_url}{endpoint}",
            headers=self.headers,
            json=data
        )
        response.raise_for_status()
        return response.json()

    def delete(self, endpoint):
        """Make DELETE request"""
        response = requests.delete(
            f"{self.base_url}{endpoint}",
            headers=self.headers
        )
        response.raise_for_status()
        return response.status_code == 204

# Usage
api_key = os.environ.get('API_KEY')  # Load from environment
client = APIKeyClient(api_key, 'http://localhost:3000')

try:
    # Fetch resources
    resources = client.get('/api/v1/resources')
    print(f"Found {len(resources)} resources")

    # Create resource
    new_resource = client.post('/api/v1/resources', {
        'name': 'New Resource',
        'type': 'automated'
    })
    print(f"Created resource: {new_resource['id']}")

except requests.exceptions.HTTPError as e:
    print(f"API error: {e}")
except Exception as e:
    print(f"Error: {e}")
