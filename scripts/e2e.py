#!/usr/bin/env python3
"""End-to-end pass: invoke every events/*.json with `cargo lambda invoke` against a running
`cargo lambda watch`, and check each answer. Every event file must have an expectation here.

With --xray FILE BIN, the functions were sending their segments to `cruddur-xray listen --out
FILE`; then every invocation must show as one trace, in order, with its status and X-Ray's
error/fault/throttle flags (read back with `BIN traces --from FILE`).

usage: e2e.py PORT [--xray FILE BIN]
"""
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = sorted((p.name for p in (ROOT / "functions").iterdir() if p.is_dir()), key=len, reverse=True)

# event name -> (expected HTTP status, or "event" for a trigger that returns its event, or
# "error" for a trigger that must fail; and a check on the decoded body)
EXPECTED = {
    "health-check": (200, lambda b: b == {"success": True, "ver": 1}),
    "home-activities": (200, lambda b: [a["message"] for a in b][-1] == "I am out of prune juice"),
    "home-activities-bad-cursor": (422, lambda b: b == ["cursor_invalid"]),
    "notifications-activities": (200, lambda b: "This post has no honor!" in [a["message"] for a in b]),
    "notifications-activities-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "user-activities": (200, lambda b: b["profile"]["handle"] == "andrewbrown"),
    "user-activities-unknown": (404, lambda b: b == ["user_not_found"]),
    "user-activities-blank": (422, lambda b: b == ["blank_user_handle"]),
    "search-activities": (200, lambda b: "Cloud is very fun!" in [a["message"] for a in b]),
    "search-activities-blank": (422, lambda b: b == ["search_term_blank"]),
    "search-activities-too-long": (422, lambda b: b == ["search_term_too_long"]),
    "create-activity": (200, lambda b: b["message"] == "Rust on Lambda is very fun!"),
    "create-activity-bad-input": (422, lambda b: b == ["message_blank", "ttl_invalid"]),
    "create-activity-invalid-json": (400, lambda b: b == ["invalid_json"]),
    "create-activity-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "show-activity": (200, lambda b: b["replies"][0]["message"] == "This post has no honor!"),
    "show-activity-not-found": (404, lambda b: b == ["activity_not_found"]),
    "show-activity-bad-input": (422, lambda b: b == ["activity_uuid_invalid"]),
    "create-reply": (200, lambda b: b["reply_to_activity_uuid"] == "68f126b0-1ceb-4a33-88be-d90fa7109eee"),
    "create-reply-bad-input": (422, lambda b: b == ["message_exceed_max_chars"]),
    "create-reply-not-found": (404, lambda b: b == ["activity_not_found"]),
    "create-reply-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "create-reply-by-uuid": (200, lambda b: b["reply_to_activity_uuid"] == "68f126b0-1ceb-4a33-88be-d90fa7109eee"),
    "create-reply-by-uuid-bad-input": (422, lambda b: b == ["activity_uuid_invalid"]),
    "create-reply-by-uuid-not-found": (404, lambda b: b == ["activity_not_found"]),
    "create-reply-by-uuid-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "message-groups": (200, lambda b: b[0]["handle"] == "worf"),
    "message-groups-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "messages": (200, lambda b: b[0]["message"] == "Cloud is fun!"),
    "messages-unknown": (404, lambda b: b == ["user_not_found"]),
    "messages-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "messages-by-group": (200, lambda b: b[0]["message"] == "Cloud is fun!"),
    "messages-other-group": (404, lambda b: b == ["message_group_not_found"]),
    "create-message": (200, lambda b: b["handle"] == "andrewbrown"),
    "create-message-bad-input": (422, lambda b: b == ["user_receiver_handle_blank", "message_blank"]),
    "create-message-self": (422, lambda b: b == ["cannot_message_self"]),
    "create-message-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "create-message-to-handle": (200, lambda b: b["message_group_uuid"] == "3ea990ac-e1a9-54ff-aa2a-bdf470cfcf0f"),
    "create-message-to-group": (200, lambda b: b["handle"] == "andrewbrown" and "message_group_uuid" not in b),
    "create-message-other-group": (404, lambda b: b == ["message_group_not_found"]),
    "users-short": (200, lambda b: b["handle"] == "worf" and b["display_name"] == "Worf"),
    "users-short-unknown": (404, lambda b: b == ["user_not_found"]),
    "users-short-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "update-profile": (200, lambda b: b["display_name"] == "Andrew B." and b["handle"] == "andrewbrown"),
    "update-profile-bad-input": (422, lambda b: b == ["display_name_blank", "bio_too_long"]),
    "update-profile-unauthenticated": (401, lambda b: b == ["unauthorized"]),
    "rollbar-test": (200, lambda b: b == "Hello World!"),
    "post-confirmation": ("event", lambda b: b["userName"] == "quark"),
    "post-confirmation-replay": ("event", lambda b: b["userName"] == "andrewbrown"),
    "post-confirmation-bad-input": ("error", lambda out: "sub_blank" in out),
}


def function_of(event_name):
    for name in FUNCTIONS:
        if event_name == name or event_name.startswith(name + "-"):
            return name
    raise SystemExit(f"events/{event_name}.json names no function")


def invoke(port, function, path):
    cmd = ["cargo", "lambda", "invoke", function, "--invoke-address", "127.0.0.1",
           "--invoke-port", str(port), "--data-file", str(path), "--output-format", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def check(port, path):
    name = path.stem
    if name not in EXPECTED:
        return f"no expectation for events/{path.name}: add one to scripts/e2e.py"
    expected, body_ok = EXPECTED[name]
    result = invoke(port, function_of(name), path)
    if expected == "error":
        output = result.stdout + result.stderr
        if result.returncode == 0:
            return f"expected the invocation to fail, got {result.stdout.strip()}"
        return None if body_ok(output) else f"unexpected error: {output.strip()}"
    if result.returncode != 0:
        return f"invoke failed: {result.stderr.strip() or result.stdout.strip()}"
    answer = json.loads(result.stdout)
    if expected == "event":
        return None if body_ok(answer) else f"unexpected answer {answer}"
    status = answer.get("statusCode")
    raw = answer.get("body") or ""
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw
    if status != expected:
        return f"status {status}, expected {expected}: {raw}"
    return None if body_ok(body) else f"unexpected body: {raw}"


def expected_flags(status):
    if status == 429:
        return {"THROTTLE"}
    if 400 <= status < 500:
        return {"ERROR"}
    if status >= 500:
        return {"FAULT"}
    return set()


def check_traces(names, xray_file, xray_bin):
    """One trace per invocation, in order, each flagged as its status says. Returns problems."""
    deadline = time.time() + 20
    while True:
        listed = subprocess.run([xray_bin, "traces", "--from", xray_file], capture_output=True, text=True)
        lines = listed.stdout.splitlines()
        if len(lines) >= len(names) or time.time() > deadline:
            break
        time.sleep(0.3)
    if listed.returncode != 0:
        return [f"cruddur-xray traces failed: {listed.stderr.strip()}"]
    problems = []
    if len(lines) != len(names):
        problems.append(f"{len(lines)} traces for {len(names)} invocations")
    for name, line in zip(names, lines):
        function = function_of(name)
        if f'function="{function}"' not in line:
            problems.append(f"events/{name}.json: trace is not from {function}: {line}")
            continue
        status = EXPECTED[name][0]
        if not isinstance(status, int):
            continue
        flags = {flag for flag in ("ERROR", "FAULT", "THROTTLE") if f"  {flag}" in line}
        if f"-> {status}" not in line or not expected_flags(status) <= flags or (
            status < 400 and flags
        ):
            problems.append(f"events/{name}.json: expected {status} {sorted(expected_flags(status))}: {line}")
    return problems


def main():
    port = int(sys.argv[1])
    xray = sys.argv[3:5] if len(sys.argv) >= 5 and sys.argv[2] == "--xray" else None
    events = sorted((ROOT / "events").glob("*.json"))
    failures = passed = 0
    for path in events:
        problem = check(port, path)
        print(f"{'FAIL' if problem else 'ok  '} events/{path.name}" + (f": {problem}" if problem else ""))
        failures += bool(problem)
        passed += not problem
    if xray:
        problems = check_traces([p.stem for p in events], *xray)
        for problem in problems:
            print(f"FAIL x-ray: {problem}")
        failures += len(problems)
        if not problems:
            print(f"ok   x-ray: {len(events)} traces, each with its status and flags")
    stale = set(EXPECTED) - {p.stem for p in events}
    for name in sorted(stale):
        print(f"FAIL expectation for missing events/{name}.json")
        failures += 1
    print(f"e2e: {passed} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
