"""Answering a stored task: classify it, ask the model with the conversation so far, and
hand the answer to the outbound package. The public door is `pipeline`."""
