"""Regenerate the API Gateway HTTP API (payload 2.0) sample events of webhook-ingest and
control-handoff (functions/*/events/*.json) for `cargo lambda invoke`, signed with (or
carrying) the secrets of config/local.json.

Usage: python3 scripts/make-sample-events.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / "config/local.json").read_text())
OUT = ROOT / "functions/webhook-ingest/events"
PAGE = CONFIG["pages"][0]["id"]
APPS = {app["role"]: app for app in CONFIG["apps"]}
T = 1795000000000


def http_event(method, path, route_key, headers, client, query=None, body=None,
               base64_body=False, path_parameters=None):
    """The event API Gateway sends for one request; `client` is (sourceIp, userAgent),
    `body` bytes."""
    source_ip, user_agent = client
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": user_agent},
            "requestId": "sample-request", "routeKey": route_key,
            "stage": "$default", "time": "21/Nov/2026:12:00:00 +0000", "timeEpoch": T,
        },
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    event["isBase64Encoded"] = base64_body
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    return event


def api_event(method, app_id, body=None, query=None, signature=None, base64_body=False):
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "facebookexternalua"}
    if body is not None:
        headers["content-type"] = "application/json"
    if signature:
        headers["x-hub-signature-256"] = signature
    return http_event(method, f"/webhook/{app_id}", f"{method} /webhook/{{app_id}}", headers,
                      ("173.252.127.1", "facebookexternalua"), query, body, base64_body,
                      {"app_id": app_id})


def signed(app, payload):
    # Meta escapes non-ASCII (\u00e4) and signs the exact bytes it sends.
    body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
    sig = "sha256=" + hmac.new(app["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    return body, sig


def envelope(list_name, events):
    return {"object": "page", "entry": [{"id": PAGE, "time": T, list_name: events}]}


def write(out, name, event):
    (out / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


OUT.mkdir(parents=True, exist_ok=True)
bot, inbox = APPS["bot"], APPS["inbox"]
write(OUT, "verify.json", api_event("GET", bot["id"], query={
    "hub.mode": "subscribe", "hub.verify_token": bot["verify_token"], "hub.challenge": "1158201444"}))

body, sig = signed(bot, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T,
    "message": {"mid": "m_sample_1", "text": "Hello, I need help with my order"}}]))
write(OUT, "message.json", api_event("POST", bot["id"], body=body, signature=sig))

body, sig = signed(bot, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 1000,
    "message": {"mid": "m_sample_2", "text": "Grüße aus Köln – talk to a human please"}}]))
write(OUT, "message-base64.json", api_event("POST", bot["id"], body=body, signature=sig, base64_body=True))

body, sig = signed(inbox, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 2000,
    "pass_thread_control": {"previous_owner_app_id": bot["id"], "new_owner_app_id": inbox["id"],
                            "metadata": "customer asked for a human"}}]))
write(OUT, "pass-thread-control.json", api_event("POST", inbox["id"], body=body, signature=sig))

body, sig = signed(bot, envelope("standby", [
    {"sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 3000,
     "message": {"mid": "m_sample_3", "text": "are you there?"}},
    {"sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 4000, "postback": {"title": "Details"}}]))
write(OUT, "standby-batch.json", api_event("POST", bot["id"], body=body, signature=sig))

write(OUT, "bad-signature.json", api_event("POST", bot["id"], body=body, signature="sha256=" + "0" * 64))

# control-handoff
API = ROOT / "functions/control-handoff/events"
API.mkdir(parents=True, exist_ok=True)
TOKEN = CONFIG["api_tokens"][0]


def api_request(method, path, body=None, query=None):
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com",
               "authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["content-type"] = "application/json"
        body = json.dumps(body).encode()
    return http_event(method, path, "$default", headers, ("203.0.113.10", "agent-console"),
                      query, body)


conv = f"/pages/{PAGE}/conversations/7001"
write(API, "get-conversation.json", api_request("GET", conv))
write(API, "queue.json", api_request(
    "GET", f"/pages/{PAGE}/conversations", query={"role": "inbox", "unread": "true", "limit": "50"}))
write(API, "timeline.json", api_request("GET", conv + "/timeline", query={"limit": "20", "order": "asc"}))
write(API, "pass-to-inbox.json", api_request(
    "POST", conv + "/control", {"action": "pass", "as": "bot", "target": "inbox", "metadata": "bot gave up"}))
write(API, "agent-message.json", api_request(
    "POST", conv + "/messages", {"text": "Hi, this is Sam. How can I help?", "as": "inbox", "take_control": True}))
write(API, "reset.json", api_request("POST", conv + "/control", {"action": "reset", "as": "inbox"}))
write(API, "mark-read.json", api_request("POST", conv + "/read"))
print(f"wrote sample events to {OUT.relative_to(ROOT)} and {API.relative_to(ROOT)}")
