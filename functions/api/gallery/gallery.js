// photosort gallery: plain JS, no build step, no framework. Talks to the albums API next to it (/api/...).
"use strict";

const state = { config: null, token: null, observer: null };
// Photos per page: ?page=N in the page's URL (1-100), 24 by default.
const PAGE = Math.min(100, Math.max(1, parseInt(new URLSearchParams(location.search).get("page"), 10) || 24));
const main = () => document.getElementById("main");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function pct(value) { return `${Number(value).toFixed(1)}%`; }
function day(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// ------------------------------------------------------------------------------------------------ sign-in
// Cognito: authorization code flow with PKCE against the user pool's hosted UI; tokens stay in sessionStorage.
function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function redirectUri() { return `${location.origin}${location.pathname}`; }

async function signIn() {
  const cognito = state.config.cognito;
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const nonce = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("photosort.pkce", JSON.stringify({ verifier, nonce, hash: location.hash }));
  const params = new URLSearchParams({
    response_type: "code", client_id: cognito.client_id, redirect_uri: redirectUri(), scope: "openid email",
    code_challenge_method: "S256", code_challenge: challenge, state: nonce,
  });
  location.assign(`https://${cognito.domain}/oauth2/authorize?${params}`);
}

async function finishSignIn() {
  const query = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("photosort.pkce") || "null");
  if (!query.get("code") || !saved || query.get("state") !== saved.nonce) return;
  sessionStorage.removeItem("photosort.pkce");
  const cognito = state.config.cognito;
  const response = await fetch(`https://${cognito.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: cognito.client_id, code: query.get("code"),
      redirect_uri: redirectUri(), code_verifier: saved.verifier,
    }),
  });
  if (response.ok) {
    const tokens = await response.json();
    sessionStorage.setItem("photosort.token", tokens.id_token);
  }
  history.replaceState(null, "", `${location.pathname}${saved.hash || ""}`);
}

function signOut() {
  // Forget the token here, then end the hosted UI's session too (it would sign straight back in otherwise).
  sessionStorage.removeItem("photosort.token");
  const cognito = state.config.cognito;
  const params = new URLSearchParams({ client_id: cognito.client_id, logout_uri: redirectUri() });
  location.assign(`https://${cognito.domain}/logout?${params}`);
}

// ---------------------------------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

// The ID token, unless it has expired (Cognito's last 60 minutes here): an expired one would only earn a 401.
function storedToken() {
  const token = sessionStorage.getItem("photosort.token");
  if (!token) return null;
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    if (typeof claims.exp === "number" && claims.exp * 1000 > Date.now() + 10000) return token;
  } catch (error) { /* not a JWT: drop it */ }
  sessionStorage.removeItem("photosort.token");
  return null;
}

async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  const headers = {};
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${state.config.api}${path}${query.size ? `?${query}` : ""}`, { headers });
  const body = await response.json().catch(() => null);
  if (response.status === 401) sessionStorage.removeItem("photosort.token"); // refused: sign in afresh
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function showError(error) {
  const box = el("div", { class: "error", role: "alert" });
  if (error.status === 401 || error.status === 403) {
    if (state.config.cognito) {
      box.append("Please sign in to see your albums.");
      document.getElementById("signin").hidden = false;
      document.getElementById("signout").hidden = true;
    } else if (state.config.auth === "iam") {
      box.append("This API uses IAM (SigV4) auth, which a browser cannot sign: deploy with ApiAuth=cognito for the gallery.");
    } else box.append(error.message);
  } else box.append(error.message);
  main().replaceChildren(box);
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren();
  parts.forEach((part, i) => {
    if (i) nav.append(" / ");
    nav.append(part.href ? el("a", { href: part.href, text: part.text }) : part.text);
  });
}

// Thumbnails are made on a photo's first view: a presigned URL of one not made yet fails to load, so ask the API
// to make it (GET /api/photos/{id}/thumbnail) and load the URL it answers; a second failure marks it missing.
function lazyThumbnail(img, imageId) {
  const missing = () => { img.removeAttribute("src"); img.classList.add("missing"); };
  img.addEventListener("error", () => {
    if (!imageId) return missing();
    api(`/photos/${encodeURIComponent(imageId)}/thumbnail`)
      .then((made) => { img.addEventListener("error", missing, { once: true }); img.src = made.url; })
      .catch(missing);
  }, { once: true });
  return img;
}

function thumb(url, alt, imageId) {
  const img = el("img", { class: "thumb", alt, loading: "lazy", decoding: "async" });
  lazyThumbnail(img, url ? imageId : null);
  if (url) img.src = url;
  return img;
}

// -------------------------------------------------------------------------------------------------- views
async function showAlbums() {
  crumbs({ text: "Albums" });
  const data = await api("/albums");
  if (!data.albums.length) {
    main().replaceChildren(el("p", { class: "status", text: "No albums yet: drop photos under incoming/." }));
    return;
  }
  const grid = el("div", { class: "grid albums", "data-testid": "albums" });
  for (const album of data.albums) {
    const label = `${album.count} photo${album.count === 1 ? "" : "s"}`;
    grid.append(el("a", { class: "card album", href: `#/album/${encodeURIComponent(album.album)}`, "data-album": album.album, "data-count": album.count },
      thumb(album.cover && album.cover.thumbnail_url, `Cover of ${album.album}`, album.cover && album.cover.image_id),
      el("div", { class: "meta" },
        el("span", { class: "name", text: album.album }, album.kind === "inventory" ? el("span", { class: "kind", text: "inventory" }) : null),
        el("span", { class: "count", text: label }))));
  }
  main().replaceChildren(el("h1", { text: "Albums" }, el("small", { text: `${data.albums.length} albums` })), grid);
}

function photoTile(photo, caption) {
  return el("a", { class: "card photo", href: `#/photo/${photo.image_id}`, "data-image-id": photo.image_id, "data-taken-at": photo.taken_at },
    thumb(photo.thumbnail_url, `${photo.label} ${pct(photo.confidence)}`, photo.image_id),
    el("div", { class: "meta", text: caption }));
}

function pager(load) {
  // "Load more" button, pressed automatically when it scrolls into view (infinite scroll).
  const button = el("button", { class: "more", type: "button", text: "Load more" });
  const wrap = el("div", { class: "more-wrap" }, button);
  let busy = false;
  const next = async () => {
    if (busy) return;
    busy = true;
    button.disabled = true;
    try {
      if (!(await load())) { wrap.remove(); if (state.observer) state.observer.disconnect(); }
    } catch (error) { showError(error); }
    busy = false;
    button.disabled = false;
    if (wrap.isConnected && state.observer) { state.observer.unobserve(button); state.observer.observe(button); } // still in view: go on
  };
  button.addEventListener("click", next);
  if (state.observer) state.observer.disconnect();
  state.observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) next(); });
  return { wrap, start: () => state.observer.observe(button) };
}

async function showAlbum(name) {
  crumbs({ text: "Albums", href: "#/" }, { text: name });
  let token = null;
  const grid = el("div", { class: "grid photos", "data-testid": "photos" });
  const first = await api(`/albums/${encodeURIComponent(name)}/photos`, { limit: PAGE });
  const heading = el("h1", { text: name }, el("small", { text: `${first.count} photos, newest first` }));
  const add = (page) => { for (const p of page.photos) grid.append(photoTile(p, day(p.taken_at))); token = page.next_token; return Boolean(token); };
  const more = add(first);
  const { wrap, start } = pager(async () => add(await api(`/albums/${encodeURIComponent(name)}/photos`, { limit: PAGE, next: token })));
  main().replaceChildren(heading, grid, ...(more ? [wrap] : []));
  if (more) start();
}

async function showSearch(label) {
  crumbs({ text: "Albums", href: "#/" }, { text: `Search “${label}”` });
  document.getElementById("search-input").value = label;
  let token = null;
  const grid = el("div", { class: "grid photos", "data-testid": "results" });
  const add = (page) => {
    for (const p of page.photos) grid.append(photoTile(p, `${p.label} ${pct(p.confidence)}`));
    token = page.next_token;
    return Boolean(token);
  };
  const first = await api("/search", { label, limit: PAGE });
  const more = add(first);
  const heading = el("h1", { text: `Photos labelled “${label}”` });
  const empty = first.photos.length ? null : el("p", { class: "status", text: more ? "Nothing in the first part of the library yet." : "No photos with that label." });
  const { wrap, start } = pager(async () => add(await api("/search", { label, limit: PAGE, next: token })));
  main().replaceChildren(heading, ...(empty ? [empty] : []), grid, ...(more ? [wrap] : []));
  if (more) start();
}

function bar(confidence) {
  const fill = el("span", { class: "bar-fg" });
  fill.style.width = `${Math.min(100, confidence)}%`; // CSSOM, allowed by the page's CSP (no inline styles)
  return fill;
}

function facts(rows) {
  const dl = el("dl", { class: "facts" });
  for (const [name, value] of rows) if (value !== null && value !== undefined && value !== "") dl.append(el("dt", { text: name }), el("dd", {}, value));
  return dl;
}

async function showPhoto(id) {
  const photo = await api(`/photos/${encodeURIComponent(id)}`);
  const album = photo.albums[0];
  crumbs({ text: "Albums", href: "#/" }, ...(album ? [{ text: album.album, href: `#/album/${encodeURIComponent(album.album)}` }] : []), { text: photo.image_id.slice(0, 8) });
  const labels = el("ul", { class: "labels", "data-testid": "labels" });
  for (const label of photo.labels) {
    labels.append(el("li", { "data-label": label.name },
      el("span", { class: "label-name", text: label.name, title: label.parents.join(" › ") }),
      el("span", { class: "bar-bg" }, bar(label.confidence)),
      el("span", { class: "conf", text: pct(label.confidence) })));
  }
  const meta = photo.metadata || {};
  const original = photo.urls.original ? el("a", { href: photo.urls.original, target: "_blank", rel: "noopener", text: "open the original" }) : null;
  const faces = Array.isArray(photo.faces) ? `${photo.faces.length}` : (photo.faces && typeof photo.faces === "object" ? JSON.stringify(photo.faces) : photo.faces);
  const panel = el("section", { class: "panel" },
    el("h2", { text: "Why it is here" }), el("p", { class: "reason", "data-testid": "reason", text: `${photo.status}: ${photo.reason}` }),
    el("h2", { text: "Labels" }), photo.labels.length ? labels : el("p", { class: "status", text: "No labels." }),
    el("h2", { text: "Where the original is" }),
    facts([["location", el("code", { "data-testid": "location", text: photo.original_location })], ["uploaded as", el("code", { text: photo.source_key })], ["download", original]]),
    el("h2", { text: "Photo" }),
    facts([
      ["size", meta.width ? `${meta.width} × ${meta.height} ${meta.format}` : null], ["taken", meta.taken_at ? new Date(meta.taken_at).toLocaleString() : null],
      ["camera", [meta.camera_make, meta.camera_model].filter(Boolean).join(" ")], ["faces", faces],
      ["albums", photo.albums.map((m) => `${m.album} (${m.label} ${pct(m.confidence)})`).join(", ")],
      ["classified by", photo.backend ? `${photo.backend} ${photo.model_version || ""}` : null],
      ["duplicate of", photo.duplicate_of], ["image id", el("code", { text: photo.image_id })],
    ]));
  const picture = el("img", { alt: photo.labels[0] ? photo.labels[0].name : "photo", "data-testid": "detail-image" });
  lazyThumbnail(picture, photo.urls.thumbnail ? photo.image_id : null);
  if (photo.urls.thumbnail) picture.src = photo.urls.thumbnail;
  main().replaceChildren(el("div", { class: "detail" }, picture, panel));
}

// ------------------------------------------------------------------------------------------------- router
async function route() {
  if (state.observer) state.observer.disconnect();
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = hash.split("/");
  const arg = rest.join("/");
  try {
    if (view === "album" && arg) await showAlbum(arg);
    else if (view === "photo" && arg) await showPhoto(arg);
    else if (view === "search" && arg) await showSearch(arg);
    else await showAlbums();
    document.body.dataset.view = view || "albums";
  } catch (error) { showError(error); }
}

async function start() {
  state.config = await (await fetch("config.json")).json();
  if (state.config.cognito) await finishSignIn();
  document.getElementById("signin").addEventListener("click", signIn);
  document.getElementById("signout").addEventListener("click", signOut);
  document.getElementById("signout").hidden = !(state.config.cognito && storedToken());
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const label = document.getElementById("search-input").value.trim();
    if (label) location.hash = `#/search/${encodeURIComponent(label)}`;
  });
  window.addEventListener("hashchange", route);
  await route();
}

start();
