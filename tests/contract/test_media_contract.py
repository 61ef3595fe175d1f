"""Pictures and voice notes against the vendors' own specs: the chat request with an image
part and the audio transcription must pass OpenAI's validation, and the media URLs we accept
are the ones Twilio's Media resource documents."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from twilio.rest import Client

from sms_agent import jobs
from sms_agent.extensions import db
from sms_agent.models import Task
from sms_agent.vendors import twilio as sms
from sms_agent.vendors.twilio_media import check_media_url
from tests.contract.test_sms_flow_contract import PUBLIC_URL, queued_answer_jobs
from tests.factories import make_user
from tests.standins import OGG, PNG, inbound_form, media_path, signed_post, twilio_standin

pytestmark = pytest.mark.contract


@pytest.fixture
def openai_contract_app(app, contract_mocks, exchanges):
    """OpenAI is the contract mock; Twilio a local stand-in that serves the media bytes
    (the spec has no operation for the bytes themselves) and takes the reply."""
    with twilio_standin() as twilio:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=twilio.url,
            LLM_BACKEND="openai",
            OPENAI_BASE_URL=contract_mocks["OPENAI_BASE_URL"],
            OPENAI_API_KEY="sk-contract-test",
            PUBLIC_BASE_URL=PUBLIC_URL,
        )
        yield app, twilio


def answer(app, client, body: str, url: str, content_type: str) -> Task:
    queued_answer_jobs(app)
    make_user("+15551230000")
    form = inbound_form(body, NumMedia="1", MediaUrl0=url, MediaContentType0=content_type)
    assert signed_post(client, "/sms/inbound", form, url=PUBLIC_URL + "/sms/inbound").status_code
    [task_id] = queued_answer_jobs(app)
    jobs.answer_task.apply(args=[task_id]).get()
    db.session.rollback()
    return db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))


def test_a_picture_goes_to_the_model_as_an_image_part_the_spec_accepts(
    openai_contract_app, client, exchanges
):
    app, twilio = openai_contract_app
    url = twilio.serve(media_path(), "image/png", PNG)
    task = answer(app, client, "What is this?", url, "image/png")
    assert task.status == "completed"
    assert task.ai_response == "Hello! How can I assist you today?"
    assert [e for e in exchanges if e[0] == "openai"] == [("openai", 200, None)]


def test_a_voice_note_is_transcribed_as_the_spec_asks(openai_contract_app, client, exchanges):
    app, twilio = openai_contract_app
    task = answer(app, client, "", twilio.serve(media_path(), "audio/ogg", OGG), "audio/ogg")
    assert task.status == "completed" and task.media[0].transcript
    assert [e for e in exchanges if e[0] == "openai"] == [("openai", 200, None)] * 2


def test_the_media_urls_we_fetch_are_the_ones_twilios_media_resource_documents(app, contract_mocks):
    """The spec's Media resource (its metadata) names the media's URI; without ".json" that
    is the URL Twilio puts in MediaUrl{N}, and the one URL shape we fetch."""
    base = contract_mocks["TWILIO_API_BASE_URL"]
    account = "AC" + "a" * 32
    client = Client(account, "token", http_client=sms.RedirectingHttpClient(base))
    media = client.messages("MM" + "a" * 32).media("ME" + "a" * 32).fetch()
    assert media.content_type.startswith("image/")
    url = base + media.uri.removesuffix(".json")
    config = {"TWILIO_ACCOUNT_SID": media.account_sid, "TWILIO_API_BASE_URL": base}
    assert check_media_url(url, config)["media"] == media.sid
