"""`flask` commands, grouped by noun: staff, token, demo, quota, sms, spend, export."""

from flask import Flask


def register_cli(app: Flask) -> None:
    from .demo import demo
    from .export import export
    from .quota import quota
    from .sms import sms
    from .spend import spend
    from .staff import staff
    from .tokens import token

    for group in (staff, token, demo, quota, sms, spend, export):
        app.cli.add_command(group)
