"""Regenerate functions/*/events/*.json: API Gateway HTTP API (payload 2.0) events for
`cargo lambda invoke`, signed with (or carrying) the secrets of config/local.json.

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


def api_event(method, app_id, body=None, query=None, signature=None, base64_body=False):
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "facebookexternalua"}
    if body is not None:
        headers["content-type"] = "application/json"
    if signature:
        headers["x-hub-signature-256"] = signature
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event = {
        "version": "2.0",
        "routeKey": f"{method} /webhook/{{app_id}}",
        "rawPath": f"/webhook/{app_id}",
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": f"/webhook/{app_id}", "protocol": "HTTP/1.1",
                     "sourceIp": "173.252.127.1", "userAgent": "facebookexternalua"},
            "requestId": "sample-request", "routeKey": f"{method} /webhook/{{app_id}}",
            "stage": "$default", "time": "21/Nov/2026:12:00:00 +0000", "timeEpoch": T,
        },
        "pathParameters": {"app_id": app_id},
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    return event


def signed(app, payload):
    # Meta escapes non-ASCII (\u00e4) and signs the exact bytes it sends.
    body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
    sig = "sha256=" + hmac.new(app["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    return body, sig


def envelope(list_name, events):
    return {"object": "page", "entry": [{"id": PAGE, "time": T, list_name: events}]}


def write(name, event):
    (OUT / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


OUT.mkdir(parents=True, exist_ok=True)
bot, inbox = APPS["bot"], APPS["inbox"]
write("verify.json", api_event("GET", bot["id"], query={
    "hub.mode": "subscribe", "hub.verify_token": bot["verify_token"], "hub.challenge": "1158201444"}))

body, sig = signed(bot, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T,
    "message": {"mid": "m_sample_1", "text": "Hello, I need help with my order"}}]))
write("message.json", api_event("POST", bot["id"], body=body, signature=sig))

body, sig = signed(bot, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 1000,
    "message": {"mid": "m_sample_2", "text": "Grüße aus Köln – talk to a human please"}}]))
write("message-base64.json", api_event("POST", bot["id"], body=body, signature=sig, base64_body=True))

body, sig = signed(inbox, envelope("messaging", [{
    "sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 2000,
    "pass_thread_control": {"previous_owner_app_id": bot["id"], "new_owner_app_id": inbox["id"],
                            "metadata": "customer asked for a human"}}]))
write("pass-thread-control.json", api_event("POST", inbox["id"], body=body, signature=sig))

body, sig = signed(bot, envelope("standby", [
    {"sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 3000,
     "message": {"mid": "m_sample_3", "text": "are you there?"}},
    {"sender": {"id": "7001"}, "recipient": {"id": PAGE}, "timestamp": T + 4000, "postback": {"title": "Details"}}]))
write("standby-batch.json", api_event("POST", bot["id"], body=body, signature=sig))

write("bad-signature.json", api_event("POST", bot["id"], body=body, signature="sha256=" + "0" * 64))

# control-handoff
API = ROOT / "functions/control-handoff/events"
API.mkdir(parents=True, exist_ok=True)
TOKEN = CONFIG["api_tokens"][0]


def api_request(method, path, body=None, query=None):
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com",
               "authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["content-type"] = "application/json"
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "agent-console"},
            "requestId": "sample-request", "routeKey": "$default", "stage": "$default",
            "time": "21/Nov/2026:12:00:00 +0000", "timeEpoch": T,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = json.dumps(body)
    return event


conv = f"/pages/{PAGE}/conversations/7001"
(API / "get-conversation.json").write_text(json.dumps(api_request("GET", conv), indent=2) + "\n")
(API / "queue.json").write_text(json.dumps(api_request(
    "GET", f"/pages/{PAGE}/conversations", query={"role": "inbox", "unread": "true", "limit": "50"}), indent=2) + "\n")
(API / "timeline.json").write_text(json.dumps(api_request(
    "GET", conv + "/timeline", query={"limit": "20", "order": "asc"}), indent=2) + "\n")
(API / "pass-to-inbox.json").write_text(json.dumps(api_request(
    "POST", conv + "/control", {"action": "pass", "as": "bot", "target": "inbox", "metadata": "bot gave up"}), indent=2) + "\n")
(API / "agent-message.json").write_text(json.dumps(api_request(
    "POST", conv + "/messages", {"text": "Hi, this is Sam. How can I help?", "as": "inbox", "take_control": True}), indent=2) + "\n")
(API / "reset.json").write_text(json.dumps(api_request(
    "POST", conv + "/control", {"action": "reset", "as": "inbox"}), indent=2) + "\n")
(API / "mark-read.json").write_text(json.dumps(api_request("POST", conv + "/read"), indent=2) + "\n")
print(f"wrote sample events to {OUT.relative_to(ROOT)} and {API.relative_to(ROOT)}")
