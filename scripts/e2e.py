#!/usr/bin/env python3
"""End-to-end pass through the local API Gateway, as a client meets Cruddur.

Every events/*.json API Gateway event is replayed as the plain HTTP request it stands for (method,
path, query, headers, body) against `cruddur-gateway`, which this script starts in front of a
running `cargo lambda watch`. The gateway runs the Cognito authorizer against a test user pool: a
key made here signs an access token for each fixture's caller, and its JWKS is served on loopback.
Cognito trigger events go to the Lambda Invoke API directly, as Cognito would call them. Every
event file must have an expectation here.

With --xray FILE BIN, the gateway and the functions were sending their segments to `cruddur-xray
listen --out FILE`; then every request must show as one trace, in order: the API Gateway stage's
segment, with the function's segment under it (unless the gateway answered itself), the status
and X-Ray's error/fault/throttle flags (read back with `BIN traces --from FILE`).

usage: e2e.py GATEWAY_BIN LAMBDA_PORT [--xray FILE BIN]
"""
import base64
import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = sorted((p.name for p in (ROOT / "functions").iterdir() if p.is_dir()), key=len, reverse=True)
POOL = "us-east-1_Demo12345"
CLIENT = "4h3kdemoappclient0000000000"
GATEWAY_401 = (401, lambda b: b == {"message": "Unauthorized"})
# The name of the API Gateway stage's segments (`<api name>/<stage>` of template.yaml).
API_STAGE_SEGMENT = "cruddur-prod/prod"
FUN = "68f126b0-1ceb-4a33-88be-d90fa7109eee"
GROUP = "3ea990ac-e1a9-54ff-aa2a-bdf470cfcf0f"

# event name -> (expected HTTP status, or "event" for a trigger that returns its event, or
# "error" for a trigger that must fail; and a check on the decoded body)
EXPECTED = {
    "health-check": (200, lambda b: b == {"success": True, "ver": 1}),
    "home-activities": (200, lambda b: [a["message"] for a in b][-1] == "I am out of prune juice"),
    "home-activities-bad-cursor": (422, lambda b: b == ["cursor_invalid"]),
    "notifications-activities": (200, lambda b: "This post has no honor!" in [a["message"] for a in b]),
    "notifications-activities-unauthenticated": GATEWAY_401,
    "user-activities": (200, lambda b: b["profile"]["handle"] == "andrewbrown"),
    "user-activities-unknown": (404, lambda b: b == ["user_not_found"]),
    "user-activities-blank": (422, lambda b: b == ["blank_user_handle"]),
    "search-activities": (200, lambda b: "Cloud is very fun!" in [a["message"] for a in b]),
    "search-activities-blank": (422, lambda b: b == ["search_term_blank"]),
    "search-activities-too-long": (422, lambda b: b == ["search_term_too_long"]),
    "create-activity": (200, lambda b: b["message"] == "Rust on Lambda is very fun!"),
    "create-activity-bad-input": (422, lambda b: b == ["message_blank", "ttl_invalid"]),
    "create-activity-invalid-json": (400, lambda b: b == ["invalid_json"]),
    "create-activity-unauthenticated": GATEWAY_401,
    "show-activity": (200, lambda b: b["replies"][0]["message"] == "This post has no honor!"),
    "show-activity-not-found": (404, lambda b: b == ["activity_not_found"]),
    "show-activity-bad-input": (422, lambda b: b == ["activity_uuid_invalid"]),
    "create-reply": (200, lambda b: b["reply_to_activity_uuid"] == FUN),
    "create-reply-bad-input": (422, lambda b: b == ["message_exceed_max_chars"]),
    "create-reply-not-found": (404, lambda b: b == ["activity_not_found"]),
    "create-reply-unauthenticated": GATEWAY_401,
    "create-reply-by-uuid": (200, lambda b: b["reply_to_activity_uuid"] == FUN),
    "create-reply-by-uuid-bad-input": (422, lambda b: b == ["activity_uuid_invalid"]),
    "create-reply-by-uuid-not-found": (404, lambda b: b == ["activity_not_found"]),
    "create-reply-by-uuid-unauthenticated": GATEWAY_401,
    "message-groups": (200, lambda b: b[0]["handle"] == "worf"),
    "message-groups-unauthenticated": GATEWAY_401,
    "messages": (200, lambda b: b[0]["message"] == "Cloud is fun!"),
    "messages-unknown": (404, lambda b: b == ["user_not_found"]),
    "messages-unauthenticated": GATEWAY_401,
    "messages-by-group": (200, lambda b: b[0]["message"] == "Cloud is fun!"),
    "messages-other-group": (404, lambda b: b == ["message_group_not_found"]),
    "create-message": (200, lambda b: b["handle"] == "andrewbrown"),
    "create-message-bad-input": (422, lambda b: b == ["user_receiver_handle_blank", "message_blank"]),
    "create-message-self": (422, lambda b: b == ["cannot_message_self"]),
    "create-message-unauthenticated": GATEWAY_401,
    "create-message-to-handle": (200, lambda b: b["message_group_uuid"] == GROUP),
    "create-message-to-group": (200, lambda b: b["handle"] == "andrewbrown" and "message_group_uuid" not in b),
    "create-message-other-group": (404, lambda b: b == ["message_group_not_found"]),
    "users-short": (200, lambda b: b["handle"] == "worf" and b["display_name"] == "Worf"),
    "users-short-unknown": (404, lambda b: b == ["user_not_found"]),
    "users-short-unauthenticated": GATEWAY_401,
    "update-profile": (200, lambda b: b["display_name"] == "Andrew B." and b["handle"] == "andrewbrown"),
    "update-profile-bad-input": (422, lambda b: b == ["display_name_blank", "bio_too_long"]),
    "update-profile-unauthenticated": GATEWAY_401,
    "rollbar-test": (200, lambda b: b == "Hello World!"),
    "post-confirmation": ("event", lambda b: b["userName"] == "quark"),
    "post-confirmation-replay": ("event", lambda b: b["userName"] == "andrewbrown"),
    "post-confirmation-bad-input": ("error", lambda out: "sub_blank" in out and "Try again" in out),
    "pre-sign-up": ("event", lambda b: b["request"]["userAttributes"]["preferred_username"] == "odo"),
    "pre-sign-up-taken": ("error", lambda out: "user_handle_taken: That username is taken" in out),
    "pre-sign-up-bad-input": ("error", lambda out: "user_handle_invalid" in out),
}
# Headers API Gateway sets itself, or a client never sends as they are in the fixtures.
NOT_SENT = {"host", "authorization", "x-amzn-trace-id", "content-length", "x-forwarded-for",
            "x-forwarded-port", "x-forwarded-proto"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class TestPool:
    """A user pool stand-in: a signing key, its JWKS on loopback, access tokens for a sub."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        jwks = json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "e2e",
                                     "n": b64url(uint(numbers.n)), "e": b64url(uint(numbers.e))}]}).encode()

        class Jwks(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def access_token(self, sub):
        now = int(time.time())
        header = {"kid": "e2e", "alg": "RS256"}
        claims = {"sub": sub, "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}",
                  "client_id": CLIENT, "token_use": "access", "scope": "aws.cognito.signin.user.admin",
                  "auth_time": now, "iat": now, "exp": now + 3600, "jti": sub, "username": sub}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def function_of(event_name):
    for name in FUNCTIONS:
        if event_name == name or event_name.startswith(name + "-"):
            return name
    raise SystemExit(f"events/{event_name}.json names no function")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(url, method, headers, body):
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def http_request(event, pool):
    """The HTTP request an API Gateway event stands for."""
    query = event.get("multiValueQueryStringParameters") or {}
    pairs = [(k, v) for k, values in query.items() for v in values]
    path = event["path"] + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() not in NOT_SENT}
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    if "sub" in claims:
        headers["Authorization"] = f"Bearer {pool.access_token(claims['sub'])}"
    body = event.get("body")
    if body is not None:
        body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    return event["httpMethod"], path, headers, body


def decoded(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def check(path, gateway, lambda_url, pool):
    name = path.stem
    if name not in EXPECTED:
        return f"no expectation for events/{path.name}: add one to scripts/e2e.py"
    expected, body_ok = EXPECTED[name]
    event = json.loads(path.read_text())
    if "httpMethod" not in event:
        # A Cognito trigger: invoked as Cognito invokes it, through the Lambda Invoke API.
        status, headers, raw = send(f"{lambda_url}/2015-03-31/functions/{function_of(name)}/invocations",
                                    "POST", {"Content-Type": "application/json"}, json.dumps(event).encode())
        failed = status != 200 or any(k.lower() == "x-amz-function-error" for k in headers)
        if expected == "error":
            text = raw.decode(errors="replace")
            if not failed:
                return f"expected the invocation to fail, got {text}"
            return None if body_ok(text) else f"unexpected error: {text}"
        if failed:
            return f"invoke failed ({status}): {raw.decode(errors='replace')}"
        answer = decoded(raw)
        return None if body_ok(answer) else f"unexpected answer {answer}"
    method, target, headers, body = http_request(event, pool)
    status, _, raw = send(f"{gateway}{target}", method, headers, body)
    answer = decoded(raw)
    if status != expected:
        return f"{method} {target}: status {status}, expected {expected}: {answer}"
    return None if body_ok(answer) else f"{method} {target}: unexpected body: {answer}"


def expected_flags(status):
    if status == 429:
        return {"THROTTLE"}
    if 400 <= status < 500:
        return {"ERROR"}
    if status >= 500:
        return {"FAULT"}
    return set()


def check_traces(names, xray_file, xray_bin):
    """One trace per HTTP request, in order: the stage's segment, the function's under it.

    Functions send their segments after the response, so the last ones may arrive after the last
    answer: the check is repeated until it passes or 20 s have gone by."""
    names = [n for n in names if isinstance(EXPECTED[n][0], int)]
    deadline = time.time() + 20
    while True:
        problems = trace_problems(names, xray_file, xray_bin)
        if not problems or time.time() > deadline:
            return problems
        time.sleep(0.3)


def trace_problems(names, xray_file, xray_bin):
    listed = subprocess.run([xray_bin, "traces", "--from", xray_file], capture_output=True, text=True)
    if listed.returncode != 0:
        return [f"cruddur-xray traces failed: {listed.stderr.strip()}"]
    lines = [l for l in listed.stdout.splitlines() if f"  {API_STAGE_SEGMENT}  " in l]
    problems = []
    if len(lines) != len(names):
        problems.append(f"{len(lines)} traces for {len(names)} requests")
    for name, line in zip(names, lines):
        status, _ = EXPECTED[name]
        gateway_answered = EXPECTED[name] is GATEWAY_401
        function = function_of(name)
        if gateway_answered == (f'function="{function}"' in line):
            problems.append(f"events/{name}.json: expected {'no' if gateway_answered else 'a'} {function} segment: {line}")
            continue
        flags = {flag for flag in ("ERROR", "FAULT", "THROTTLE") if f"  {flag}" in line}
        if f"-> {status}" not in line or not expected_flags(status) <= flags or (status < 400 and flags):
            problems.append(f"events/{name}.json: expected {status} {sorted(expected_flags(status))}: {line}")
    return problems


def start_gateway(binary, lambda_port, pool, xray_address):
    port = free_port()
    env = dict(os.environ,
               CRUDDUR_API_PORT=str(port),
               AWS_COGNITO_USER_POOL_ID=POOL,
               AWS_COGNITO_USER_POOL_CLIENT_ID=CLIENT,
               CRUDDUR_JWKS_URL=pool.jwks_url,
               AWS_REGION="us-east-1")
    if xray_address:
        env["AWS_XRAY_DAEMON_ADDRESS"] = xray_address
    log = open(os.environ.get("E2E_GATEWAY_LOG", os.devnull), "w")
    process = subprocess.Popen([binary, "--template", str(ROOT / "template.yaml"),
                                "--lambda-endpoint", f"http://127.0.0.1:{lambda_port}"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the gateway did not start")


def main():
    args = sys.argv[1:]
    gateway_bin, lambda_port = args[0], int(args[1])
    xray = args[3:5] if len(args) >= 5 and args[2] == "--xray" else None
    pool = TestPool()
    process, gateway = start_gateway(gateway_bin, lambda_port, pool, os.environ.get("AWS_XRAY_DAEMON_ADDRESS"))
    try:
        events = sorted((ROOT / "events").glob("*.json"))
        failures = passed = 0
        for path in events:
            problem = check(path, gateway, f"http://127.0.0.1:{lambda_port}", pool)
            print(f"{'FAIL' if problem else 'ok  '} events/{path.name}" + (f": {problem}" if problem else ""))
            failures += bool(problem)
            passed += not problem
        if xray:
            problems = check_traces([p.stem for p in events], *xray)
            for problem in problems:
                print(f"FAIL x-ray: {problem}")
            failures += len(problems)
            if not problems:
                print("ok   x-ray: one trace per request, API Gateway -> function, each with its status and flags")
        stale = set(EXPECTED) - {p.stem for p in events}
        for name in sorted(stale):
            print(f"FAIL expectation for missing events/{name}.json")
            failures += 1
        print(f"e2e: {passed} passed, {failures} failed")
        return 1 if failures else 0
    finally:
        process.kill()


if __name__ == "__main__":
    sys.exit(main())
