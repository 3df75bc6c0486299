// Photos and documents from the phone straight to object storage, with progress and retries.
//
// For each file: SHA-256 in the browser (the evidence service checks the stored bytes against
// it), ask our server for a presigned form, send the bytes to object storage with a progress
// bar, then tell our server the upload is there. A dropped network is retried with backoff
// (an expired form is replaced by a new one); after the automatic tries a Retry button stays.
"use strict";
(function () {
  const box = document.getElementById("uploader");
  if (!box) return;
  const form = document.getElementById("upload-form");
  const list = document.getElementById("upload-list");
  const csrf = box.dataset.csrf;
  const AUTO_TRIES = 4;

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer)).map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  function requestId() {
    return hex(crypto.getRandomValues(new Uint8Array(16)).buffer);
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const error = new Error(data.message || data.reason || String(response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // One try at the object store; resolves on 2xx, rejects with .network for a dropped line.
  function send(slot, file, bar) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const body = new FormData();
      for (const [name, value] of Object.entries(slot.fields || {})) body.append(name, value);
      body.append("file", file);
      xhr.open(slot.method || "POST", slot.url);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else { const err = new Error("storage " + xhr.status); err.status = xhr.status; reject(err); }
      };
      xhr.onerror = () => { const err = new Error("network"); err.network = true; reject(err); };
      xhr.ontimeout = xhr.onerror;
      xhr.send(slot.method === "PUT" ? file : body);
    });
  }

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    const status = document.createElement("span");
    status.className = "status";
    li.append(name, bar, status);
    list.append(li);
    return { li, bar, status };
  }

  async function upload(file, kind, ui) {
    ui.status.textContent = "";
    const digest = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
    const ask = () => postJson(box.dataset.create, {
      request_id: requestId(), kind: kind, content_type: file.type || "application/octet-stream",
      size_bytes: file.size, sha256: digest, file_name: file.name,
    });
    let slot = await ask();
    for (let attempt = 1; ; attempt++) {
      try {
        await send(slot, file, ui.bar);
        break;
      } catch (err) {
        if (attempt >= AUTO_TRIES) throw err;
        ui.status.textContent = box.dataset.msgRetrying;
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
        if (err.status === 403) slot = await ask(); // the form expired: a new one
      }
    }
    ui.status.textContent = box.dataset.msgChecking;
    const done = await postJson(box.dataset.create + "/" + encodeURIComponent(slot.upload_id) + "/complete");
    ui.bar.value = 100;
    ui.status.textContent = box.dataset.msgDone + (done.flags && done.flags.length ? " — " + done.flags.join("; ") : "");
    ui.li.classList.add("done");
  }

  function start(file, kind) {
    const ui = row(file);
    const go = () => upload(file, kind, ui).catch((err) => {
      ui.status.textContent = box.dataset.msgFailed + " " + err.message + " ";
      ui.li.classList.add("failed");
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = box.dataset.msgRetry;
      again.addEventListener("click", () => { again.remove(); ui.li.classList.remove("failed"); go(); });
      ui.status.append(again);
    });
    return go();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = form.elements.kind.value;
    const files = Array.from(form.elements.files.files);
    for (const file of files) await start(file, kind);
    form.reset();
    if (files.length) document.dispatchEvent(new CustomEvent("elevins:uploaded"));
  });
})();
