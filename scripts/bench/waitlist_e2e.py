#!/usr/bin/env python3
# waitlist_e2e.py BASE ROUNDS (LIVECART_SECRET: the server's secret): over HTTP against a running livecart, per round:
# a product of 100 units in stream wl, bought out by 100 viewers (one unit
# each), 1,000 other viewers join its waitlist one after another, then the
# host cancels the 100 orders at once (100 threads released together,
# 25 from each of 127.0.0.2-5).
# Timed: first cancel sent -> last cancel answered (a cancel answers after
# offering what it gave back). Then checked over HTTP: each of the first
# 100 in line holds one offer, nobody else does, the other 900 keep their
# places in order, stock 0.
import os, datetime, base64, hashlib, hmac, json, sys, threading, time, http.client, uuid
BASE, ROUNDS = sys.argv[1], int(sys.argv[2])
SECRET = os.environ.get('LIVECART_SECRET', 'bench-secret-0123456789abcdef').encode()
host, port = BASE.split('//')[1].split(':')
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=')
def token(sub, role):
    h = b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())
    p = b64(json.dumps({'sub': sub, 'name': sub, 'role': role, 'exp': int(time.time()) + 7200}).encode())
    return (h + b'.' + p + b'.' + b64(hmac.new(SECRET, h + b'.' + p, hashlib.sha256).digest())).decode()
local = threading.local()
def call(method, path, tok, body=None, idem=None, src=None):
    c = getattr(local, 'c', None)
    if c is None:
        c = local.c = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(src, 0) if src else None)
    hd = {'Authorization': 'Bearer ' + tok, 'Content-Type': 'application/json'}
    if idem: hd['Idempotency-Key'] = idem
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=hd)
    r = c.getresponse(); data = r.read()
    try:
        return r.status, (json.loads(data) if data else None)
    except ValueError:
        return r.status, data
HOST = token('load-host', 'host')
st, _ = call('POST', '/api/streams', HOST, {'id': 'wl', 'title': 'waitlist'})
assert st in (201, 200, 409), st
run = uuid.uuid4().hex[:6]
for r in range(ROUNDS):
    sku = 'w%s%d' % (run, r)
    st, b = call('PUT', '/api/products/' + sku, HOST, {'name': 'Flash', 'price_cents': 500, 'currency': 'EUR', 'stock': 100}); assert st in (200, 201), (st, b)
    st, b = call('PUT', '/api/streams/wl/lineup', HOST, {'skus': [sku]}); assert st in (200, 204), (st, b)
    orders = []
    for j in range(100):
        st, b = call('POST', '/api/streams/wl/buy', token('%s-b%d' % (sku, j), 'viewer'), {'sku': sku, 'qty': 1}, idem=uuid.uuid4().hex)
        assert st == 201, (st, b); orders.append(b['id'])
    line = ['%s-w%04d' % (sku, j) for j in range(1000)]
    toks = {u: token(u, 'viewer') for u in line}
    for j, u in enumerate(line):
        st, b = call('POST', '/api/streams/wl/waitlist', toks[u], {'sku': sku}); assert st == 201 and b['position'] == j + 1, (st, b)
    gate = threading.Barrier(101); done = [None] * 100; res = [None] * 100
    def cancel(i):
        try:
            # open this thread's connection first, from one of four loopback
            # addresses: the server admits 64 requests in flight per address
            call('GET', '/healthz', HOST, src='127.0.0.%d' % (2 + i % 4))
            gate.wait(timeout=60)
            res[i] = call('POST', '/api/orders/%s/cancel' % orders[i], HOST)[0]
        except Exception as e:
            gate.abort(); res[i] = repr(e)
        done[i] = time.perf_counter()
    ts = [threading.Thread(target=cancel, args=(i,)) for i in range(100)]
    for t in ts: t.start()
    gate.wait(timeout=60); t0 = time.perf_counter()
    for t in ts: t.join()
    el = max(done) - t0
    bad = []
    offered_at = []
    for j, u in enumerate(line):
        st, b = call('GET', '/api/streams/wl/waitlist', toks[u])
        has = len(b['offers']); pos = [i['position'] for i in b['items']]
        if j < 100:
            if has != 1 or pos: bad.append((j + 1, 'offers %d places %s' % (has, pos)))
            else: offered_at.append(datetime.datetime.fromisoformat(b['offers'][0]['held_until'].replace('Z', '+00:00')))
        else:
            if has or pos != [j - 99]: bad.append((j + 1, 'offers %d places %s' % (has, pos)))
    st, p = call('GET', '/api/products/' + sku, HOST)
    inorder = offered_at == sorted(offered_at)
    print('round %d: 100 cancels in %.1f ms; cancel answers %s; stock after %d; viewers wrong %d%s; offers held_until in line order: %s'
          % (r + 1, el * 1000, {k: res.count(k) for k in set(res)}, p['stock'], len(bad), (' e.g. ' + str(bad[:5])) if bad else '', inorder))
    sys.stdout.flush()
