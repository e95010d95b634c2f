"""The console in a real browser: headless Chromium (Debian's) driven by Playwright, against a real
`flint serve` that Tests/flintTests/ConsoleTests.swift started.

Environment: FLINT_CONSOLE_URL (http://127.0.0.1:PORT), FLINT_EVENTS_URL (the webhook's base URL),
FLINT_TOKEN (a webhook token: the console asks for it), FLINT_CHROMIUM (default /usr/bin/chromium),
FLINT_CONSOLE_SCREENSHOTS (a folder: save a PNG of each page there).

The serve's rules: `cart-abandoned` (Cart Abandoned, after 2h) and `digest` (Digest Due, at 09:00 in
the user's zone, quiet hours 22:00-07:00). Ends with `N passed, M failed`; exit 1 on any failure.
"""

import datetime as dt
import json
import os
import sys
import time
import urllib.request
import uuid
from zoneinfo import ZoneInfo, available_timezones

from playwright.sync_api import sync_playwright

CONSOLE = os.environ["FLINT_CONSOLE_URL"].rstrip("/")
EVENTS = os.environ["FLINT_EVENTS_URL"].rstrip("/")
TOKEN = os.environ["FLINT_TOKEN"]
CHROMIUM = os.environ.get("FLINT_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("FLINT_CONSOLE_SCREENSHOTS")

SCRIPT_NOTE = '<script>window.__xss = 1</script>"><img src=x onerror="window.__xss = 2">'
XSS_USER = 'u-"><b>bold</b><script>window.__xss=3</script>'

passed = 0
failed = []


def check(condition, what):
    global passed
    if condition:
        passed += 1
        print("ok   " + what, flush=True)
    else:
        failed.append(what)
        print("FAIL " + what, flush=True)


def post(events):
    body = json.dumps(events).encode()
    request = urllib.request.Request(
        EVENTS + "/v1/events", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202, response.status


def api(path):
    request = urllib.request.Request(CONSOLE + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(condition, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def iso(instant):
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dst_change():
    """A zone whose UTC offset changes between 2 and 80 days from now (within Braze's 90-day
    horizon), and the local date of the change: common zones first, then any."""
    now = dt.datetime.now(dt.timezone.utc)
    common = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago", "Pacific/Auckland"]
    others = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "posix/", "right/")))
    for name in common + others:
        zone = ZoneInfo(name)
        day = now + dt.timedelta(days=2)
        previous = day.astimezone(zone).utcoffset()
        for _ in range(78 * 4):
            day += dt.timedelta(hours=6)
            offset = day.astimezone(zone).utcoffset()
            if offset != previous:
                return name, day.astimezone(zone).date()
    return None, None


def shot(page, name, full=True):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name), full_page=full)


def main():
    run_id = uuid.uuid4().hex[:6]
    cart = [
        {"type": "track", "event": "Cart Abandoned", "messageId": f"cart-{run_id}-{i}", "userId": f"u-{i}",
         "properties": {"note": f"cart {i}", "amount": 20 + i}}
        for i in range(1, 6)
    ]
    cart.append({"type": "track", "event": "Cart Abandoned", "messageId": f"xss-{run_id}", "userId": XSS_USER,
                 "properties": {"note": SCRIPT_NOTE}})
    post(cart)

    # Five 09:00 sends in a zone that changes its offset in the middle of them.
    zone_name, change = dst_change()
    expected_utc = []
    if zone_name:
        zone = ZoneInfo(zone_name)
        digest = []
        for k in range(-2, 3):
            day = change + dt.timedelta(days=k)
            at = dt.datetime(day.year, day.month, day.day, 6, 0, tzinfo=zone)
            send = dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=zone)
            expected_utc.append(iso(send))
            digest.append({"type": "track", "event": "Digest Due", "messageId": f"digest-{run_id}-{k}", "userId": "u-dst",
                           "timestamp": iso(at), "context": {"timezone": zone_name}})
        post(digest)
        print(f"DST: {zone_name} changes its offset on {change}; sends at {expected_utc}", flush=True)
    else:
        print("no zone changes its offset in the next 80 days: the DST part is not checked", flush=True)

    check(wait_for(lambda: len(api("/api/v1/runs?limit=100")) >= 6 + len(expected_utc)), "the events were decided")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # Sign in: the console asks for a token and keeps it in an HttpOnly cookie.
        page.goto(CONSOLE + "/ui/runs")
        check(page.url.startswith(CONSOLE + "/ui/login"), "without a cookie the console asks for a token")
        shot(page, "login.png", full=False)
        page.fill("#token", "wrong")
        page.click("form.login button")
        check(page.locator(".alert.bad").count() == 1, "a wrong token is refused with a message")
        # The refusal is a 401, which Chromium logs as a failed load: the one error this test provokes.
        check(len(errors) == 1 and "401" in errors[0], f"the refusal is a 401 ({errors})")
        errors.clear()
        page.fill("#token", TOKEN)
        page.click("form.login button")
        page.wait_for_url(CONSOLE + "/ui/runs")
        cookies = context.cookies()
        session = [c for c in cookies if c["name"] == "flint_console"]
        check(len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict", "the cookie is HttpOnly and SameSite=Strict")
        check(all(TOKEN not in c["value"] for c in cookies), "the cookie does not hold the token")
        check(TOKEN not in page.content() and TOKEN not in page.url, "the token is not in the page or the URL")

        # Runs: the table, then a run decided while the page is open appears without a reload.
        rows_before = page.locator("table#runs tbody tr").count()
        check(rows_before >= 6, f"the runs table lists the runs ({rows_before})")
        page.evaluate("window.__stay = 'same page'")
        post([{"type": "track", "event": "Cart Abandoned", "messageId": f"live-{run_id}", "userId": "u-live",
               "properties": {"note": "live"}}])
        page.wait_for_selector("table#runs tbody tr td a:text-is('u-live')", timeout=15000)
        check(page.evaluate("window.__stay") == "same page", "the new run appeared without a reload")
        shot(page, "runs.png", full=False)

        # A run: its trace and its request.
        page.goto(CONSOLE + "/ui/runs?rule=cart-abandoned&user=u-1")
        page.click("table#runs tbody tr td a >> nth=0")
        page.wait_for_selector("#gates")
        check(page.locator("#gates tbody tr").count() >= 2, "a run shows its gates")
        check(page.locator("#steps tbody tr").count() >= 1, "a run shows the planner's steps")
        request_text = page.locator("#request pre").inner_text()
        check('"campaign_id": "c-cart"' in request_text, "a run shows the exact request")
        check(page.locator("#answer").count() == 1, "a run shows Braze's answer")
        shot(page, "run.png")

        # Script in an event's properties runs nowhere.
        page.goto(CONSOLE + f"/ui/events/xss-{run_id}")
        body_text = page.locator("#body pre").inner_text()
        check("<script>window.__xss = 1</script>" in body_text and "<img src=x onerror=" in body_text,
              "script in an event's properties shows as text")
        page.goto(CONSOLE + "/ui/users?user=" + urllib.parse.quote(XSS_USER))
        check(page.locator("h1").inner_text().startswith("User u-\"><b>bold</b>"), "a hostile user id shows as text")
        page.goto(CONSOLE + "/ui/runs?user=" + urllib.parse.quote(XSS_USER))
        page.goto(CONSOLE + "/ui/runs")
        page.wait_for_timeout(2500)
        check(page.evaluate("typeof window.__xss") == "undefined" and not dialogs, "no script from an event ran")
        check(page.locator("b:text-is('bold')").count() == 0, "no markup from an event was rendered")

        # A user: why, as a timeline.
        page.goto(CONSOLE + "/ui/users?user=u-2")
        check(page.locator("ol.timeline li.event").count() >= 1, "a user's page shows their events")
        check(page.locator("ol.timeline .run .badge").count() >= 1, "a user's page shows their runs with their status")
        if zone_name:
            page.goto(CONSOLE + "/ui/users?user=u-dst")
            check(page.locator("ol.timeline li.event").count() == 5, "the DST user's five events are on their timeline")
        shot(page, "user.png")

        page.goto(CONSOLE + "/ui/")
        check(page.locator("#health").count() == 1, "the overview says whether everything is healthy")
        check(page.locator("#runs-day g.status-bar").count() >= 8, "the overview counts runs per status")
        shot(page, "overview.png")

        page.goto(CONSOLE + "/ui/rules")
        check(page.locator("section.rule").count() == 2, "the rules page lists both rules")
        check("digest.yaml" in page.locator("#rule-digest").inner_text(), "a rule shows its file")
        shot(page, "rules.png")

        # Where sends land, across the DST change.
        if zone_name:
            start = (change - dt.timedelta(days=3)).isoformat()
            page.goto(CONSOLE + f"/ui/sends?zone={urllib.parse.quote(zone_name)}&from={start}&days=7&rule=digest")
            counts = page.eval_on_selector_all(
                "svg.local-hours[data-rule='digest'] g.hour", "gs => gs.map(g => [g.dataset.hour, g.dataset.count])")
            by_hour = {int(h): int(c) for h, c in counts}
            check(by_hour.get(9) == 5 and sum(by_hour.values()) == 5, f"all five 09:00 sends are in local hour 9 ({by_hour})")
            label = page.locator("svg.local-hours[data-rule='digest'] g.hour[data-hour='9'] text.count").text_content()
            check(label == "5", "the histogram's label says 5")
            check(page.locator("svg.local-hours[data-rule='digest'] rect.quiet").count() == 2, "quiet hours 22:00-07:00 are shaded")
            local_bars = page.eval_on_selector_all(
                "svg.hourly[data-rule=''] g.bar", "gs => gs.map(g => g.dataset.local)")
            check(len(local_bars) == 5 and all(b[11:16] == "09:00" for b in local_bars), f"in {zone_name} every bar is at 09:00 ({local_bars})")
            shot(page, "sends.png")
            page.goto(CONSOLE + f"/ui/sends?zone=UTC&from={start}&days=7&rule=digest")
            utc_bars = page.eval_on_selector_all("svg.hourly[data-rule=''] g.bar", "gs => gs.map(g => g.dataset.start)")
            check(utc_bars == expected_utc, f"in UTC the bars stand at the instants of 09:00 local across the change ({utc_bars})")
            check(len({b[11:13] for b in utc_bars}) == 2, "in UTC the hour moves with the offset")
        page.goto(CONSOLE + "/ui/sends")
        check(page.locator("#hourly-all svg").count() == 1, "the sends page draws the next 7 days")
        if not zone_name:
            shot(page, "sends.png")

        # Phone width: the same pages, readable.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        phone.add_cookies([{"name": "flint_console", "value": session[0]["value"], "url": CONSOLE}])
        mobile = phone.new_page()
        mobile.on("console", lambda m: errors.append(f"{mobile.url}: {m.text}") if m.type == "error" else None)
        mobile.goto(CONSOLE + "/ui/")
        width = mobile.evaluate("document.documentElement.scrollWidth")
        check(width <= 390, f"the overview fits a phone's width ({width}px)")
        shot(mobile, "overview-phone.png")
        mobile.goto(CONSOLE + "/ui/runs")
        shot(mobile, "runs-phone.png", full=False)

        check(not errors, "no console error on any page: " + "; ".join(errors[:5]))
        browser.close()

    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    import traceback
    import urllib.parse  # noqa: E402  (quote)
    try:
        sys.exit(main())
    except Exception:  # a step that could not run is a failure, with what was checked so far
        traceback.print_exc()
        print(f"{passed} passed, {len(failed) + 1} failed")
        sys.exit(1)
