// The pipeline status page: poll /pipelines/<id>.json until the tree ended.
(function () {
  "use strict";
  const initial = JSON.parse(document.getElementById("initial-tree").textContent);
  const url = window.location.pathname.replace(/\/$/, "") + ".json";
  const fmt = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
  const set = (id, text) => { document.getElementById(id).textContent = text; };

  function draw(tree) {
    const status = document.getElementById("pipeline-status");
    status.textContent = tree.status;
    status.className = "status " + tree.status;
    const root = document.getElementById("root-status");
    root.textContent = tree.status;
    root.className = "status " + tree.status;
    set("root-attempts", `${tree.attempts}/${tree.max_attempts}`);
    set("root-error", tree.error || "");
    const agg = document.getElementById("aggregate-status");
    const aggStatus = tree.aggregate ? tree.aggregate.status : "waiting";
    agg.textContent = aggStatus;
    agg.className = "status " + aggStatus;
    const b = tree.batches;
    set("batches-ended", b.ended);
    set("batches-total", b.total);
    set("fetch-count", b.total);
    set("batches-running", b.running);
    set("batches-retried", b.retried);
    set("batches-failed", b.failed);
    set("elapsed", tree.elapsed);
    document.getElementById("progress").style.width = (b.total ? (100 * b.ended) / b.total : 0) + "%";
    const grid = document.getElementById("grid");
    const batches = tree.children.filter((c) => c.name === "FetchStats");
    while (grid.children.length < batches.length) grid.appendChild(document.createElement("span"));
    batches.forEach((c, i) => {
      const cell = grid.children[i];
      cell.className = c.status + (c.attempts > 1 ? " retried" : "");
      cell.title = `${c.name} ${c.status} attempts ${c.attempts}/${c.max_attempts}` + (c.error ? `\n${c.error}` : "");
    });
    const out = tree.output || {};
    set("out-listed", fmt(out.listed));
    set("out-refreshed", fmt(out.refreshed));
    set("out-failed", fmt(out.failed_batches));
    set("out-views", fmt(out.total_views));
    set("out-likes", fmt(out.total_likes));
  }

  async function poll() {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (response.ok) {
        const tree = await response.json();
        draw(tree);
        if (tree.ended) return;
      }
    } catch (err) {
      // The server restarting is no reason to stop; try again.
    }
    setTimeout(poll, 400);
  }

  draw(initial);
  if (!initial.ended) setTimeout(poll, 400);
})();
