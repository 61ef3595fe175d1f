"""The outside services, one module each: Twilio (twilio SDK) and OpenAI (openai SDK), each
with the embedded stand-in (console outbox, offline notice) chosen by configuration."""
