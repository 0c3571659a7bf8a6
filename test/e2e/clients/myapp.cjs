#!/usr/bin/env node

const axios = require('axios');
const fs = require('fs');
const path = require('path');
const os = require('os');

class APIClient {
    constructor() {
        // Load API key from config file
        const configPath = path.join(os.homedir(), '.myapp', 'config.json');
        const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));

        this.apiKey = config.apiKey;
        this.baseURL = config.baseURL || 'http://localhost:3000';
    }

    async request(method, endpoint, data = null) {
        const config = {
            method,
            url: `${this.baseURL}${endpoint}`,
            headers: {
                'Authorization': `Bearer ${this.apiKey}`,
                'Content-Type': 'application/json'
            }
        };

        if (data) {
            config.data = data;
        }

        const response = await axios(config);
        return response.data;
    }

    async listResources() {
        return this.request('GET', '/api/v1/resources');
    }

    async createResource(name, type) {
        return this.request('POST', '/api/v1/resources', { name, type });
    }

    async deleteResource(id) {
        return this.request('DELETE', `/api/v1/resources/${id}`);
    }
}

// CLI commands
const commands = {
    list: async () => {
        const client = new APIClient();
        const resources = await client.listResources();
        console.table(resources);
    },

    create: async (name, type) => {
        const client = new APIClient();
        const resource = await client.createResource(name, type);
        console.log('Created:', resource);
    },

    delete: async (id) => {
        const client = new APIClient();
        await client.deleteResource(id);
        console.log(`Deleted resource ${id}`);
    }
};

// Parse command line
const [,, command, ...args] = process.argv;

if (commands[command]) {
    commands[command](...args).catch(err => {
        console.error('Error:', err.message);
        process.exit(1);
    });
} else {
    console.log('Usage: myapp <command> [args]');
    console.log('Commands: list, create <name> <type>, delete <id>');
    process.exit(1);
}
