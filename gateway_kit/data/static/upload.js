// Uploads from the dataset page through the chunked, resumable upload API (data/uploads.py):
// drag-and-drop or pickers, several files and whole folders, a progress bar per file, pause and
// resume. Resuming after a reload: the page lists the unfinished uploads; dropping the same file
// again opens the same upload (same path, size and SHA-256) and sends only the missing chunks.
// Every chunk carries its SHA-256 and the server checks the whole file's at the end; the browser
// computes them with WebCrypto (so the whole file is read once before the first chunk is sent).
(function () {
  "use strict";
  var root = document.getElementById("uploader");
  if (!root) { return; }
  var startUrl = root.dataset.start, csrf = root.dataset.csrf;
  var chunkSize = parseInt(root.dataset.chunk, 10), maxHash = parseInt(root.dataset.maxHash, 10);
  var PARALLEL = 3, RETRIES = 3;
  var list = document.getElementById("upload-list");
  var zone = document.getElementById("dropzone");
  var folderInput = document.getElementById("upload-folder");
  var queue = [], items = [], running = false;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function hex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function sha256(buf) { return crypto.subtle.digest("SHA-256", buf).then(hex); }
  function send(method, url, body, headers) {
    var h = { "Accept": "application/json", "X-CSRF-Token": csrf };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, { method: method, credentials: "same-origin", headers: h, body: body })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) {
            var err = new Error(data.detail || data.title || ("HTTP " + r.status));
            err.status = r.status;
            throw err;
          }
          return data;
        });
      });
  }
  var human = window.GK.size;

  // One row per file: its path, a progress bar, a status line and its pause/resume button.
  function Item(file, path) {
    this.file = file; this.path = path; this.paused = false; this.done = 0; this.info = null;
    this.row = el("li"); this.row.dataset.path = path;
    var head = el("div", null, "row");
    head.appendChild(el("strong", path));
    head.appendChild(el("span", human(file.size), "muted"));
    this.button = el("button", "Pause", "secondary");
    this.button.type = "button"; this.button.hidden = true;
    this.button.addEventListener("click", this.toggle.bind(this));
    head.appendChild(this.button);
    this.bar = el("progress"); this.bar.max = Math.max(1, file.size); this.bar.value = 0;
    this.status = el("div", "Waiting", "help upload-status");
    this.row.appendChild(head); this.row.appendChild(this.bar); this.row.appendChild(this.status);
    list.appendChild(this.row);
  }
  Item.prototype.say = function (text, state) {
    this.status.textContent = text;
    this.row.dataset.state = state || "";
  };
  Item.prototype.toggle = function () {
    if (this.paused) {
      this.paused = false; this.button.textContent = "Pause"; this.transfer().then(settled);
    } else {
      this.paused = true; this.button.textContent = "Resume";
      this.say("Pausing after the chunks in flight...", "pausing");
    }
  };
  Item.prototype.run = function () {
    var self = this;
    if (self.file.size > maxHash) {
      self.say("Too large for the browser (over " + human(maxHash) + "): use `gateway-kit datasets upload`.", "failed");
      return Promise.resolve(false);
    }
    self.say("Computing the checksum...", "hashing");
    return self.file.arrayBuffer().then(sha256).then(function (digest) {
      self.digest = digest;
      return send("POST", startUrl, JSON.stringify({
        path: self.path, size: self.file.size, sha256: digest, chunk_size: chunkSize
      }), { "Content-Type": "application/json" });
    }).then(function (info) {
      self.info = info;
      self.done = info.received.reduce(function (sum, i) { return sum + self.length(i); }, 0);
      self.bar.value = self.done;
      self.button.hidden = false;
      if (info.received.length) { self.say("Resuming: " + info.received.length + " of " + info.chunk_count + " chunks already sent.", "resuming"); }
      return self.transfer();
    }).catch(function (err) { self.fail(err); return false; });
  };
  Item.prototype.length = function (i) {
    return Math.min(this.info.chunk_size, this.file.size - i * this.info.chunk_size);
  };
  Item.prototype.fail = function (err) {
    this.say("Failed: " + err.message + " Drop the file again to resume.", "failed");
    this.button.hidden = true;
  };
  // Send the missing chunks, PARALLEL at a time; each is retried RETRIES times before giving up.
  Item.prototype.transfer = function () {
    var self = this, info = self.info;
    return send("GET", info.links.self).then(function (now) {
      var todo = now.missing.slice();
      if (!todo.length) { return self.finish(); }
      var broken = null;
      function one(index, attempt) {
        var start = index * info.chunk_size;
        var blob = self.file.slice(start, start + self.length(index));
        return blob.arrayBuffer().then(function (buf) {
          return sha256(buf).then(function (digest) {
            return send("PUT", info.links.chunks.replace("{index}", index), buf, {
              "Content-Type": "application/octet-stream", "X-Chunk-SHA256": digest
            });
          });
        }).then(function () {
          self.done += self.length(index);
          self.bar.value = self.done;
          if (!self.paused) { self.say("Uploading: " + Math.floor(100 * self.done / Math.max(1, self.file.size)) + " %", "uploading"); }
        }, function (err) {
          if (attempt < RETRIES && (!err.status || err.status >= 500 || err.status === 429)) {
            return new Promise(function (ok) { setTimeout(ok, 500 * (attempt + 1)); })
              .then(function () { return one(index, attempt + 1); });
          }
          throw err;
        });
      }
      function worker() {
        if (self.paused || broken || !todo.length) { return Promise.resolve(); }
        return one(todo.shift(), 0).then(worker, function (err) { broken = broken || err; });
      }
      var workers = [];
      for (var w = 0; w < PARALLEL; w += 1) { workers.push(worker()); }
      return Promise.all(workers).then(function () {
        if (broken) { throw broken; }
        if (self.paused) {
          self.say("Paused at " + Math.floor(100 * self.done / Math.max(1, self.file.size)) + " % (resumable, also after a reload).", "paused");
          return false;
        }
        return self.finish();
      });
    }).catch(function (err) { self.fail(err); return false; });
  };
  Item.prototype.finish = function () {
    var self = this;
    self.say("Verifying...", "verifying");
    return send("POST", self.info.links.complete).then(function () {
      self.bar.value = self.bar.max;
      self.button.hidden = true;
      self.say("Uploaded.", "done");
      return true;
    });
  };

  // Everything dropped so far has arrived: reload, so that the page's list shows the files.
  function settled() {
    if (running || queue.length) { return; }
    if (items.every(function (it) { return it.row.dataset.state === "done"; })) { window.location.reload(); }
  }
  function next() {
    if (!queue.length) { running = false; settled(); return; }
    running = true;
    queue.shift().run().then(next);
  }
  function add(file, rel) {
    var folder = (folderInput.value || "").replace(/^\/+|\/+$/g, "");
    var item = new Item(file, (folder ? folder + "/" : "") + rel.replace(/^\/+/, ""));
    items.push(item); queue.push(item);
    if (!running) { next(); }
  }
  // A dropped folder: read its entries (in batches, as the API gives them) recursively.
  function walk(entry) {
    if (entry.isFile) {
      return new Promise(function (ok, bad) { entry.file(ok, bad); }).then(function (f) {
        add(f, entry.fullPath);
      });
    }
    var reader = entry.createReader();
    return new Promise(function (ok, bad) {
      var all = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { Promise.all(all.map(walk)).then(ok, bad); return; }
          all = all.concat(Array.prototype.slice.call(batch));
          more();
        }, bad);
      })();
    });
  }

  zone.addEventListener("dragover", function (ev) { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    zone.classList.remove("over");
    var dt = ev.dataTransfer, entries = [];
    Array.prototype.forEach.call(dt.items || [], function (item) {
      var entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
      if (entry) { entries.push(entry); }
    });
    if (entries.length) {
      entries.forEach(function (e) { walk(e); });
    } else {
      Array.prototype.forEach.call(dt.files, function (f) { add(f, f.name); });
    }
  });
  function picked(input) {
    Array.prototype.forEach.call(input.files, function (f) { add(f, f.webkitRelativePath || f.name); });
    input.value = "";
  }
  document.querySelectorAll("[data-upload-pick]").forEach(function (input) {
    input.addEventListener("change", function () { picked(input); });
    // Files chosen while this script was still loading (their change event came too early).
    if (input.files && input.files.length) { picked(input); }
  });
})();
