"""The ops console in a real browser (headless Chromium from Debian, driven by Selenium).

Started by ConsoleBrowserTests (Swift), which runs the marketplace server, the Nango emulator, a Postgres of its own
and a copy of pipelines.yaml whose hubspot-contacts mapping is broken (display_name reads `firstNam`/`lastNam`).
Every step prints what it checked; the first failure saves a screenshot, prints why and exits 1.
"""
import json
import os
import sys
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BASE = os.environ["CONSOLE_BASE_URL"]
EMULATOR = os.environ["EMULATOR_URL"]
ADMIN_TOKEN = os.environ["ADMIN_TOKEN"]
VIEWER_TOKEN = os.environ["CONSOLE_VIEWER_TOKEN"]
PIPELINES_FILE = os.environ["PIPELINES_FILE"]
CONNECTION = os.environ["CONNECTION_ID"]
SHOTS = os.environ["SCREENSHOT_DIR"]
HOOK_URL = os.environ["HOOK_URL"]
WAIT = float(os.environ.get("BROWSER_WAIT_SECONDS", "90"))


class Failed(Exception):
    pass


def step(text):
    print("console-browser: " + text, flush=True)


def emulator(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(EMULATOR + "/_emulator" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def admin(method, path, body=None):
    """The admin API, as ops' scripts call it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "X-Admin-Token": ADMIN_TOKEN})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode() or "null")


def start_browser():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
                     "--lang=en-US"]:
        options.add_argument(argument)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_window_size(1280, 800)
    driver.set_page_load_timeout(60)
    return driver


def until(what, check, timeout=WAIT, interval=0.5):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # an element replaced by a live refresh between lookup and use
            last_error = error
        time.sleep(interval)
    raise Failed("not within %d s: %s%s" % (timeout, what, " (last error: %s)" % last_error if last_error else ""))


def click(driver, by, value):
    """Clicks an element found afresh until the click lands: a live refresh can replace it between lookup and click."""
    until("clicking %s" % value, lambda: driver.find_element(by, value).click() or True)


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def text(driver, css):
    """An element's text, found afresh when a live refresh replaced it between the lookup and the read."""
    for attempt in range(20):
        try:
            return driver.find_element(By.CSS_SELECTOR, css).text
        except StaleElementReferenceException:
            if attempt == 19:
                raise
            time.sleep(0.1)


def absent(driver, css):
    return len(driver.find_elements(By.CSS_SELECTOR, css)) == 0


def post_from_page(driver, path, csrf=None):
    """A POST made by the page's own script: the status and body the server answered."""
    return driver.execute_async_script("""
        const [path, csrf, done] = arguments;
        const body = new URLSearchParams();
        if (csrf !== null) { body.set('csrf', csrf); }
        fetch(path, {method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual'})
          .then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));
    """, path, csrf)


def sign_in(driver, token):
    driver.get(BASE + "/console")
    until("the sign-in page", lambda: driver.find_elements(By.ID, "token"))
    driver.find_element(By.ID, "token").send_keys(token)
    click(driver, By.ID, "sign-in")
    until("signed in", lambda: driver.find_elements(By.CSS_SELECTOR, "header.top nav"))


def replace_in_file(old, new):
    with open(PIPELINES_FILE) as handle:
        content = handle.read()
    if old not in content:
        raise Failed("pipelines file lacks %r" % old)
    with open(PIPELINES_FILE, "w") as handle:
        handle.write(content.replace(old, new))


def run(driver):
    # Sign-in: a wrong token is refused on the page, the admin token opens the overview.
    driver.get(BASE + "/console/jobs")
    until("redirected to sign-in", lambda: "/console/sign-in" in driver.current_url)
    driver.find_element(By.ID, "token").send_keys("not-the-token-at-all")
    click(driver, By.ID, "sign-in")
    until("a refused sign-in says so", lambda: "opens nothing" in text(driver, "#sign-in-error"))
    step("a wrong token is refused")
    driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    click(driver, By.ID, "sign-in")
    until("back on the page asked for", lambda: driver.current_url.endswith("/console/jobs"))
    cookie = driver.get_cookie("marketplace_console")
    if not cookie or not cookie.get("httpOnly") or cookie.get("sameSite") != "Strict":
        raise Failed("the session cookie must be HttpOnly and SameSite=Strict: %r" % cookie)
    if driver.execute_script("return document.cookie").find("marketplace_console") >= 0:
        raise Failed("the session cookie is readable by scripts")
    step("signed in as admin; the cookie is HttpOnly, SameSite=Strict")

    driver.get(BASE + "/console")
    until("the overview's charts", lambda: driver.find_elements(By.CSS_SELECTOR, "svg.chart"))
    # The change log's series: the first syncs wrote the company and its records within the hour, one bar a minute
    # whose counts add up to the total beside the title. Read at once (a live refresh replaces the chart).
    def changes_chart():
        bars = driver.find_elements(By.CSS_SELECTOR, "#changes-per-minute svg.chart rect")
        counts = [int(bar.get_attribute("textContent").rsplit(": ", 1)[1]) for bar in bars]
        drawn = [bar for bar in bars if float(bar.get_attribute("height")) > 0]
        return counts, len(drawn), int(text(driver, "#changes-last-hour").split()[0])
    counts, drawn, total = until("the changes per minute", changes_chart)
    if len(counts) != 60 or total <= 0 or sum(counts) != total or drawn != len([count for count in counts if count > 0]):
        raise Failed("changes per minute: %d bars (%d drawn) adding up to %d, %d in the last hour" % (len(counts), drawn, sum(counts), total))
    step("overview: %d changes in the last hour, charted by minute" % total)
    # The emulator's record counts agree with what the first syncs stored: no drift flagged, a quiet line instead.
    if not absent(driver, "#drift-flag") or "No drift" not in text(driver, "#no-drift"):
        raise Failed("the overview flags a drift for the demo data: %s" % text(driver, "#drift"))
    step("overview: no drift flagged")
    shot(driver, "overview")

    # A webhook arrives and shows up on the events page without a reload.
    driver.get(BASE + "/console/events")
    until("the live feed connected", lambda: driver.execute_script("return document.body.getAttribute('data-live')") == "connected")
    driver.execute_script("window.__sameDocument = true")
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tr[data-event-id]")
    newest = max([int(row.get_attribute("data-event-id")) for row in rows] or [0])
    emulator("POST", "/forward", {"provider_config_key": "hubspot", "connection_id": CONNECTION, "payload": {"browser": "live"}})
    arrived = until("the forwarded webhook listed live", lambda: [
        int(row.get_attribute("data-event-id")) for row in driver.find_elements(By.CSS_SELECTOR, "#events tr[data-event-id]")
        if int(row.get_attribute("data-event-id")) > newest])
    if not driver.execute_script("return window.__sameDocument === true"):
        raise Failed("the page reloaded instead of updating live")
    event_id = max(arrived)
    step("event %d arrived live, no reload" % event_id)
    shot(driver, "events")

    # Open it: its raw body, pretty-printed, and what it caused.
    click(driver, By.CSS_SELECTOR, "#events a[href='/console/events/%d']" % event_id)
    until("the event's body", lambda: '"browser": "live"' in text(driver, "#event-body"))
    shot(driver, "event")
    click(driver, By.ID, "replay")
    driver.switch_to.alert.accept()
    until("the replay's notice", lambda: text(driver, ".notice").startswith("Replayed"))
    step("event %d opened and replayed: %s" % (event_id, text(driver, ".notice")))

    # A dead job, retried into success: Nango fails every call until the fault is lifted.
    emulator("PUT", "/faults", {"rate_500": 1.0})
    emulator("POST", "/connections/%s/changes" % CONNECTION, {"provider_config_key": "hubspot", "model": "Product", "update": 2})
    driver.get(BASE + "/console/jobs?status=dead")
    dead = until("a sync job dead (live)", lambda: [
        row.get_attribute("data-job-id") for row in driver.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job-id]")
        if "sync.run" in row.text], timeout=180)
    job_id = dead[0]
    driver.get(BASE + "/console/jobs/" + job_id)
    until("the dead job's page", lambda: text(driver, "#job-status") == "dead")
    attempts = driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    if len(attempts) != 2:
        raise Failed("the dead job shows its 2 failed attempts, found %d rows" % len(attempts))
    shot(driver, "job-dead")
    emulator("DELETE", "/faults")
    click(driver, By.ID, "retry")
    until("the retry's notice", lambda: "queued again" in text(driver, ".notice"))
    until("the job succeeded (live)", lambda: text(driver, "#job-status") == "succeeded", timeout=120)
    step("job %s: dead after 2 attempts, retried, succeeded" % job_id)

    # The broken mapping quarantines every contact; fixed on disk, the quarantine is re-run and empties of it.
    driver.get(BASE + "/console/quarantine?pipeline=hubspot-contacts")
    until("contacts quarantined for display_name", lambda: "display_name" in text(driver, "[data-live-region]"))
    before = int(text(driver, "#quarantine-count"))
    shot(driver, "quarantine")
    replace_in_file("join: [firstNam, lastNam]", "join: [firstName, lastName]")
    driver.get(BASE + "/console/pipelines")
    click(driver, By.ID, "reload")
    until("the reload's notice", lambda: "reloaded" in text(driver, ".notice"))
    driver.get(BASE + "/console/quarantine?pipeline=hubspot-contacts")
    click(driver, By.ID, "rerun")
    driver.switch_to.alert.accept()
    until("the re-run's notice", lambda: "Re-run queued" in text(driver, ".notice"))
    # Contacts with neither first nor last name still fail display_name; every other one passes now.
    def shrunk():
        count = int(text(driver, "#quarantine-count"))
        return [count] if count < before else None
    after = until("the quarantine shrinks (live)", shrunk, timeout=120)[0]
    step("quarantine of hubspot-contacts: %d entries before the fix, %d after the re-run" % (before, after))

    # An edit with an error is shown on its line; the last good version keeps running.
    replace_in_file("target: contacts", "target: contactz")
    driver.get(BASE + "/console/pipelines")
    until("the error on its line", lambda: (driver.refresh() or True) and driver.find_elements(By.CSS_SELECTOR, "#pipeline-source li.has-error"),
          timeout=30, interval=1)
    line = driver.find_element(By.CSS_SELECTOR, "#pipeline-source li.has-error")
    if "contactz" not in line.text:
        raise Failed("the error is on the line that has it: %r" % line.text)
    shot(driver, "pipelines-error")
    replace_in_file("target: contactz", "target: contacts")
    step("an edit's error shows on its line (%s)" % line.get_attribute("id"))

    # The dry-run box: a page of records, what would be written and what quarantined.
    driver.get(BASE + "/console/pipelines")
    until("the file reloaded without errors", lambda: (driver.refresh() or True) and absent(driver, "#pipeline-errors"), timeout=30, interval=1)
    driver.find_element(By.ID, "dry-run-pipeline").clear()
    driver.find_element(By.ID, "dry-run-pipeline").send_keys("hubspot-contacts")
    records = driver.find_element(By.ID, "records")
    records.clear()
    records.send_keys(json.dumps({"records": [
        {"id": "dry-1", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
        {"id": "dry-2", "firstName": "Bad", "lastName": "Email", "email": "not an email"},
    ]}))
    click(driver, By.ID, "run-dry-run")
    until("the dry run's summary", lambda: driver.find_elements(By.ID, "dry-run-summary"))
    written, quarantined = text(driver, "#dry-run-written"), text(driver, "#dry-run-quarantined")
    if (written, quarantined) != ("1", "1"):
        raise Failed("dry run: 1 written and 1 quarantined expected, got %s and %s" % (written, quarantined))
    if "Ada Lovelace" not in text(driver, "#dry-run-rows") or "dry-2" not in text(driver, "#dry-run-quarantine"):
        raise Failed("dry run rows: %r / %r" % (text(driver, "#dry-run-rows"), text(driver, "#dry-run-quarantine")))
    driver.execute_script("document.getElementById('dry-run-result').scrollIntoView()")
    shot(driver, "pipelines")
    step("dry run: dry-1 written as 'Ada Lovelace', dry-2 quarantined")

    for page in ["companies", "tokens", "jobs"]:
        driver.get(BASE + "/console/" + page)
        until(page, lambda: driver.find_elements(By.CSS_SELECTOR, "main table"))
        shot(driver, page)
    click(driver, By.CSS_SELECTOR, "a[href='/console/companies']")
    click(driver, By.CSS_SELECTOR, "#companies a")
    until("a company's page", lambda: driver.find_elements(By.ID, "runs"))
    # Its change feed: the re-run quarantine's contacts are its newest changes, the head is the first of them. Read
    # at once (a live refresh replaces the rows).
    def last_changes():
        driver.refresh()
        rows = driver.find_elements(By.CSS_SELECTOR, "#changes tbody tr[data-version]")
        cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        if "contact.created" not in [cell[1] for cell in cells]:
            return None
        return cells, [row.get_attribute("data-version") for row in rows], text(driver, "#change-head-version"), text(driver, "#change-count")
    cells, versions, head, count = until("the company's last changes list the contacts written", last_changes, timeout=30, interval=1)
    kinds = {"%s.%s" % (resource, kind) for resource in ["company", "contact", "location", "product"]
             for kind in ["created", "updated", "deleted"]}
    if not 1 <= len(cells) <= 20 or any(cell[1] not in kinds or not cell[0] or cell[3] != version for cell, version in zip(cells, versions)):
        raise Failed("the company's last changes: %r" % cells)
    if head != versions[0] or int(count.rstrip("+")) < len(cells):
        raise Failed("the feed's head: version %s, %s changes; the newest row is version %s" % (head, count, versions[0]))
    step("company page: %s changes, the newest version %s (%s %s)" % (count, head, cells[0][1], cells[0][2]))
    driver.execute_script("window.scrollTo(0, 0)")
    shot(driver, "company")
    driver.execute_script("document.getElementById('change-feed-h').scrollIntoView()")
    shot(driver, "company-changes")

    endpoint_id = outbound(driver)

    # An action without the page's CSRF token is refused.
    status, body = post_from_page(driver, "/console/tokens/refresh-all")
    if status != 403 or "CSRF" not in body:
        raise Failed("a POST without the CSRF token: %d %s" % (status, body[:200]))
    step("an action without the CSRF token: 403")

    # Readable on a phone: nothing wider than the screen but the tables' own scrolling.
    driver.set_window_size(390, 844)
    driver.get(BASE + "/console")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        raise Failed("the overview is %d px wider than a phone" % overflow)
    shot(driver, "overview-phone")
    driver.set_window_size(1280, 800)

    # Keyboard: the first Tab reaches the skip link, Enter on it moves focus to the content.
    driver.get(BASE + "/console/events")
    driver.find_element(By.TAG_NAME, "body").send_keys("\t")
    if driver.switch_to.active_element.get_attribute("class") != "skip":
        raise Failed("the first Tab reaches 'Skip to content'")
    step("readable at 390 px; the skip link is the first stop")

    click(driver, By.CSS_SELECTOR, "form[action='/console/sign-out'] button")
    until("signed out", lambda: "/console/sign-in" in driver.current_url)
    driver.get(BASE + "/console/tokens")
    until("a signed-out visit goes to sign-in", lambda: "/console/sign-in" in driver.current_url)
    step("signed out")

    # The viewer sees everything, no action buttons, and its POSTs are refused.
    sign_in(driver, VIEWER_TOKEN)
    for path, button in [("/console/events/%d" % event_id, "#replay"), ("/console/jobs/" + job_id, "form[action$='/retry']"),
                         ("/console/quarantine", "#rerun"), ("/console/tokens", "#refresh-all"), ("/console/pipelines", "#reload"),
                         ("/console/events", "#replay-range"), ("/console/outbound/" + endpoint_id, "#rotate"),
                         ("/console/outbound/" + endpoint_id, "#disable"), ("/console/outbound", "form[action$='/resend']")]:
        driver.get(BASE + path)
        until(path + " as viewer", lambda: driver.find_elements(By.CSS_SELECTOR, "main h1"))
        if not absent(driver, button):
            raise Failed("the viewer sees %s on %s" % (button, path))
    csrf = driver.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] input[name=csrf]").get_attribute("value")
    status, body = post_from_page(driver, "/console/jobs/%s/retry" % job_id, csrf)
    if status != 403 or "viewer" not in body:
        raise Failed("a viewer's POST: %d %s" % (status, body[:200]))
    shot(driver, "viewer-events")
    step("viewer: no action buttons, its POST refused (403)")


def outbound(driver):
    """Outbound webhooks: an endpoint registered through the admin API at a port nobody listens on (every attempt fails
    at once, two attempts a message), its attempts shown live, its secret rotated and shown once, recover, disable and
    enable. Returns the endpoint's id."""
    endpoint_id = admin("POST", "/api/admin/webhook-endpoints", {"url": HOOK_URL, "description": "browser test"})["id"]
    driver.get(BASE + "/console/outbound")
    # The row's text read inside the check: the page is live, and a row kept past a refresh is stale.
    def listed():
        rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#endpoints tr[data-endpoint-id='%s']" % endpoint_id)]
        return rows if rows and HOOK_URL in rows[0] and "enabled" in rows[0] else None
    until("the endpoint listed with its URL, enabled", listed)
    click(driver, By.CSS_SELECTOR, "#endpoints a[href='/console/outbound/%s']" % endpoint_id)
    until("the endpoint's page", lambda: text(driver, "#endpoint-status") == "enabled")
    step("outbound: endpoint %s listed, enabled, secret shown as %s" % (endpoint_id, text(driver, "#secret")))

    # Send test from the page; then a second test through the API while the page follows the feed: its attempts arrive
    # without a reload.
    click(driver, By.ID, "send-test")
    until("the test's notice", lambda: "webhook.test message is queued" in text(driver, ".notice"))
    until("the live feed connected", lambda: driver.execute_script("return document.body.getAttribute('data-live')") == "connected")
    driver.execute_script("window.__sameDocument = true")
    def tested():
        return {row.get_attribute("data-message-id") for row in driver.find_elements(By.CSS_SELECTOR, "#attempts tr[data-message-id]")
                if "webhook.test" in row.text}
    first = until("the first test's attempt", tested)
    admin("POST", "/api/admin/webhook-endpoints/%s/test" % endpoint_id, {})
    def second_failed():
        # The cells' texts, read inside the check: a live refresh replaces the rows, and an element kept past it is stale.
        rows = driver.find_elements(By.CSS_SELECTOR, "#attempts tr[data-message-id]")
        fresh = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows
                 if "webhook.test" in row.text and row.get_attribute("data-message-id") not in first]
        failed = [cells for cells in fresh if "failed" in cells[-2]]
        return fresh if len(fresh) == 2 and len(failed) == 2 else None
    attempts = until("the second test's two attempts (live), its message failed", second_failed)
    if not driver.execute_script("return window.__sameDocument === true"):
        raise Failed("the endpoint's page reloaded instead of updating live")
    cells = attempts[0]
    if cells[2] != "—" or not cells[3].endswith(" ms") or not cells[4]:
        raise Failed("an attempt nobody answered: no code, its latency, the error: %r" % cells)
    failed = int(text(driver, "#failed-count"))
    step("outbound: test messages tried live, no answer (%s, %s): %d failed" % (cells[3], cells[4], failed))
    shot(driver, "outbound-endpoint")

    # Rotate: the new secret once, on the answer's page; masked everywhere after.
    click(driver, By.ID, "rotate")
    driver.switch_to.alert.accept()
    secret = until("the new secret", lambda: text(driver, "#new-secret") if text(driver, "#new-secret").startswith("whsec_") else None)
    click(driver, By.ID, "back-to-endpoint")
    until("the endpoint's page again", lambda: driver.find_elements(By.ID, "secret"))
    if text(driver, "#secret") != "whsec_…" + secret[-4:] or secret in driver.page_source:
        raise Failed("after the rotation the secret is masked: %r" % text(driver, "#secret"))
    step("outbound: secret rotated, shown once, masked after (%s)" % text(driver, "#secret"))

    # Recover the failed messages (the form asks for a time, 24 hours ago by default); disable, enable.
    click(driver, By.ID, "recover")
    driver.switch_to.alert.accept()
    notice = until("the recover's notice", lambda: text(driver, ".notice") if "Recovered" in text(driver, ".notice") else None)
    recovered = int(notice.split()[1])
    if recovered < failed:
        raise Failed("recover re-queues (at least) the %d failed messages: %r" % (failed, notice))
    # The status button is in the live region, which the recovered messages' new attempts refresh: clicked again if a
    # refresh replaced it under the click.
    click(driver, By.ID, "disable")
    driver.switch_to.alert.accept()
    until("disabled", lambda: text(driver, "#endpoint-status") == "disabled" and "Endpoint disabled" in text(driver, ".notice"))
    click(driver, By.ID, "enable")
    until("enabled again", lambda: text(driver, "#endpoint-status") == "enabled" and "Endpoint enabled" in text(driver, ".notice"))
    step("outbound: %s; disabled, enabled" % notice)

    driver.get(BASE + "/console/outbound")
    until("the endpoint's sparkline", lambda: driver.find_elements(By.CSS_SELECTOR, "#endpoints tr[data-endpoint-id='%s'] svg.spark circle" % endpoint_id))
    shot(driver, "outbound")
    return endpoint_id


def main():
    driver = start_browser()
    try:
        run(driver)
    except Exception as error:
        shot(driver, "failure")
        print("console-browser: FAILED at %s: %s" % (driver.current_url, error), flush=True)
        traceback.print_exc()
        return 1
    finally:
        driver.quit()
    step("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
