// stream-guard as a Node.js script: the rule of plugins/rust/stream-guard with the settings of
// the shipped tenant (policies/defaultApp/tenant.toml: deny = ["forbidden_*"],
// normalize = "lowercase", status 403), on node's own http module, one process, no framework.
// The Node.js peer of `hookgate-bench run`, answering as its native rule does.
//
// Usage: node stream_guard.js [HOST:PORT]   (default 127.0.0.1:0, a free port; the bound
// address is printed as "hookgate-bench listening: http://HOST:PORT").
'use strict';
const http = require('http');

const DENY_PREFIX = 'forbidden_';
const DENY_STATUS = 403;
const GUARDED = new Set(['publishStream', 'playStream']);
const BODY_LIMIT = 1 << 20;
const UPPERCASE = /\p{Uppercase}/u;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function refuse(res, status, error, policy) {
  send(res, status, JSON.stringify(policy === undefined ? { error } : { error, policy }));
}

function decide(res, method, body) {
  let hook;
  try {
    hook = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return refuse(res, 400, `body must be a JSON object: ${err.message}`);
  }
  if (hook === null || typeof hook !== 'object' || Array.isArray(hook)) {
    return refuse(res, 400, 'body must be a JSON object');
  }
  if (typeof hook.appKey !== 'string') return refuse(res, 400, 'body has no appKey');
  const name = hook.name;
  if (!GUARDED.has(method) || typeof name !== 'string') return send(res, 200, body);
  const lower = UPPERCASE.test(name) ? name.toLowerCase() : null;
  if (name.startsWith(DENY_PREFIX) || (lower !== null && lower.startsWith(DENY_PREFIX))) {
    return refuse(res, DENY_STATUS, `stream name '${name}' is forbidden`, 'stream-guard');
  }
  if (lower !== null && lower !== name) {
    hook.name = lower;
    return send(res, 200, JSON.stringify(hook));
  }
  send(res, 200, body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return send(res, 405, '');
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') return refuse(res, 415, 'hooks must be application/json');
  const method = req.url.split('?')[0].split('/').pop();
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= BODY_LIMIT) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > BODY_LIMIT) return refuse(res, 413, 'body too large');
    decide(res, method, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
});

const listen = process.argv[2] || '127.0.0.1:0';
const colon = listen.lastIndexOf(':');
server.keepAliveTimeout = 60000;
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => {
  const { address, port } = server.address();
  console.log(`hookgate-bench listening: http://${address}:${port}`);
});
