// Tokens: taken from ?token= (the --demo URLs and the brand's links carry
// one), kept in localStorage per scope ("viewer", "staff"), and removed from
// the address bar so that it is not bookmarked, shared or sent as a Referer.

const memory = new Map();

function store() {
  try {
    const s = globalThis.localStorage;
    s.getItem("livecart.probe");
    return s;
  } catch {
    return null; // storage disabled: keep tokens for this page only
  }
}

const keyOf = (scope) => `livecart.token.${scope}`;

export function saveToken(scope, token) {
  memory.set(scope, token);
  try {
    store()?.setItem(keyOf(scope), token);
  } catch {
    /* quota or disabled: memory only */
  }
}

export function clearToken(scope) {
  memory.delete(scope);
  try {
    store()?.removeItem(keyOf(scope));
  } catch {
    /* ignore */
  }
}

export function loadToken(scope) {
  let t = memory.get(scope) || null;
  if (!t) {
    try {
      t = store()?.getItem(keyOf(scope)) || null;
    } catch {
      t = null;
    }
  }
  if (t && isExpired(t)) {
    clearToken(scope);
    return null;
  }
  return t;
}

// takeToken moves ?token= from the URL into storage and returns the token
// of this scope (from the URL or kept from before), or null.
export function takeToken(scope) {
  const url = new URL(location.href);
  const fromURL = url.searchParams.get("token");
  if (fromURL) {
    saveToken(scope, fromURL);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  return loadToken(scope);
}

// claims decodes a token's payload for display only (the server verifies).
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

function isExpired(token) {
  const c = claims(token);
  return !!(c && typeof c.exp === "number" && c.exp * 1000 < Date.now());
}
