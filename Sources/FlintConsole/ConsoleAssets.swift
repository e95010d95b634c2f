/// The console's stylesheet and script, compiled into the binary and served as `/ui/app.css` and
/// `/ui/app.js` (the Content-Security-Policy allows no inline style or script, and nothing from
/// another origin: the console works offline).
enum ConsoleAssets {
    static let css = """
        :root {
          --bg: #f6f7f9; --card: #ffffff; --text: #1d2330; --muted: #5f6b7a; --line: #e3e6eb; --accent: #2f6fed;
          --ok: #1f8a4c; --ok-bg: #e8f6ee; --bad: #c0392b; --bad-bg: #fdecea; --warn: #9a6700; --warn-bg: #fff6dd;
          --planned: #8fb3f9; --sent: #2f6fed; --quiet: #eef0f4;
        }
        * { box-sizing: border-box; }
        html { -webkit-text-size-adjust: 100%; }
        body { margin: 0; background: var(--bg); color: var(--text);
          font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px; padding: 10px 20px;
          background: #ffffff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
        header.top .brand { font-weight: 700; font-size: 18px; color: var(--text); letter-spacing: .2px; }
        header.top .brand::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 8px;
          border-radius: 50%; background: linear-gradient(135deg, #ff7a45, #f5222d); vertical-align: 1px; }
        header.top nav { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
        header.top nav a { padding: 4px 10px; border-radius: 6px; color: var(--muted); }
        header.top nav a.current { background: #eaf0fd; color: var(--accent); font-weight: 600; }
        form.signout { display: inline; margin: 0 0 0 8px; }
        button.link { background: none; border: 0; color: var(--muted); padding: 4px 6px; cursor: pointer; font: inherit; }
        main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 48px; }
        h1 { font-size: 24px; margin: 8px 0 16px; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
        h2 { font-size: 16px; margin: 0 0 12px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; margin: 0 0 16px;
          box-shadow: 0 1px 2px rgba(16, 24, 40, .04); }
        .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
        .alert { border-radius: 10px; padding: 12px 16px; margin: 0 0 16px; border: 1px solid transparent; }
        .alert ul { margin: 6px 0 0; padding-left: 20px; }
        .alert.ok { background: var(--ok-bg); color: var(--ok); border-color: #bfe5cf; }
        .alert.bad { background: var(--bad-bg); color: #7d1f16; border-color: #f5c2bc; }
        .alert.warn { background: var(--warn-bg); color: var(--warn); border-color: #f1dc9e; }
        .bad { color: var(--bad); }
        .hint { color: var(--muted); font-size: 13px; }
        .empty { color: var(--muted); font-style: italic; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        .scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
        table { border-collapse: collapse; width: 100%; background: var(--card); font-size: 14px; }
        main > .scroll { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
        th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; letter-spacing: .3px; padding: 8px 10px;
          border-bottom: 1px solid var(--line); white-space: nowrap; }
        td { padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
        td:nth-child(2) { white-space: nowrap; }
        tr:last-child td { border-bottom: 0; }
        tr.fresh td { animation: fresh 2.5s ease-out; }
        @keyframes fresh { from { background: #fff6c7; } to { background: transparent; } }
        .badge, .chip { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
          background: #eef0f4; color: #4a5566; white-space: nowrap; }
        .chip { margin: 0 6px 6px 0; padding: 3px 10px; }
        .st-scheduled { background: var(--ok-bg); color: var(--ok); }
        .st-pending, .st-shadow { background: #e6f4fb; color: #0b6e99; }
        .st-failed, .st-unknown, .st-dead { background: var(--bad-bg); color: var(--bad); }
        .st-skipped, .st-not_matched, .st-cancelled { background: #f1f2f5; color: #6b7482; }
        .pass { color: var(--ok); font-weight: 600; }
        .fail { color: var(--bad); font-weight: 700; }
        pre.json { background: #f7f8fa; border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; margin: 0;
          white-space: pre; }
        form.filters { display: flex; flex-wrap: wrap; gap: 10px 12px; align-items: flex-end; margin: 0 0 14px; }
        form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
        input, select { font: inherit; padding: 6px 9px; border: 1px solid #cfd4dc; border-radius: 7px; background: #fff; color: var(--text);
          min-width: 0; }
        form.filters input { width: 150px; }
        button { font: inherit; padding: 6px 14px; border-radius: 7px; border: 1px solid var(--accent); background: var(--accent);
          color: #fff; cursor: pointer; }
        form.login { max-width: 420px; display: flex; flex-direction: column; gap: 10px; }
        nav.pager { display: flex; gap: 16px; margin: 12px 0; }
        .live { margin-left: 8px; }
        ol.timeline { list-style: none; margin: 0; padding: 0; }
        ol.timeline li.event { border-left: 3px solid var(--line); padding: 2px 0 12px 14px; position: relative; }
        ol.timeline li.event::before { content: ""; position: absolute; left: -7px; top: 7px; width: 11px; height: 11px;
          border-radius: 50%; background: #fff; border: 2px solid var(--accent); }
        ol.timeline .when { font-size: 12px; color: var(--muted); }
        ol.timeline .run { background: #f7f8fa; border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; margin: 6px 0 0; }
        ol.timeline .run p { margin: 4px 0 0; }
        ul.errors { margin: 6px 0 10px; padding-left: 20px; }
        .chips { margin-top: 12px; }
        svg.chart { width: 100%; height: auto; display: block; }
        svg.statuses { max-width: 460px; }
        svg.local-hours { max-width: 720px; }
        svg .label { font-size: 10px; fill: var(--muted); }
        svg .count { font-size: 10px; fill: var(--text); font-weight: 600; }
        svg .axis { stroke: #c5cbd3; stroke-width: 1; }
        svg .day { stroke: #e3e6eb; stroke-width: 1; }
        svg rect.planned { fill: var(--planned); }
        svg rect.sent { fill: var(--sent); }
        svg rect.quiet { fill: var(--quiet); }
        svg g.bar:hover rect, svg g.hour:hover rect.sent { opacity: .75; }
        svg .st-scheduled { fill: var(--ok); } svg .st-pending, svg .st-shadow { fill: #34a3d3; }
        svg .st-failed, svg .st-unknown { fill: var(--bad); } svg .st-skipped, svg .st-not_matched, svg .st-cancelled { fill: #aab2bf; }
        .legend { font-size: 12px; color: var(--muted); }
        .legend .key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 2px 0 8px; }
        .legend .key.planned { background: var(--planned); } .legend .key.sent { background: var(--sent); }
        @media (max-width: 640px) {
          main { padding: 12px 12px 40px; }
          header.top { padding: 8px 12px; }
          h1 { font-size: 20px; }
          dl.facts { grid-template-columns: 1fr; gap: 0; }
          dl.facts dt { margin-top: 8px; }
          form.filters input, form.filters select { width: 100%; }
          form.filters label { flex: 1 1 40%; }
          table.cards thead { display: none; }
          table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
          table.cards tr { padding: 8px 2px; border-bottom: 1px solid var(--line); }
          table.cards tr:last-child { border-bottom: 0; }
          table.cards td { display: flex; gap: 10px; border: 0; padding: 2px 10px; white-space: normal; }
          table.cards td::before { content: attr(data-label); flex: 0 0 92px; color: var(--muted); font-size: 11px;
            font-weight: 600; letter-spacing: .3px; padding-top: 2px; }
          table.cards td > * { min-width: 0; }
        }
        """

    /// The tab's icon: Flint's orange dot.
    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">\
        <stop offset="0" stop-color="#ff7a45"/><stop offset="1" stop-color="#f5222d"/></linearGradient></defs>\
        <circle cx="8" cy="8" r="7" fill="url(#g)"/></svg>
        """

    static let js = """
        // Flint console: live rows on the runs page. Rows are built with textContent only: a value
        // from an event is always text, never markup.
        (function () {
          'use strict';
          var table = document.querySelector('table[data-live]');
          if (!table) { return; }
          var body = table.tBodies[0];
          var after = table.getAttribute('data-after') || '';
          var query = table.getAttribute('data-query') || '';
          var status = document.getElementById('live-status');

          var labels = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });
          function cell(row, content) {
            var td = document.createElement('td');
            td.setAttribute('data-label', labels[row.cells.length] || '');
            if (typeof content === 'string') { td.textContent = content; } else { td.appendChild(content); }
            row.appendChild(td);
          }
          function anchor(href, text) {
            var a = document.createElement('a');
            a.setAttribute('href', href);
            a.textContent = text;
            return a;
          }
          function badge(value) {
            var span = document.createElement('span');
            span.className = 'badge st-' + value.replace(/[^a-z_]/g, '');
            span.textContent = value;
            return span;
          }
          function sendAt(run) {
            var s = run.schedule;
            if (s && typeof s.time === 'string') {
              if (s.at_optimal_time === true) { return s.time.slice(0, 10) + ' (optimal)'; }
              if (s.in_local_time === true) { return s.time + ' (local)'; }
            }
            return run.send_at || '-';
          }
          function row(run) {
            var tr = document.createElement('tr');
            tr.className = 'fresh';
            cell(tr, anchor('/ui/runs/' + encodeURIComponent(run.id), String(run.id)));
            cell(tr, String(run.created_at).replace(/\\.\\d+Z$/, 'Z'));
            cell(tr, anchor('/ui/rules#rule-' + encodeURIComponent(run.rule_id), run.rule_id));
            cell(tr, anchor('/ui/users?user=' + encodeURIComponent(run.user), run.user));
            cell(tr, badge(run.status));
            cell(tr, sendAt(run));
            cell(tr, run.reason);
            return tr;
          }
          function say(text) { if (status) { status.textContent = text; } }
          function poll() {
            var url = '/api/v1/runs?limit=200' + (query ? '&' + query : '') + (after ? '&after=' + encodeURIComponent(after) : '');
            fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
              .then(function (response) {
                if (!response.ok) { throw new Error('HTTP ' + response.status); }
                return response.json();
              })
              .then(function (runs) {
                if (runs.length > 0) {
                  var empty = document.getElementById('no-runs');
                  if (empty) { empty.remove(); }
                  for (var i = runs.length - 1; i >= 0; i--) { body.insertBefore(row(runs[i]), body.firstChild); }
                  after = String(runs[0].id);
                  say('· ' + runs.length + ' new');
                }
              })
              .catch(function (error) { say('· live updates paused: ' + error.message); })
              .then(function () { window.setTimeout(poll, 2000); });
          }
          window.setTimeout(poll, 2000);
        })();
        """
}
