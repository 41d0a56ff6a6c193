/*
 * livecart embed: put a live show's player, product card and Buy button on
 * any page with one tag:
 *
 *   <script src="https://LIVECART-HOST/embed.js" data-stream="STREAM-ID" async></script>
 *
 * Optional attributes: data-token (a viewer token the shop minted for its
 * signed-in customer), data-target (a CSS selector of the element to fill;
 * by default the player goes right after the script tag).
 *
 * Everything else loads from the same host as this script, by absolute URL.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var src = new URL(script.src, location.href);
  var base = src.href.replace(/\/embed\.js(?:[?#].*)?$/, "");
  var stream = script.getAttribute("data-stream");
  if (!stream) {
    console.error("livecart embed: data-stream is missing on the script tag");
    return;
  }
  var mount = document.createElement("div");
  mount.className = "livecart-embed";
  mount.setAttribute("data-testid", "livecart-embed");
  mount.setAttribute("data-stream", stream);
  var target = script.getAttribute("data-target");
  var token = script.getAttribute("data-token") || null;
  function start() {
    var into = target && document.querySelector(target);
    if (into) into.appendChild(mount);
    else script.parentNode.insertBefore(mount, script.nextSibling);
    import(base + "/assets/js/embed-app.js")
      .then(function (m) {
        return m.mount(mount, { base: base, stream: stream, token: token });
      })
      .catch(function (err) {
        console.error("livecart embed: could not load from " + base, err);
      });
  }
  // A target placed after the script tag exists only once the page is parsed.
  if (target && !document.querySelector(target) && document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
