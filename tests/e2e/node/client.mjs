// Runs one call of the official Nango Node client against our server and prints the
// outcome as JSON: {"ok": true, "value": ...} or {"ok": false, "status", "data"}.
// Usage: node client.mjs <host> <secretKey> <method> <json args array>
import { Nango } from '@nangohq/node';

const [host, secretKey, method, args] = process.argv.slice(2);
const nango = new Nango({ secretKey, host });
try {
    const value = await nango[method](...JSON.parse(args));
    console.log(JSON.stringify({ ok: true, value: value === undefined ? null : value }));
} catch (err) {
    console.log(JSON.stringify({ ok: false, status: err.response?.status ?? null, data: err.response?.data ?? String(err) }));
}
