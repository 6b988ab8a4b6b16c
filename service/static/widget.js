/*! alsosee widget: an "ALSO SEE:" list of related stories. No dependencies.
 *
 * Usage (see docs/http-api.md, "Widget"):
 *   <div data-alsosee-article="ARTICLE-ID" data-k="5"></div>
 *   <script src="https://alsosee.example.org/widget.js" defer></script>
 *
 * Options, as attributes of the container:
 *   data-k="5"             how many links (1 to 100, default 5)
 *   data-dates="off"       hide the publication dates
 *   data-alsosee-api="URL" the service's base URL (default: where widget.js came from)
 *   data-timeout="5000"    give up after this many milliseconds (500 to 60000, default 5000)
 *   data-placements="inline:3:1,end:6"  slots (docs/ranking.md, "Placements"): each slot's
 *                          links go into the container's descendant with the same slot,
 *                          <div data-alsosee-slot="inline" data-after-paragraph="3"></div> or
 *                          <div data-alsosee-slot="end"></div> (without one, the end block
 *                          goes into the container itself); a slot without one is not shown
 * On the <script> tag: data-alsosee-style="none" leaves all styling to the page.
 *
 * Markup (the same as the server's related.html fragment; class names are stable):
 *   aside.alsosee > h2.alsosee__heading + ul.alsosee__list > li.alsosee__item >
 *     a.alsosee__link (or span.alsosee__title when the story has no safe URL)
 *     + time.alsosee__date
 * The built-in styles use :where() (zero specificity): any page rule overrides them.
 *
 * Every value is inserted as text (textContent), never as HTML. When the article has no
 * related stories, or the service is down or slow, nothing is inserted (no layout shift)
 * and one warning is logged to the console per page.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 5000;
  var K_DEFAULT = 5;
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  var STYLE_ID = "alsosee-widget-style";
  var CSS =
    ":where(.alsosee){margin:1.5em 0;font-size:.95em}" +
    ":where(.alsosee__heading){font-size:1em;letter-spacing:.05em;margin:0 0 .5em}" +
    ":where(.alsosee__list){margin:0;padding-left:1.2em}" +
    ":where(.alsosee__item){margin:.25em 0}" +
    ":where(.alsosee__date){color:#555;font-size:.85em;margin-left:.4em}";
  // http(s), or a path that stays on this origin: browsers read "\" as "/", so "/\x" and
  // "//x" both leave the site; no backslash at all.
  var SLOT = "(?:inline:[1-9][0-9]{0,3}:[1-9][0-9]{0,2}|end:[1-9][0-9]{0,2})(?::pins)?";
  var PLACEMENTS = new RegExp("^" + SLOT + "(?:," + SLOT + ")*$");
  var SAFE_URL = /^(?:https?:\/\/[^\s\x00-\x1f\x7f\\\/]|\/(?![\/]))[^\s\x00-\x1f\x7f\\]*$/i;

  var script = document.currentScript;
  var warned = false;
  var counter = 0;

  function warn(message) {
    if (!warned && window.console && console.warn) {
      warned = true;
      console.warn("alsosee widget: " + message);
    }
  }

  function defaultBase() {
    if (script && script.src) {
      return script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
    }
    return "";
  }

  // A whole number from an attribute, within [low, high]; anything else gives the default.
  function parseBounded(value, low, high, fallback) {
    if (value && /^[0-9]{1,6}$/.test(value)) {
      var number = parseInt(value, 10);
      if (number >= low && number <= high) {
        return number;
      }
    }
    return fallback;
  }

  function formatDate(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) {
      return null;
    }
    return when.getUTCDate() + " " + MONTHS[when.getUTCMonth()] + " " + when.getUTCFullYear();
  }

  function addStyle() {
    if ((script && script.getAttribute("data-alsosee-style") === "none") ||
        document.getElementById(STYLE_ID)) {
      return;
    }
    var style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    (document.head || document.documentElement).appendChild(style);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function build(items, showDates) {
    var headingId = "alsosee-widget-heading-" + (++counter);
    var aside = el("aside", "alsosee");
    aside.setAttribute("aria-labelledby", headingId);
    var heading = el("h2", "alsosee__heading", "ALSO SEE:");
    heading.id = headingId;
    aside.appendChild(heading);
    var list = el("ul", "alsosee__list");
    for (var i = 0; i < items.length; i++) {
      var item = items[i] || {};
      var title = typeof item.title === "string" && item.title ? item.title : String(item.id);
      var li = el("li", "alsosee__item");
      var link;
      if (typeof item.url === "string" && SAFE_URL.test(item.url)) {
        link = el("a", "alsosee__link", title);
        link.href = item.url;
      } else {
        link = el("span", "alsosee__title", title);
      }
      li.appendChild(link);
      var label = showDates && typeof item.published_at === "string" ?
        formatDate(item.published_at) : null;
      if (label) {
        li.appendChild(document.createTextNode(" "));
        var time = el("time", "alsosee__date", label);
        time.setAttribute("datetime", item.published_at);
        li.appendChild(time);
      }
      list.appendChild(li);
    }
    aside.appendChild(list);
    return aside;
  }

  // The descendant of the container where a slot's links go (the end block: the container
  // itself when it has no end slot).
  function slotTarget(container, slot) {
    var nodes = container.querySelectorAll("[data-alsosee-slot]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.getAttribute("data-alsosee-slot") !== slot.slot) {
        continue;
      }
      if (slot.slot !== "inline" ||
          node.getAttribute("data-after-paragraph") === String(slot.after_paragraph)) {
        return node;
      }
    }
    return slot.slot === "end" ? container : null;
  }

  function renderSlots(container, slots, showDates, fail, id) {
    var shown = 0;
    for (var i = 0; i < slots.length; i++) {
      var slot = slots[i] || {};
      var items = Array.isArray(slot.related) ? slot.related : [];
      var target = items.length ? slotTarget(container, slot) : null;
      if (!target) {
        continue;
      }
      if (!shown) {
        addStyle();
      }
      target.appendChild(build(items, showDates));
      if (target !== container) {
        target.setAttribute("data-alsosee-state", "rendered");
      }
      shown++;
    }
    if (!shown) {
      fail("no related stories for the slots of article " + JSON.stringify(id) +
        "; nothing shown");
      return;
    }
    container.setAttribute("data-alsosee-state", "rendered");
  }

  function render(container) {
    if (container.getAttribute("data-alsosee-state")) {
      return;  // already rendered (or in flight)
    }
    var id = container.getAttribute("data-alsosee-article");
    if (!id) {
      return;
    }
    container.setAttribute("data-alsosee-state", "loading");
    var base = (container.getAttribute("data-alsosee-api") || defaultBase()).replace(/\/+$/, "");
    var url = base + "/v1/articles/" + encodeURIComponent(id) + "/related?k=" +
      parseBounded(container.getAttribute("data-k"), 1, 100, K_DEFAULT);
    var showDates = container.getAttribute("data-dates") !== "off";
    var placements = container.getAttribute("data-placements");
    if (placements) {
      if (!PLACEMENTS.test(placements)) {
        container.setAttribute("data-alsosee-state", "empty");
        warn("data-placements " + JSON.stringify(placements) + " is not a list of slots " +
          "such as inline:3:1,end:6; nothing shown");
        return;
      }
      url += "&placements=" + encodeURIComponent(placements);
    }

    function fail(message) {
      container.setAttribute("data-alsosee-state", "empty");
      warn(message);
    }

    if (!window.fetch) {
      fail("this browser has no fetch(); nothing shown");
      return;
    }
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) {
        controller.abort();
      }
    }, parseBounded(container.getAttribute("data-timeout"), 500, 60000, TIMEOUT_MS));
    fetch(url, {
      mode: "cors",
      credentials: "omit",
      headers: { "Accept": "application/json" },
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status + " for article " + JSON.stringify(id));
      }
      return response.json();
    }).then(function (body) {
      clearTimeout(timer);
      if (placements) {
        renderSlots(container, body && Array.isArray(body.placements) ? body.placements : [],
          showDates, fail, id);
        return;
      }
      var items = body && Array.isArray(body.related) ? body.related : [];
      if (!items.length) {
        fail("no related stories for article " + JSON.stringify(id) + "; nothing shown");
        return;
      }
      addStyle();
      container.appendChild(build(items, showDates));
      container.setAttribute("data-alsosee-state", "rendered");
    }).catch(function (error) {
      clearTimeout(timer);
      fail("related stories unavailable (" + (error && error.message || error) +
        "); nothing shown");
    });
  }

  function renderAll(root) {
    var nodes = (root || document).querySelectorAll("[data-alsosee-article]");
    for (var i = 0; i < nodes.length; i++) {
      render(nodes[i]);
    }
  }

  window.AlsoSee = { render: render, renderAll: renderAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  } else {
    renderAll();
  }
})();
