// Runs one proxy call of the official Nango Node client (proxy, get, post, put, patch,
// delete) and prints the provider's answer as JSON: {"ok": true, "status", "headers", "data"}
// or {"ok": false, "status", "data"}. The Node client answers the whole axios response,
// which client.mjs cannot print.
// Usage: node proxy.mjs <host> <secretKey> <method> <json config>
import { Nango } from '@nangohq/node';

const [host, secretKey, method, config] = process.argv.slice(2);
const nango = new Nango({ secretKey, host });
try {
    const response = await nango[method](JSON.parse(config));
    console.log(JSON.stringify({ ok: true, status: response.status, headers: response.headers, data: response.data }));
} catch (err) {
    console.log(JSON.stringify({ ok: false, status: err.response?.status ?? null, data: err.response?.data ?? String(err) }));
}
