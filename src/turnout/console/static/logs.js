// The log tail: fetches the newest records, then polls with the cursor every 1.5 s while "follow live" is on.
(function () {
  "use strict";
  var tail = document.getElementById("tail");
  if (!tail) return;
  var base = tail.dataset.url, cursor = null, body = document.querySelector("#records tbody");
  var follow = document.getElementById("follow"), KEEP = 1000;

  function cell(row, value, cls) {
    var td = document.createElement("td"), pre;
    if (cls === "pre") { pre = document.createElement("pre"); pre.textContent = value; td.appendChild(pre); }
    else td.textContent = value;
    row.appendChild(td);
  }

  function add(records) {
    records.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = r.error ? "bad" : "";
      tr.dataset.requestId = r.request_id;
      cell(tr, r.time.slice(0, 23).replace("T", " ")); cell(tr, r.version); cell(tr, r.request_id);
      cell(tr, r.duration_ms); cell(tr, (r.error ? r.error + " · " : "") + (r.text || ""), "pre");
      body.appendChild(tr);
    });
    while (body.children.length > KEEP) body.removeChild(body.firstChild);
  }

  function poll() {
    if (cursor !== null && !follow.checked) { setTimeout(poll, 1500); return; }
    var url = base + (cursor ? "&after=" + encodeURIComponent(cursor) : "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          add(data.records); cursor = data.next; tail.dataset.polled = "yes";
          var missing = document.getElementById("missing");
          missing.hidden = !data.missing_nodes.length;
          missing.textContent = data.missing_nodes.length ? "Nodes that did not answer: " +
            data.missing_nodes.map(function (m) { return m.node + " (" + m.reason + ")"; }).join(", ") : "";
        }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
