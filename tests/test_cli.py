"""The flask commands: staff, token, demo seed, quota reset."""

from datetime import timedelta
from decimal import Decimal

import phonenumbers
import pytest
import sqlalchemy as sa

from config import TestingConfig
from sms_agent import costs, create_app, sample_data, simulated_senders
from sms_agent.cli import quota as quota_cli
from sms_agent.cli import staff as staff_cli
from sms_agent.extensions import db
from sms_agent.models import (
    ApiToken,
    ErrorLog,
    InboundCharge,
    ModelCall,
    OutboundMessage,
    StaffUser,
    Task,
    User,
    utcnow,
)
from tests.factories import make_staff, make_user
from tests.standins import unused_port


def test_staff_create_makes_an_admin_who_can_log_in(runner):
    result = runner.invoke(
        args=["staff", "create", "--username", "ada", "--password", "analytical", "--admin"]
    )
    assert result.exit_code == 0, result.output
    assert "Created admin staff user ada." in result.output
    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "ada"))
    assert staff.is_admin and staff.check_password("analytical")


def test_staff_create_refuses_a_duplicate_and_a_short_password(runner):
    make_staff("ada")
    assert (
        runner.invoke(
            args=["staff", "create", "--username", "ada", "--password", "x" * 8]
        ).exit_code
        == 1
    )
    result = runner.invoke(args=["staff", "create", "--username", "bob", "--password", "short"])
    assert result.exit_code == 2
    assert "at least 8 characters" in result.output


@pytest.mark.parametrize("password", [" " * 8, "\t" * 10, "\u3000" * 8])
def test_a_password_of_only_spaces_is_refused(runner, password):
    """Regression: eight spaces were taken as a password, by `staff create` and
    `staff set-password` alike (the admin's form refuses them too)."""
    make_staff("ada")
    created = runner.invoke(args=["staff", "create", "--username", "bob", "--password", password])
    changed = runner.invoke(args=["staff", "set-password", "ada", "--password", password])
    for result in (created, changed):
        assert result.exit_code == 2 and "not be only spaces" in result.output
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["ada"]


def test_staff_create_racing_another_for_the_same_name_says_it_exists(runner, monkeypatch):
    """Two `flask staff create` at once for "Ann" and "ann": both find no account, and the
    second's commit meets the unique username key. It printed the database's traceback."""
    make_staff("ann")
    monkeypatch.setattr(staff_cli, "find_staff", lambda _name: None)  # checked before "ann"
    result = runner.invoke(args=["staff", "create", "--username", "Ann", "--password", "x" * 8])
    assert result.exit_code == 1, result.output
    assert "already exists" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["ann"]


def test_a_username_and_email_that_fit_once_their_surrounding_spaces_go_are_taken(runner):
    """Regression: their length was checked before the spaces around were dropped (as the
    admin did), so an 80-character username typed with a space before it was refused though
    it is saved without it; an email with spaces around it was no address at all."""
    username, email = "u" * 80, "e" * 64 + "@" + "d" * 60 + ".example"
    args = ["--username", f" {username} ", "--password", "x" * 8, "--email", f"  {email} "]
    result = runner.invoke(args=["staff", "create", *args])
    assert result.exit_code == 0, result.output
    saved = db.session.scalar(sa.select(StaffUser))
    assert (saved.username, saved.email) == (username, email)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--username", "x" * 81, "at most 80 characters"),
        ("--email", "not-an-address", "not a valid email address"),
        ("--email", "a" * 250 + "@example.com", "at most 254 characters"),
    ],
)
def test_staff_create_refuses_what_no_account_can_hold(runner, option, value, says):
    """A username or email longer than its column crashed on PostgreSQL (and was kept on
    SQLite); an email the admin and the API refuse was kept."""
    args = {"--username": "ada", "--password": "analytical", option: value}

    result = runner.invoke(
        args=["staff", "create", *[item for pair in args.items() for item in pair]]
    )

    assert result.exit_code == 2 and says in result.output
    assert db.session.scalar(sa.select(sa.func.count(StaffUser.id))) == 0


def test_no_token_is_made_for_an_inactive_texter(runner):
    make_user("+15551230000", is_active=False)
    result = runner.invoke(args=["token", "create-for-user", "+15551230000"])
    assert result.exit_code == 1 and "+15551230000 is inactive" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_token_name_longer_than_its_column_is_refused(runner):
    make_staff("ada")
    make_user("+15551230000")

    for args in (["create", "ada"], ["create-for-user", "+15551230000"]):
        result = runner.invoke(args=["token", *args, "--name", "n" * 101])
        assert result.exit_code == 2 and "at most 100 characters" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_token_name_with_a_direction_control_is_refused(runner):
    make_staff("ada")
    result = runner.invoke(args=["token", "create", "ada", "--name", "ci\u202e"])
    assert result.exit_code == 2 and "this has U+202E" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_token_name_that_fits_without_its_surrounding_spaces_is_saved_without_them(runner):
    """Regression: --name was measured with the spaces around it and kept them, so a label
    of 100 characters typed with a space around it was refused (the admin's the same)."""
    make_staff("ada")
    result = runner.invoke(args=["token", "create", "ada", "--name", " " + "n" * 100 + "  "])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(ApiToken.name)) == "n" * 100


def test_staff_create_refuses_a_username_taken_in_other_case(runner):
    make_staff("ada")
    result = runner.invoke(args=["staff", "create", "--username", "ADA", "--password", "x" * 8])
    assert result.exit_code == 1
    assert "staff user 'ada' already exists" in result.output
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["ada"]


def test_staff_create_refuses_a_username_that_looks_like_another(runner):
    """Regression: "ada" followed by a zero-width space was a second "ada" to every reader."""
    make_staff("ada")
    result = runner.invoke(
        args=["staff", "create", "--username", "ada\u200b", "--password", "x" * 8]
    )
    assert result.exit_code == 2
    assert "this has U+200B" in result.output
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["ada"]


def test_staff_commands_find_a_username_however_it_is_cased(runner):
    staff = make_staff("Ada", password="old-password")
    result = runner.invoke(args=["staff", "set-password", "ada", "--password", "new-password"])
    assert result.exit_code == 0, result.output
    db.session.refresh(staff)
    assert staff.check_password("new-password")
    result = runner.invoke(args=["token", "create", "ADA"])
    assert result.exit_code == 0, result.output
    assert ApiToken.find_active(result.output.strip().splitlines()[-1]).staff_user == staff


@pytest.mark.parametrize("command", ["create", "set-password"])
def test_a_password_longer_than_the_login_form_takes_is_refused(runner, command):
    """Regression: a password of 201 characters was saved, and its owner could never log in
    (the login form takes at most 200)."""
    staff = make_staff("ada", password="old-password")
    args = ["--username", "bob"] if command == "create" else ["ada"]
    result = runner.invoke(args=["staff", command, *args, "--password", "x" * 201])
    assert result.exit_code == 2
    assert "at most 200 characters" in result.output
    db.session.refresh(staff)
    assert staff.check_password("old-password")
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["ada"]


def test_staff_set_password(runner):
    staff = make_staff("ada", password="old-password")
    result = runner.invoke(args=["staff", "set-password", "ada", "--password", "new-password"])
    assert result.exit_code == 0
    db.session.refresh(staff)
    assert staff.check_password("new-password")


def test_token_create_prints_a_working_key_as_its_last_line(runner):
    staff = make_staff("ada")
    result = runner.invoke(args=["token", "create", "ada"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert ApiToken.find_active(key).staff_user == staff


def test_token_create_says_when_the_token_expires(app, runner):
    """Regression: with API_TOKEN_DAYS set, the new token stopped working that many days
    later without a word from the command that made it."""
    make_staff("ada")
    forever = runner.invoke(args=["token", "create", "ada"])
    app.config["API_TOKEN_DAYS"] = 30
    lasting = runner.invoke(args=["token", "create", "ada"])

    assert "Expires: never (API_TOKEN_DAYS is 0)." in forever.output
    made = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).all()[-1]
    expires = (made.created_at + timedelta(days=30)).isoformat(timespec="seconds")
    assert f"Expires: {expires} (API_TOKEN_DAYS is 30)." in lasting.output
    assert lasting.output.splitlines()[-1].startswith("sat_")


def test_token_create_for_an_unknown_staff_user_fails(runner):
    result = runner.invoke(args=["token", "create", "nobody"])
    assert result.exit_code == 1
    assert "no staff user 'nobody'" in result.output


def test_token_for_a_texter_and_revoke(runner):
    user = make_user("+15551230000")
    result = runner.invoke(args=["token", "create-for-user", "+1 555 123 0000"])
    key = result.output.strip().splitlines()[-1]
    assert ApiToken.find_active(key).user == user
    result = runner.invoke(args=["token", "revoke", key[:12]])
    assert result.exit_code == 0
    assert ApiToken.find_active(key) is None


def test_a_texters_token_takes_a_local_number_in_the_services_region(app, runner):
    """Regression: the number was read as a US one whatever DEFAULT_PHONE_REGION, where the
    admin's token form reads it in the service's region."""
    app.config["DEFAULT_PHONE_REGION"] = "GB"
    user = make_user("+447700900123")
    result = runner.invoke(args=["token", "create-for-user", "07700 900123"])
    assert result.exit_code == 0, result.output
    assert ApiToken.find_active(result.output.strip().splitlines()[-1]).user == user


def test_a_texters_token_takes_a_whatsapp_sender_as_the_admin_does(runner):
    """Regression: Twilio's WhatsApp sender "whatsapp:+5215512345678" (Mexico's old mobile
    form) was refused, where the admin's new-user form, Try it and the webhook read it as the
    texter +525512345678."""
    user = make_user("+525512345678")
    result = runner.invoke(args=["token", "create-for-user", "whatsapp:+5215512345678"])
    assert result.exit_code == 0, result.output
    assert ApiToken.find_active(result.output.strip().splitlines()[-1]).user == user
    refused = runner.invoke(args=["token", "create-for-user", "messenger:+15551230000"])
    assert refused.exit_code == 2 and "not a channel we serve" in refused.output


def test_revoking_by_a_shorter_prefix_says_how_long_a_prefix_is(runner):
    """Regression: `flask token revoke` with the first few characters of a key (its --help
    said "every token whose key starts with PREFIX") answered "no token with prefix", as if
    the key did not exist; it now says a prefix is the 12 characters the admin shows."""
    make_user("+15551230000")
    result = runner.invoke(args=["token", "create-for-user", "+15551230000"])
    key = result.output.strip().splitlines()[-1]
    result = runner.invoke(args=["token", "revoke", key[:6]])
    assert result.exit_code == 1
    assert "12 characters" in result.output and "no token" not in result.output
    assert ApiToken.find_active(key) is not None


def test_quota_reset_with_yes_resets_every_user(runner):
    users = [make_user(monthly_requests=n) for n in (5, 50)]
    result = runner.invoke(args=["quota", "reset", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Reset monthly requests for 2 users." in result.output
    assert all(db.session.get(User, u.phone_number).monthly_requests == 0 for u in users)


@pytest.fixture
def on_a_terminal(monkeypatch):
    """The command run by a person at a terminal (the test runner's stdin is none)."""
    monkeypatch.setattr(quota_cli, "_stdin_is_a_terminal", lambda: True)


@pytest.mark.parametrize(("answer", "reset"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_quota_reset_asks_first_at_a_terminal(runner, on_a_terminal, answer, reset):
    user = make_user(monthly_requests=50)
    result = runner.invoke(args=["quota", "reset"], input=answer)
    assert "Reset the monthly requests of every texter (1 user)" in result.output
    assert (result.exit_code == 0) is reset, result.output
    assert (db.session.get(User, user.phone_number).monthly_requests == 0) is reset


def test_quota_reset_without_a_terminal_or_yes_refuses_at_once(runner):
    """In a script or CI nobody can answer: it stops with a non-zero exit, never waits."""
    user = make_user(monthly_requests=50)
    result = runner.invoke(args=["quota", "reset"], input="y\n")
    assert result.exit_code == 1
    assert "pass --yes" in result.output
    assert db.session.get(User, user.phone_number).monthly_requests == 50


def _counts():
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Task, ErrorLog)
    )


def test_demo_seed_is_realistic_and_deterministic(runner):
    result = runner.invoke(
        args=["demo", "seed", "--users", "20", "--tasks", "300", "--errors", "15"]
    )
    assert result.exit_code == 0, result.output
    assert _counts() == (20, 300, 15)
    days = db.session.scalars(sa.select(Task.created_at)).all()
    assert (max(days) - min(days)).days >= 45
    categories = set(db.session.scalars(sa.select(Task.category).distinct()))
    assert len(categories) == 6
    first = db.session.scalars(sa.select(Task.id).order_by(Task.id)).all()
    totals = db.session.scalar(sa.select(sa.func.sum(User.total_requests)))
    successes = db.session.scalar(sa.select(sa.func.count()).where(Task.success.is_(True)))
    assert totals == successes
    # Each answer cost a model call and an SMS, and the spend reports see them.
    per_answer = sample_data.SAMPLE_CALL_USD + sample_data.SAMPLE_SMS_USD
    assert costs.report.totals()["total_usd"] == successes * per_answer
    assert costs.report.of_tasks()["total_usd"] == successes * per_answer
    assert db.session.scalar(sa.select(sa.func.sum(Task.cost_usd))) == successes * per_answer

    db.session.execute(sa.delete(OutboundMessage))
    db.session.execute(sa.delete(ModelCall))  # a deleted texter's calls stay in the spend
    db.session.execute(sa.delete(ErrorLog))
    db.session.execute(sa.delete(Task))
    db.session.execute(sa.delete(User))
    db.session.commit()
    again = ["demo", "seed", "--users", "20", "--tasks", "300", "--errors", "15"]
    assert runner.invoke(args=again).exit_code == 0
    assert db.session.scalars(sa.select(Task.id).order_by(Task.id)).all() == first


def test_demo_seed_charges_receiving_each_text_as_the_webhook_does(app, runner):
    """Regression: the seeded tasks kept no charge for receiving their text, so the demo's
    and the benchmarks' spend (and each texter's, and each task's cost) left out what
    Twilio bills for every text received: each is now charged at SMS_INBOUND_PRICE per
    segment, as the webhook charges it, in the ledger and in its task's cost."""
    received = Decimal("0.0079")
    app.config["SMS_INBOUND_PRICE"] = received
    result = runner.invoke(args=["demo", "seed", "--users", "20", "--tasks", "300"])
    assert result.exit_code == 0, result.output
    charges = db.session.execute(sa.select(InboundCharge.task_id, InboundCharge.price_usd)).all()
    assert sorted(charges) == sorted(
        db.session.execute(sa.select(Task.id, Task.inbound_price_usd)).all()
    )
    assert {price for _task, price in charges} == {received}
    successes = db.session.scalar(sa.select(sa.func.count()).where(Task.success.is_(True)))
    spent = successes * (sample_data.SAMPLE_CALL_USD + sample_data.SAMPLE_SMS_USD) + 300 * received
    assert costs.report.totals()["total_usd"] == spent
    assert costs.report.of_tasks()["total_usd"] == spent
    assert db.session.scalar(sa.select(sa.func.sum(Task.cost_usd))) == spent
    texters = db.session.scalars(sa.select(User.phone_number)).all()
    by_texter = costs.report.by_texter(texters, utcnow())
    assert sum(spend["all_time_usd"] for spend in by_texter.values()) == spent


def test_demo_seed_refuses_tasks_without_users(runner):
    result = runner.invoke(args=["demo", "seed", "--users", "0", "--tasks", "5"])
    assert result.exit_code == 2


def test_demo_seed_refuses_more_users_than_demo_numbers(runner):
    """Regression: --users past the numbers demo_phone holds made numbers no phone has,
    which the next seed took for real texters (and building ten million rows in memory got
    the command killed): now it is refused at once."""
    result = runner.invoke(args=["demo", "seed", "--users", "10001", "--tasks", "0"])
    assert result.exit_code == 2
    assert "10001 is not in the range 0<=x<=10000" in result.output
    assert _counts() == (0, 0, 0)


@pytest.mark.parametrize("option", ["--users", "--tasks", "--errors", "--seed"])
def test_demo_seed_refuses_an_integer_too_long_to_read_saying_so(runner, option):
    """Regression: a number of more than 4,300 digits was "not a valid integer", quoted
    whole, of a number written in digits alone; it is refused as the API refuses one."""
    result = runner.invoke(args=["demo", "seed", option, "9" * 4301])

    assert result.exit_code == 2
    assert "More digits than any number this service takes (at most 4300)." in result.output
    assert "9" * 100 not in result.output
    assert _counts() == (0, 0, 0)


def test_every_demo_number_is_a_valid_one_that_rings_no_phone_each_its_own():
    """Regression: the demo's +1 555 numbers have no area code, numbers phonenumbers calls
    invalid and Twilio texts nothing; they are now 555-0100 to 555-0199 of US area codes,
    valid US numbers set aside for fiction, which simulated_senders lets staff write as."""
    phones = [sample_data.demo_phone(index) for index in range(sample_data.DEMO_NUMBERS)]
    assert len(set(phones)) == sample_data.DEMO_NUMBERS
    for phone in phones:
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.region_code_for_number(parsed) == "US", phone
        assert simulated_senders.FICTIONAL.fullmatch(phone), phone


def test_demo_seed_adds_to_a_database_seeded_before_with_plus_1_555_numbers(runner):
    """A database seeded by an earlier version (+1 555 numbers) is still a demo's."""
    make_user("+15550000000")
    result = runner.invoke(args=["demo", "seed", "--users", "2", "--tasks", "3"])
    assert result.exit_code == 0, result.output
    assert _counts() == (3, 3, 20)


def test_demo_seed_refuses_a_database_with_real_texters(runner):
    """Regression: run against the service's own database by mistake, it mixed made-up
    texters, tasks and spend (today's too, counted against DAILY_SPEND_CAP) with the real."""
    make_user("+14158675309")
    result = runner.invoke(args=["demo", "seed", "--users", "2", "--tasks", "3"])
    assert result.exit_code == 1
    assert "this database has 1 real texter" in result.output
    assert _counts() == (1, 0, 0)
    assert costs.report.totals()["total_usd"] == 0


def test_demo_seed_inserts_in_bulk_fast_enough_for_100k_tasks(runner, count_queries):
    import time

    started = time.perf_counter()
    with count_queries() as counter:
        result = runner.invoke(
            args=["demo", "seed", "--users", "200", "--tasks", "20000", "--errors", "0"]
        )
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert _counts()[1] == 20000
    # Rows go in batches (multi-row INSERTs), not one statement each: the count is what
    # matters, and it does not depend on how busy the machine is.
    inserts = [s for s in counter.statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) <= 30, f"{len(inserts)} INSERT statements for 20,000 tasks"
    # 100,000 tasks must take well under a minute even on a slow, busy machine.
    assert elapsed < 30, f"seeding 20,000 tasks took {elapsed:.1f}s"


@pytest.mark.parametrize(
    "args",
    [
        ["staff", "create", "--username", "ada", "--password", "analytical", "--admin"],
        ["token", "create", "ada"],
        ["quota", "reset", "--yes"],
        ["sms", "simulate", "--from", "+15551230000", "--inline", "hi"],
    ],
)
@pytest.mark.parametrize("database", ["never migrated", "unreachable"])
def test_a_command_on_a_database_not_ready_says_what_to_do(tmp_path, args, database):
    """Regression: `flask staff create` run first on a fresh clone, as the README's admin
    section has it, printed SQLAlchemy's "no such table" traceback (and `flask sms simulate`
    the webhook's HTML error page); a database that cannot be reached, psycopg's."""
    if database == "never migrated":
        url = f"sqlite:///{tmp_path / 'new.sqlite'}"
        expected = "Error: the database has no tables yet: run `flask db upgrade`"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port()}/sms_agent"
        expected = "Error: cannot reach the database (DATABASE_URL): OperationalError:"
    fresh = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    result = fresh.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert result.output.startswith(expected), result.output
    assert "Traceback" not in result.output and "sqlalche.me" not in result.output
    assert fresh.test_cli_runner().invoke(args=[args[0], args[1], "--help"]).exit_code == 0


@pytest.mark.parametrize("args", [["db", "upgrade"], ["db", "current"]])
def test_db_upgrade_on_a_database_it_cannot_reach_says_so_in_one_line(args):
    """Regression: `flask db upgrade`, run on every deploy, printed psycopg's traceback (some
    60 lines) when the database could not be reached, where every other command says so in
    one line with exit code 1, as README promises of them all."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port()}/sms_agent"
    fresh = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    result = fresh.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: cannot reach the database (DATABASE_URL): OperationalError:"
    ), result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def latest_migration() -> str:
    from alembic.script import ScriptDirectory

    from sms_agent import _migrations_dir

    return ScriptDirectory(str(_migrations_dir())).get_current_head()


def test_a_command_on_a_database_behind_the_migrations_says_to_upgrade(tmp_path):
    """A deploy that skipped `flask db upgrade`: the commands say so instead of failing on
    a missing column."""
    fresh = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}"
    )
    cli = fresh.test_cli_runner()
    assert cli.invoke(args=["db", "upgrade", "0021_count_of_sms_kept"]).exit_code == 0
    result = cli.invoke(args=["spend", "today"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: the database is at migration 0021_count_of_sms_kept, this code needs "
        + latest_migration()
    )
    assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
    assert cli.invoke(args=["spend", "today"]).exit_code == 0


def test_an_unbounded_number_option_shows_no_range_in_its_help(runner):
    """Regression: `flask demo seed --help` showed `--seed INTEGER RANGE [default: 42;
    x<=None]`, a range of nothing, for an option that takes any whole number."""
    result = runner.invoke(args=["demo", "seed", "--help"])

    assert result.exit_code == 0
    assert "None" not in result.output
    assert "--seed INTEGER " in result.output and "[default: 42]" in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["quota", "reset", "--yes"], "Reset monthly requests for 1 user."),
        (["demo", "seed", "--users", "1", "--tasks", "1", "--errors", "1"], "Seeded 1 user, 1 "),
    ],
)
def test_commands_count_one_in_the_singular(runner, args, said):
    """Regression: `flask quota reset` with one texter said "for 1 users", and `flask demo
    seed` "Seeded 1 users, 1 tasks and 1 errors"."""
    if args[0] == "quota":
        make_user()
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert said in result.output
    assert " 1 users" not in result.output and " 1 tasks" not in result.output
    assert " 1 errors" not in result.output


def test_counts_staff_read_mark_their_thousands_and_say_one_in_the_singular():
    from sms_agent.plural import counted

    assert [counted(n, "user") for n in (0, 1, 2, 12345)] == [
        "0 users",
        "1 user",
        "2 users",
        "12,345 users",
    ]
