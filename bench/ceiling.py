"""The ceiling for the ingest benchmark: the same gunicorn answering /sms/inbound with empty
TwiML and nothing else (no signature check, no database, no broker)."""

from flask import Flask

app = Flask(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@app.post("/sms/inbound")
def inbound():
    return EMPTY_TWIML, 200, {"Content-Type": "text/xml"}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
