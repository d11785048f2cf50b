"""The original Cruddur backend's two benchmarked endpoints as a Python Lambda handler, with the
original's observability stack: aws-xray-sdk (subsegments to the daemon), OpenTelemetry (OTLP over
HTTP, spans flushed before returning, as the OpenTelemetry Lambda wrapper does), Rollbar and JSON
logs. It reads and writes the same SQLite database as the Rust functions (`CRUDDUR_SQLITE_PATH`),
so both answer the same events with the same data. Run by awslambdaric on the bench emulator.
"""

import datetime
import json
import logging
import os
import sqlite3
import sys
import time
import uuid

import rollbar
from aws_xray_sdk.core import patch, xray_recorder
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "service": "cruddur",
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


handler_stream = logging.StreamHandler(sys.stdout)
handler_stream.setFormatter(JsonFormatter())
LOGGER = logging.getLogger("cruddur")
LOGGER.handlers = [handler_stream]
LOGGER.setLevel(logging.INFO)
LOGGER.propagate = False

# X-Ray: in Lambda the SDK sends subsegments of the function's facade segment to the daemon.
xray_recorder.configure(service="cruddur", context_missing="LOG_ERROR")
patch(["sqlite3"])

# Honeycomb through OTLP/HTTP.
PROVIDER = TracerProvider(resource=Resource.create({"service.name": "cruddur"}))
if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
    PROVIDER.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(PROVIDER)
TRACER = trace.get_tracer("cruddur")
FLUSH_SPANS = os.environ.get("BENCH_OTEL_FLUSH", "1") == "1"

if os.environ.get("ROLLBAR_ACCESS_TOKEN"):
    rollbar.init(
        os.environ["ROLLBAR_ACCESS_TOKEN"],
        environment=os.environ.get("CRUDDUR_STAGE", "production"),
        endpoint=os.environ.get("ROLLBAR_ENDPOINT", "https://api.rollbar.com/api/1/"),
        handler="blocking",
    )

DB = sqlite3.connect(os.environ["CRUDDUR_SQLITE_PATH"], check_same_thread=False)
DB.row_factory = sqlite3.Row
PAGE_SIZE = 20
TTLS = {"30-days": 30 * 86400, "7-days": 7 * 86400, "3-days": 3 * 86400, "1-day": 86400,
        "12-hours": 43200, "3-hours": 10800, "1-hour": 3600}
ACTIVITY_COLUMNS = ("SELECT a.uuid, u.display_name, u.handle, a.message, a.replies_count, a.reposts_count, "
                    "a.likes_count, a.reply_to_activity_uuid, a.created_at, a.expires_at "
                    "FROM activities a JOIN users u ON u.uuid = a.user_uuid")


def rfc3339(millis):
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def activity(row):
    out = {k: row[k] for k in ("uuid", "display_name", "handle", "message", "replies_count", "reposts_count", "likes_count")}
    if row["reply_to_activity_uuid"]:
        out["reply_to_activity_uuid"] = row["reply_to_activity_uuid"]
    out["created_at"] = rfc3339(row["created_at"])
    out["expires_at"] = rfc3339(row["expires_at"])
    return out


def respond(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def home_activities(event):
    now = int(time.time() * 1000)
    with TRACER.start_as_current_span("home-activities-mock-data") as span:
        span.set_attribute("app.now", rfc3339(now))
        rows = DB.execute(
            f"{ACTIVITY_COLUMNS} WHERE a.reply_to_activity_uuid IS NULL AND a.expires_at > ? "
            "ORDER BY a.created_at DESC, a.uuid DESC LIMIT ?", (now, PAGE_SIZE + 1)).fetchall()
        items = [activity(r) for r in rows[:PAGE_SIZE]]
        span.set_attribute("app.result_length", len(items))
    return respond(200, items)


def create_activity(event):
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    user = DB.execute("SELECT uuid, handle FROM users WHERE cognito_user_id = ?", (claims.get("sub"),)).fetchone()
    if user is None:
        return respond(401, ["unauthorized"])
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return respond(400, ["body_invalid"])
    message = (body.get("message") or "").strip()
    codes = []
    if not message:
        codes.append("message_blank")
    elif len(message) > 280:
        codes.append("message_exceed_max_chars")
    ttl = (body.get("ttl") or "").strip()
    if not ttl:
        codes.append("ttl_blank")
    elif ttl not in TTLS:
        codes.append("ttl_invalid")
    if codes:
        return respond(422, codes)
    now = int(time.time() * 1000)
    activity_uuid = str(uuid.uuid4())
    with DB:
        DB.execute(
            "INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid, created_at, expires_at) "
            "VALUES (?, ?, ?, NULL, ?, ?)", (activity_uuid, user["uuid"], message, now, now + TTLS[ttl] * 1000))
    row = DB.execute(f"{ACTIVITY_COLUMNS} WHERE a.uuid = ?", (activity_uuid,)).fetchone()
    LOGGER.info("activity created", extra={"fields": {"activity_uuid": activity_uuid, "ActivitiesCreated": 1}})
    return respond(200, activity(row))


ROUTES = {("GET", "/api/activities/home"): home_activities, ("POST", "/api/activities"): create_activity}


def handler(event, context):
    started = time.time()
    route = ROUTES.get((event.get("httpMethod"), event.get("path")))
    with TRACER.start_as_current_span(f"{event.get('httpMethod')} {event.get('path')}") as span:
        subsegment = xray_recorder.begin_subsegment("handler")
        try:
            result = route(event) if route else respond(404, ["not_found"])
            span.set_attribute("http.response.status_code", result["statusCode"])
            if subsegment is not None:
                subsegment.put_annotation("service", "cruddur")
                subsegment.put_http_meta("status", result["statusCode"])
        except Exception:
            rollbar.report_exc_info(sys.exc_info())
            LOGGER.exception("request failed")
            result = respond(500, ["internal_error"])
        finally:
            xray_recorder.end_subsegment()
    LOGGER.info(f"{event.get('httpMethod')} {event.get('path')} {result['statusCode']}",
                extra={"fields": {"status": result["statusCode"], "duration_ms": (time.time() - started) * 1000}})
    if FLUSH_SPANS:
        PROVIDER.force_flush()
    return result
