// What a page knows when it starts: the server's config (inline JSON) and the
// stream id in its path.

// pageConfig reads the inline <script type="application/json" id="lc-config">.
export function pageConfig() {
  const el = document.getElementById("lc-config");
  try {
    return { guests: false, ...JSON.parse(el?.textContent || "{}") };
  } catch {
    return { guests: false };
  }
}

// streamIdFromPath returns the {id} of /watch/{id}, /studio/{id}, /moderate/{id}.
export function streamIdFromPath(pathname = location.pathname) {
  const parts = pathname.split("/").filter(Boolean);
  if (parts.length < 2) return "";
  try {
    return decodeURIComponent(parts[1]);
  } catch {
    return parts[1];
  }
}

// streamPath returns the API path of a stream, with its id escaped.
export const streamPath = (id, rest = "") => `/api/streams/${encodeURIComponent(id)}${rest}`;
