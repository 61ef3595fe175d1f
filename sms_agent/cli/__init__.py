"""`flask` commands, grouped by noun: staff, token, demo, quota, sms."""

from flask import Flask


def register_cli(app: Flask) -> None:
    from .demo import demo
    from .quota import quota
    from .sms import sms
    from .staff import staff
    from .tokens import token

    for group in (staff, token, demo, quota, sms):
        app.cli.add_command(group)
