/* socialfusion dashboard. Every page reads the server's JSON API (/api/v1) with the session cookie; every state-
   changing request sends the page's CSRF token in X-CSRF-Token. Data reaches the page as text only (textContent,
   never innerHTML), so post text, handles and hashtags that hold markup or script show as typed. */
"use strict";

(() => {
  const API = "/api/v1";
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";
  const DAY_MS = 86400000;

  // -- DOM helpers (text only) ---------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "className") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function message(node, text, isError) {
    clear(node).append(el("p", { className: isError ? "error" : "hint", text }));
  }

  function shortTime(value) {
    return value ? String(value).replace("T", " ").slice(0, 16) : "";
  }

  function dayString(date) {
    return date.toISOString().slice(0, 10);
  }

  // -- API -------------------------------------------------------------------------------------------------------

  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    let body = opts.body;
    if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = CSRF;
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const response = await fetch(path, { method: opts.method || "GET", headers, body, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign("/ui/login");
      throw new Error("logged out");
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const text = data && data.error ? data.error.message : `${response.status} ${response.statusText}`;
      throw new Error(text);
    }
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (Array.isArray(value)) value.forEach((item) => search.append(name, item));
      else if (value !== undefined && value !== null && value !== "") search.append(name, value);
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  // -- posts: table, chips, detail -------------------------------------------------------------------------------

  function sentimentChip(sentiment) {
    if (!sentiment) return null;
    return el("span", { className: `chip sentiment ${sentiment.label}`, text: sentiment.label });
  }

  function topicChip(topic) {
    if (!topic) return null;
    const chip = el("span", { className: "chip topic", text: topic.label || `topic ${topic.topic_id}` });
    if (topic.color) chip.style.borderLeftColor = topic.color;
    return chip;
  }

  function thumbnail(post) {
    const index = (post.media || []).findIndex((item) => item.kind === "image" && !item.error);
    if (index < 0) return null;
    return el("img", { className: "thumb", alt: "image", loading: "lazy",
                       src: `${API}/dashboard/media/${encodeURIComponent(post.post_id)}/${index}` });
  }

  async function postTable(container, posts, emptyText) {
    clear(container);
    if (!posts.length) {
      message(container, emptyText || "No posts.");
      return;
    }
    let notes = {};
    try {
      notes = await api(`${API}/dashboard/annotations${query({ post_id: posts.map((post) => post.post_id) })}`);
    } catch (error) {
      container.append(el("p", { className: "error", text: `Sentiment and topics unavailable: ${error.message}` }));
    }
    const body = el("tbody");
    for (const post of posts) {
      const note = notes[post.post_id] || {};
      const row = el("tr", { className: "clickable post-row", dataset: { postId: post.post_id } },
        el("td", {}, thumbnail(post)),
        el("td", { text: shortTime(post.created_at) }),
        el("td", { className: "author", text: post.author_id || "" }),
        el("td", { className: "post-text", text: (post.text || "").slice(0, 280) }),
        el("td", {}, sentimentChip(note.sentiment), topicChip(note.topic)),
        el("td", { className: "tags", text: (post.hashtags || []).map((tag) => `#${tag}`).join(" ") }));
      row.addEventListener("click", () => showPost(post.post_id));
      body.append(row);
    }
    const head = el("thead", {}, el("tr", {}, ["", "Time", "Author", "Text", "Sentiment · topic", "Hashtags"]
      .map((name) => el("th", { text: name }))));
    container.append(el("div", { className: "table-wrap" }, el("table", { className: "data posts" }, head, body)));
  }

  async function loadPosts(container, params, title) {
    message(container, "Loading…");
    let page;
    try {
      page = await api(`${API}/posts${query({ limit: 50, ...params })}`);
    } catch (error) {
      message(container, error.message, true);
      return;
    }
    const holder = el("div");
    clear(container);
    if (title) container.append(el("p", { className: "hint drill-filter", text: title }));
    container.append(holder);
    await postTable(holder, page.posts, "No posts match.");
    if (page.next_cursor) {
      const more = el("button", { type: "button", className: "secondary", text: "More posts" });
      more.addEventListener("click", async () => {
        more.disabled = true;
        const next = await api(`${API}/posts${query({ limit: 50, ...params, cursor: page.next_cursor })}`);
        page = next;
        const extra = el("div");
        more.before(extra);
        await postTable(extra, next.posts, "No more posts.");
        if (next.next_cursor) more.disabled = false;
        else more.remove();
      });
      container.append(more);
    }
  }

  function kv(pairs) {
    const list = el("dl", { className: "kv" });
    for (const [name, value] of pairs) {
      if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) continue;
      list.append(el("dt", { text: name }), el("dd", {}, value instanceof Node ? value : String(value)));
    }
    return list;
  }

  async function showPost(postId) {
    const panel = document.getElementById("detail");
    const body = document.getElementById("detail-body");
    panel.hidden = false;
    message(body, "Loading…");
    let detail;
    try {
      detail = await api(`${API}/posts/${encodeURIComponent(postId)}`);
    } catch (error) {
      message(body, error.message, true);
      return;
    }
    const post = detail.post;
    clear(body);
    body.append(
      el("p", { className: "post-text", id: "detail-text", text: post.text || "(no text)" }),
      el("div", {}, sentimentChip(detail.sentiment), topicChip(detail.topic)),
      kv([["post", post.post_id], ["author", post.author_id], ["time", shortTime(post.created_at)],
          ["language", post.lang], ["platform", post.platform],
          ["hashtags", (post.hashtags || []).map((tag) => `#${tag}`).join(" ")],
          ["mentions", (post.mentions || []).map((name) => `@${name}`).join(" ")],
          ["links", (post.urls || []).join(" ")],
          ["likes · shares · replies", [post.like_count, post.share_count, post.reply_count].map((n) => n ?? "–").join(" · ")],
          ["sentiment confidence", detail.sentiment && detail.sentiment.confidence !== null ? detail.sentiment.confidence.toFixed(3) : null],
          ["media", (post.media || []).map((item) => item.error ? `${item.kind} (${item.error})` : item.kind).join(", ")],
          ["features", (detail.features || []).map((f) => `${f.encoder}${f.missing ? ` (missing: ${f.reason})` : ""}`).join(", ")]]));
    (post.media || []).forEach((item, index) => {
      if (item.kind === "image" && !item.error) {
        body.append(el("img", { className: "thumb", alt: "image",
                                src: `${API}/dashboard/media/${encodeURIComponent(post.post_id)}/${index}` }));
      }
    });
    const similar = el("div");
    const button = el("button", { type: "button", className: "secondary", text: "More like this" });
    button.addEventListener("click", async () => {
      message(similar, "Loading…");
      try {
        const found = await api(`${API}/posts/${encodeURIComponent(post.post_id)}/similar?k=10`);
        await postTable(similar, found.hits.map((hit) => hit.post), "No similar posts.");
      } catch (error) {
        message(similar, error.message, true);
      }
    });
    body.append(el("p", {}, button), similar);
  }

  // -- drill-down ----------------------------------------------------------------------------------------------

  function drill(params, title) {
    const panel = document.getElementById("drill");
    panel.hidden = false;
    document.getElementById("drill-title").textContent = title;
    loadPosts(document.getElementById("drill-body"), params, null);
    panel.scrollIntoView({ block: "nearest" });
  }

  function unescapeLabel(text) {
    // chart labels from user data are entity-escaped on the server (report._figures): back to the text typed
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  const DATE = /^(\d{4}-\d{2}-\d{2})/;

  function pointFilter(point, payload, base) {
    const params = { ...base };
    const parts = [];
    const topics = payload.topics || {};
    const traceName = point.data && point.data.name;
    const labels = [point.x, point.y, traceName].filter((value) => typeof value === "string");
    for (const label of labels) {
      const day = DATE.exec(label);
      if (day && !params.since_day) {
        const start = new Date(`${day[1]}T00:00:00Z`);
        params.since = start.toISOString();
        params.until = new Date(start.getTime() + DAY_MS).toISOString();
        params.since_day = day[1];
        parts.push(day[1]);
      } else if (Object.prototype.hasOwnProperty.call(topics, label) && params.topic_id === undefined) {
        params.topic_id = topics[label];
        parts.push(`topic ${unescapeLabel(label)}`);
      } else if (label.startsWith("#") && !params.hashtag) {
        params.hashtag = unescapeLabel(label).slice(1);
        parts.push(unescapeLabel(label));
      }
    }
    delete params.since_day;
    return parts.length ? { params, title: `Posts: ${parts.join(", ")}` } : null;
  }

  // -- report cards ----------------------------------------------------------------------------------------------

  function renderTable(block) {
    const head = el("thead", {}, el("tr", {}, block.columns.map((name) => el("th", { text: name }))));
    const body = el("tbody", {}, block.rows.map((row) => el("tr", {}, row.map((cell) => el("td", { text: cell })))));
    const note = block.total > block.rows.length ? el("p", { className: "hint", text: `${block.total - block.rows.length} more rows` }) : null;
    return el("div", { className: "block", id: block.id },
      block.caption ? el("p", { className: "caption", text: block.caption }) : null,
      el("div", { className: "table-wrap" }, el("table", { className: "data" }, head, body)), note);
  }

  function renderSection(container, payload, base) {
    const card = el("section", { className: "card report-card", id: `card-${payload.key}`, dataset: { key: payload.key } },
      el("h2", { text: payload.title }), payload.summary ? el("p", { className: "summary", text: payload.summary }) : null);
    container.append(card);
    for (const block of payload.blocks) {
      if (block.type === "metrics") {
        card.append(el("div", { className: "metrics" }, block.values.map(([name, value]) =>
          el("div", { className: "metric" }, el("div", { className: "value", text: value }), el("div", { className: "name", text: name })))));
        if (block.caption) card.append(el("p", { className: "caption", text: block.caption }));
      } else if (block.type === "figure") {
        const plot = el("div", { className: "plot", id: block.id });
        card.append(el("figure", {}, plot, block.caption ? el("figcaption", { text: block.caption }) : null));
        const figure = block.figure;
        window.Plotly.react(plot, figure.data, figure.layout, { responsive: true, displaylogo: false }).then(() => {
          plot.on("plotly_click", (event) => {
            const found = event.points && event.points.length ? pointFilter(event.points[0], payload, base) : null;
            if (found) drill(found.params, found.title);
          });
        });
      } else if (block.type === "table") {
        card.append(renderTable(block));
      } else {
        for (const paragraph of String(block.text).split(/\n\s*\n/)) card.append(el("p", { text: paragraph }));
      }
    }
  }

  async function loadSections(container, filters) {
    clear(container);
    const keys = container.dataset.sections.split(",");
    const base = {};
    if (filters.topic_id !== undefined && filters.topic_id !== "") base.topic_id = filters.topic_id;
    const holders = keys.map((key) => {
      const holder = el("div", { className: "section-holder", dataset: { key } });
      message(holder, `Loading ${key}…`);
      container.append(holder);
      return holder;
    });
    await Promise.all(keys.map(async (key, index) => {
      const holder = holders[index];
      try {
        const payload = await api(`${API}/dashboard/sections/${key}${query(filters)}`);
        clear(holder);
        renderSection(holder, payload, base);
      } catch (error) {
        message(holder, `${key}: ${error.message}`, true);
      }
    }));
    container.dataset.loaded = "true";
  }

  async function fillTopics() {
    const selects = document.querySelectorAll("select.topic-select");
    if (!selects.length) return [];
    let topics = [];
    try {
      topics = await api(`${API}/dashboard/topics`);
    } catch (error) {
      return [];
    }
    for (const select of selects) {
      for (const topic of topics) select.append(el("option", { value: topic.topic_id, text: topic.label || `topic ${topic.topic_id}` }));
    }
    return topics;
  }

  function formValues(form) {
    const values = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (typeof value === "string" && value.trim() !== "") values[name] = value.trim();
    }
    return values;
  }

  function metrics(container, values) {
    clear(container);
    for (const [name, value] of values) {
      container.append(el("div", { className: "metric", dataset: { name } },
        el("div", { className: "value", text: Number(value).toLocaleString("en") }), el("div", { className: "name", text: name })));
    }
  }

  async function loadCounts(container) {
    try {
      const stats = await api(`${API}/stats`);
      metrics(container, [...Object.entries(stats.tables), ...Object.entries(stats.modalities).map(([k, v]) => [`posts with ${k}`, v])]);
    } catch (error) {
      message(container, error.message, true);
    }
  }

  // -- pages -----------------------------------------------------------------------------------------------------

  async function overviewPage() {
    loadCounts(document.getElementById("stats"));
    await loadSections(document.getElementById("sections"), {});
  }

  async function postsPage() {
    const form = document.getElementById("post-filters");
    const results = document.getElementById("posts");
    await fillTopics();
    const run = async () => {
      const values = formValues(form);
      const { query: text, mode, ...filters } = values;
      if (text) {
        message(results, "Searching…");
        try {
          const found = await api(`${API}/search`, { method: "POST", body: { query: text, mode: mode || "keyword", k: 50 } });
          await postTable(results, found.hits.map((hit) => hit.post), "Nothing found.");
        } catch (error) {
          message(results, error.message, true);
        }
        return;
      }
      if (filters.since) filters.since = `${filters.since}T00:00:00Z`;
      if (filters.until) filters.until = new Date(Date.parse(`${filters.until}T00:00:00Z`) + DAY_MS).toISOString();
      await loadPosts(results, filters, null);
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
    run();
  }

  async function topicsPage() {
    const form = document.getElementById("trend-filters");
    const topics = await fillTopics();
    const byTopic = topics.length > 0;
    let bursts = [];
    try {
      bursts = (await api(`${API}/trends/bursts${query({ by: byTopic ? "topic" : "hashtag", k: 100 })}`)).bursts;
    } catch (error) {
      message(document.getElementById("bursts"), error.message, true);
    }
    const showBursts = (values) => {
      const list = clear(document.getElementById("bursts"));
      const shown = bursts.filter((burst) => {
        if (values.topic_id !== undefined && byTopic && burst.key !== String(values.topic_id)) return false;
        if (values.since && burst.end.slice(0, 10) < values.since) return false;
        if (values.until && burst.start.slice(0, 10) > values.until) return false;
        return true;
      });
      if (!shown.length) list.append(el("li", { className: "hint", text: "No bursts in this selection." }));
      for (const burst of shown) {
        const name = burst.name || (byTopic ? `topic ${burst.key}` : `#${burst.key}`);
        const start = burst.start.slice(0, 10);
        const end = burst.end.slice(0, 10);
        const button = el("button", { type: "button", className: "link burst", dataset: { key: burst.key },
                                      text: `${name}: ${start} to ${end}` });
        const until = new Date(Date.parse(`${end}T00:00:00Z`) + DAY_MS).toISOString();
        const params = { since: `${start}T00:00:00Z`, until, ...(byTopic ? { topic_id: burst.key } : { hashtag: burst.key }) };
        button.addEventListener("click", () => drill(params, `Posts of the burst ${name}, ${start} to ${end}`));
        list.append(el("li", {}, button, ` · ${burst.posts} posts over ${burst.periods} periods, score ${burst.score === null ? "–" : Number(burst.score).toFixed(1)}`));
      }
    };
    const run = async () => {
      const values = formValues(form);
      showBursts(values);
      await loadSections(document.getElementById("sections"), values);
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
    await run();
  }

  async function opinionPage() {
    const sections = loadSections(document.getElementById("sections"), {});
    const list = document.getElementById("alerts");
    message(list, "Loading…");
    try {
      const topics = await api(`${API}/dashboard/topics`);
      const found = await api(`${API}/opinion/alerts${query({ by: topics.length ? "topic" : "hashtag", k: 50 })}`);
      clear(list);
      if (!found.alerts.length) list.append(el("li", { className: "hint", text: "No alerts: no key's negative share rose significantly." }));
      for (const alert of found.alerts) {
        const name = alert.name || alert.key;
        const examples = el("ul", { className: "examples" }, alert.examples.map((example) => {
          const button = el("button", { type: "button", className: "link", text: example.text || example.post_id });
          button.addEventListener("click", () => showPost(example.post_id));
          return el("li", {}, button);
        }));
        list.append(el("li", { className: "alert" },
          el("strong", { text: name }),
          ` · ${shortTime(alert.start)} to ${shortTime(alert.end)}: negative share ${(100 * (alert.window_share || 0)).toFixed(0)}% ` +
          `(${alert.window_negative} of ${alert.window_posts}) against ${(100 * (alert.baseline_share || 0)).toFixed(0)}% before; adjusted p ${alert.adjusted_p === null ? "–" : alert.adjusted_p.toPrecision(2)}`,
          examples));
      }
    } catch (error) {
      message(list, error.message, true);
    }
    await Promise.all([sections, monitorAlerts(document.getElementById("monitor-alerts"))]);
  }

  async function monitorAlerts(list) {
    message(list, "Loading…");
    try {
      const found = await api(`${API}/monitor/alerts${query({ limit: 50 })}`);
      clear(list);
      if (!found.alerts.length) list.append(el("li", { className: "hint", text: "No monitor alerts on this store." }));
      for (const alert of found.alerts) {
        const posts = el("ul", { className: "examples" }, alert.posts.map((post) => {
          const button = el("button", { type: "button", className: "link", text: post.text || post.post_id });
          button.addEventListener("click", () => showPost(post.post_id));
          return el("li", {}, button);
        }));
        const numbers = Object.entries(alert.numbers || {}).map(([key, value]) =>
          `${key} ${typeof value === "number" ? Number(value.toPrecision(3)) : value}`).join(", ");
        const episode = alert.closed_at ? `closed ${shortTime(alert.closed_at)}` : "open";
        list.append(el("li", { className: "alert" },
          el("strong", { text: `${alert.rule}: ${alert.title}` }),
          ` · fired ${shortTime(alert.fired_at)} (${episode})${numbers ? ` · ${numbers}` : ""}`, posts));
      }
    } catch (error) {
      message(list, error.message, true);
    }
  }

  function dataTable(container, columns, rows, onRow) {
    clear(container);
    const body = el("tbody", {}, rows.map((row) => {
      const tr = el("tr", { className: onRow ? "clickable" : "" }, columns.map(([, cell]) => el("td", { text: cell(row) })));
      if (onRow) tr.addEventListener("click", () => onRow(row));
      return tr;
    }));
    container.append(el("div", { className: "table-wrap" }, el("table", { className: "data" },
      el("thead", {}, el("tr", {}, columns.map(([name]) => el("th", { text: name })))), body)));
  }

  const fixed = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

  async function networkPage() {
    const sections = loadSections(document.getElementById("sections"), {});
    const influencers = document.getElementById("influencers");
    try {
      const found = await api(`${API}/influencers?k=20`);
      dataTable(influencers, [["User", (u) => u.user_id], ["PageRank", (u) => fixed(u.pagerank, 4)],
        ["Followers (in-degree)", (u) => u.in_degree], ["Core", (u) => u.core], ["Bridging", (u) => fixed(u.bridging, 3)],
        ["Authority", (u) => fixed(u.authority, 3)]], found.users,
      (user) => window.location.assign(`/ui/users#${encodeURIComponent(user.user_id)}`));
    } catch (error) {
      message(influencers, error.message, true);
    }
    const communities = document.getElementById("communities");
    try {
      const found = await api(`${API}/communities?k=20&members=8`);
      dataTable(communities, [["Community", (c) => c.community], ["Members", (c) => c.size],
        ["Some members", (c) => c.members.join(", ")]], found.communities, null);
      communities.prepend(el("p", { className: "hint", text: `Modularity ${fixed(found.modularity, 3)} (${found.method}).` }));
    } catch (error) {
      message(communities, error.message, true);
    }
    await sections;
  }

  async function usersPage() {
    const form = document.getElementById("user-form");
    const input = document.getElementById("user-id");
    const show = async (userId) => {
      const profile = document.getElementById("profile");
      const similar = document.getElementById("similar");
      const recommended = document.getElementById("recommendations");
      message(profile, "Loading…");
      let card = null;
      try {
        card = await api(`${API}/dashboard/users/${encodeURIComponent(userId)}`);
        const user = card.user;
        clear(profile).append(kv([["user", user.user_id], ["handle", user.handle ? `@${user.handle}` : null],
          ["name", user.display_name], ["followers", user.followers_count], ["following", user.following_count],
          ["location", user.location], ["verified", user.verified === null || user.verified === undefined ? null : String(user.verified)],
          ["about", user.profile_text], ["posts", card.posts], ["first post", shortTime(card.first_post)],
          ["last post", shortTime(card.last_post)],
          ...Object.entries(card.profile || {}).map(([name, value]) => [name.replaceAll("_", " "),
            typeof value === "object" && value !== null ? JSON.stringify(value) : value])]));
      } catch (error) {
        message(profile, error.message, true);
      }
      if (!card) {
        message(similar, "Unknown user.");
        message(recommended, "Unknown user.");
      } else if (!card.has_profiles) {
        message(similar, "No user profiles yet: build them with socialfusion profiles build.");
      } else if (!card.profile || card.profile.embedding_missing) {
        message(similar, "This user has no profile embedding (no text to embed), so no similar users.");
      } else {
        api(`${API}/users/${encodeURIComponent(userId)}/similar?k=10`).then((found) => {
          dataTable(similar, [["User", (u) => u.user_id], ["Similarity", (u) => fixed(u.similarity, 3)]], found.users,
            (other) => { window.location.hash = encodeURIComponent(other.user_id); });
        }).catch((error) => message(similar, error.message, true));
      }
      if (card && !card.recommenders.length) {
        message(recommended, "No recommender fitted yet: fit one with socialfusion recommend fit.");
      } else if (card) {
        const model = card.recommenders[0];
        api(`${API}/users/${encodeURIComponent(userId)}/recommendations${query({ k: 10, model })}`).then((found) => {
          dataTable(recommended, [["Post", (r) => r.item], ["Score", (r) => fixed(r.score, 3)], ["Rank", (r) => r.rank]],
            found.items, (item) => showPost(item.item));
          recommended.prepend(el("p", { className: "hint", text: `From the ${model} recommender${found.known_user ? "" : " (an unknown user: popular posts)"}.` }));
        }).catch((error) => message(recommended, error.message, true));
      }
      loadPosts(document.getElementById("user-posts"), { author_id: userId }, null);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      window.location.hash = encodeURIComponent(input.value.trim());
    });
    const fromHash = () => {
      const userId = decodeURIComponent(window.location.hash.slice(1));
      if (userId) {
        input.value = userId;
        show(userId);
      }
    };
    window.addEventListener("hashchange", fromHash);
    if (window.location.hash.length > 1) fromHash();
    else {
      try {
        const top = await api(`${API}/influencers?k=1`);
        if (top.users.length) window.location.hash = encodeURIComponent(top.users[0].user_id);
      } catch (error) {
        message(document.getElementById("profile"), "Enter a user id.", false);
      }
    }
  }

  // -- jobs ------------------------------------------------------------------------------------------------------

  const FINAL = ["done", "failed", "cancelled", "interrupted"];

  function jobRow(job) {
    let row = document.querySelector(`tr[data-job-id="${CSS.escape(job.job_id)}"]`);
    if (!row) {
      row = el("tr", { className: "job", dataset: { jobId: job.job_id } },
        el("td", { text: job.job_id.slice(0, 8) }), el("td", { text: job.kind }), el("td", { className: "state" }),
        el("td", {}, el("progress", { max: "1" })), el("td", { className: "job-message" }));
      document.querySelector("#jobs tbody").prepend(row);
    }
    row.dataset.state = job.state;
    row.querySelector(".state").textContent = job.state;
    const bar = row.querySelector("progress");
    if (job.state === "done") bar.value = 1;
    else if (job.progress !== null && job.progress !== undefined) bar.value = job.progress;
    else if (FINAL.includes(job.state)) bar.value = 0;
    else bar.removeAttribute("value"); // running, fraction unknown: an indeterminate bar
    row.querySelector(".job-message").textContent = job.error || job.message || "";
    return row;
  }

  // a browser keeps about six connections per server: at most MAX_STREAMS jobs are followed by server-sent
  // events, the others by asking for them every few seconds
  const MAX_STREAMS = 3;
  let streams = 0;

  function poll(job, counts) {
    window.setTimeout(async () => {
      try {
        const latest = await api(`${API}/jobs/${encodeURIComponent(job.job_id)}`);
        jobRow(latest);
        if (FINAL.includes(latest.state)) loadCounts(counts);
        else poll(latest, counts);
      } catch (error) {
        jobRow({ ...job, message: error.message });
      }
    }, 2000);
  }

  function follow(job, counts) {
    jobRow(job);
    if (FINAL.includes(job.state)) return;
    if (streams >= MAX_STREAMS) {
      poll(job, counts);
      return;
    }
    streams += 1;
    const source = new EventSource(`${API}/jobs/${encodeURIComponent(job.job_id)}/events`);
    const stop = () => {
      source.close();
      streams -= 1;
    };
    source.addEventListener("progress", (event) => jobRow(JSON.parse(event.data)));
    for (const state of FINAL) {
      source.addEventListener(state, (event) => {
        stop();
        jobRow(JSON.parse(event.data));
        loadCounts(counts);
      });
    }
    source.onerror = () => {
      stop();
      poll(job, counts);
    };
  }

  async function jobsPage() {
    const counts = document.getElementById("counts");
    const status = document.getElementById("job-message");
    loadCounts(counts);
    try {
      const jobs = await api(`${API}/jobs?limit=20`);
      jobs.reverse().forEach((job) => follow(job, counts));
    } catch (error) {
      status.textContent = error.message;
    }
    const upload = document.getElementById("upload-form");
    if (upload) {
      upload.addEventListener("submit", async (event) => {
        event.preventDefault();
        const values = new FormData(upload);
        const file = values.get("file");
        if (!file || !file.name) return;
        status.textContent = `Uploading ${file.name}…`;
        try {
          const body = new FormData();
          body.append("file", file, file.name);
          const uploaded = await api(`${API}/uploads`, { method: "POST", body });
          const job = await api(`${API}/jobs`, { method: "POST", body: { kind: "ingest", params: {
            upload_id: uploaded.upload_id, format: values.get("format"), table: values.get("table") } } });
          status.textContent = `Ingesting ${file.name} (job ${job.job_id.slice(0, 8)}).`;
          follow(job, counts);
          upload.reset();
        } catch (error) {
          status.textContent = `Upload failed: ${error.message}`;
        }
      });
    }
    const jobForm = document.getElementById("job-form");
    if (jobForm) {
      jobForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const kind = event.submitter ? event.submitter.value : null;
        if (!kind) return;
        try {
          const job = await api(`${API}/jobs`, { method: "POST", body: { kind } });
          status.textContent = `Started ${kind} (job ${job.job_id.slice(0, 8)}).`;
          follow(job, counts);
        } catch (error) {
          status.textContent = `Could not start ${kind}: ${error.message}`;
        }
      });
    }
  }

  // -- start -----------------------------------------------------------------------------------------------------

  for (const button of document.querySelectorAll("button[data-close]")) {
    button.addEventListener("click", () => { document.getElementById(button.dataset.close).hidden = true; });
  }
  const pages = { overview: overviewPage, posts: postsPage, topics: topicsPage, opinion: opinionPage,
                  network: networkPage, users: usersPage, jobs: jobsPage };
  const start = pages[document.body.dataset.page];
  if (start) {
    start().catch((error) => console.warn("dashboard:", error.message)).finally(() => { document.body.dataset.ready = "true"; });
  }
})();
