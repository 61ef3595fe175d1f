"""`flask` commands, grouped by noun: staff, token, demo, quota, sms, spend."""

from flask import Flask


def register_cli(app: Flask) -> None:
    from .demo import demo
    from .quota import quota
    from .sms import sms
    from .spend import spend
    from .staff import staff
    from .tokens import token

    for group in (staff, token, demo, quota, sms, spend):
        app.cli.add_command(group)
