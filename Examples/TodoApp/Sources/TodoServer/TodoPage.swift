/// The one static page: the list, a form to add to it, and the live feed that keeps it current.
///
/// For tests it exposes promises the page resolves itself: `todoPage.live()` once the first
/// snapshot arrived, `todoPage.shows(title)` once an item with that title is on the page, and
/// `todoPage.showsDone(title)` once it is shown done.
enum TodoPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Eventbase to-dos</title>
        <style>
          body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
          h1 { font-size: 1.6rem; margin-bottom: .25rem; }
          #status { color: #777; font-size: .85rem; margin-top: 0; }
          #status.live { color: #2a7; }
          form { display: flex; gap: .5rem; margin: 1rem 0; }
          form input { flex: 1; padding: .5rem; font: inherit; }
          form button { padding: .5rem 1rem; font: inherit; }
          ul { list-style: none; padding: 0; }
          li { display: flex; align-items: center; gap: .5rem; padding: .4rem 0; border-bottom: 1px solid #eee; }
          li .title { flex: 1; }
          li.done .title { text-decoration: line-through; color: #999; }
          li button { border: none; background: none; color: #c33; cursor: pointer; font-size: 1rem; }
          #empty { color: #999; }
        </style>
        </head>
        <body>
        <h1>To-dos</h1>
        <p id="status">connecting…</p>
        <form id="add">
          <input id="title" placeholder="What needs doing?" maxlength="200" required autocomplete="off">
          <button type="submit">Add</button>
        </form>
        <ul id="list"></ul>
        <p id="empty">Nothing to do.</p>
        <script>
        "use strict";
        const todos = new Map();
        const list = document.getElementById("list");
        const statusLine = document.getElementById("status");
        const listeners = new Set();
        let live = false;

        // The newest revision this page wrote: sent with every request, so that whichever server
        // answers has applied the page's own writes first.
        let revision = null;
        async function api(method, path, body) {
          const headers = body ? { "content-type": "application/json" } : {};
          if (revision !== null) headers["Eventbase-Revision"] = revision;
          if (method === "POST" && self.crypto && crypto.randomUUID) headers["Idempotency-Key"] = crypto.randomUUID();
          const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
          const written = response.headers.get("Eventbase-Revision");
          if (written !== null && (revision === null || Number(written) > Number(revision))) revision = written;
          return response;
        }

        function render() {
          const items = [...todos.values()].sort((a, b) => (a.createdAt - b.createdAt) || a.id.localeCompare(b.id));
          list.replaceChildren(...items.map(todo => {
            const item = document.createElement("li");
            item.dataset.id = todo.id;
            item.className = todo.done ? "done" : "";
            const box = document.createElement("input");
            box.type = "checkbox";
            box.checked = !!todo.done;
            box.onchange = () => api("PATCH", "/api/todos/" + encodeURIComponent(todo.id), { done: box.checked });
            const title = document.createElement("span");
            title.className = "title";
            title.textContent = todo.title;
            const remove = document.createElement("button");
            remove.textContent = "✕";
            remove.title = "Delete";
            remove.onclick = () => api("DELETE", "/api/todos/" + encodeURIComponent(todo.id));
            item.append(box, title, remove);
            return item;
          }));
          document.getElementById("empty").hidden = items.length > 0;
          for (const listener of [...listeners]) listener();
        }

        function setStatus(text, isLive) {
          statusLine.textContent = text;
          statusLine.className = isLive ? "live" : "";
        }

        function connect() {
          const events = new EventSource("/api/todos/events");
          events.addEventListener("snapshot", event => {
            todos.clear();
            for (const todo of JSON.parse(event.data)) todos.set(todo.id, todo);
            live = true;
            setStatus("live: changes from every server appear here", true);
            render();
          });
          events.addEventListener("change", event => {
            const change = JSON.parse(event.data);
            if (change.kind === "left") todos.delete(change.id); else todos.set(change.id, change.todo);
            render();
          });
          events.onerror = () => setStatus("reconnecting…", false);
        }

        document.getElementById("add").addEventListener("submit", event => {
          event.preventDefault();
          const input = document.getElementById("title");
          const title = input.value.trim();
          if (title) api("POST", "/api/todos", { title }).then(() => { input.value = ""; });
        });

        // Resolved by the page itself when what a test waits for is on screen.
        function when(condition) {
          return new Promise(resolve => {
            const check = () => {
              if (!condition()) return false;
              resolve(true);
              return true;
            };
            if (check()) return;
            const listener = () => { if (check()) listeners.delete(listener); };
            listeners.add(listener);
          });
        }
        window.todoPage = {
          live: () => when(() => live),
          shows: title => when(() => [...list.querySelectorAll(".title")].some(node => node.textContent === title)),
          showsDone: title => when(() => [...list.querySelectorAll("li.done .title")].some(node => node.textContent === title)),
        };

        connect();
        </script>
        </body>
        </html>
        """#
}
