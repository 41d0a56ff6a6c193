// fetchlog records every fetch of the page (what the client library asked
// and what livecart answered) in window.requests, for the test to read.
// It is imported before the library, so the library's calls go through it.
window.requests = [];
const fetch0 = window.fetch.bind(window);
window.fetch = async (input, init = {}) => {
  const headers = init.headers || {};
  const entry = {
    method: (init.method || "GET").toUpperCase(),
    url: String(input),
    ifMatch: headers["If-Match"] || "",
    body: typeof init.body === "string" ? init.body : "",
    status: 0,
  };
  window.requests.push(entry);
  try {
    const res = await fetch0(input, init);
    entry.status = res.status;
    return res;
  } catch (e) {
    entry.error = String(e);
    throw e;
  }
};
