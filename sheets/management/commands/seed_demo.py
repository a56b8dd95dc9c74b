"""`manage.py seed_demo`: the Demo workspace with one login per role and a large "orders" sheet.

The sheet and its columns are made by the services (so the operation log reads as if a person
had made them); the rows go in by COPY on PostgreSQL or bulk_create on SQLite, under one
"rows.insert" operation whose payload only says how many rows came ({"bulk": true, "count": n}).
After the commit, sheets.demo.demo_seeded lets the apps above sheets add their part (analytics:
a day of metrics, a dashboard per member, an alert rule).
"""

import datetime as dt
import itertools
import json
import random
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from accounts.models import Membership, Role
from accounts.services import workspace_create
from sheets import services
from sheets.demo import (
    DEMO_BOT,
    DEMO_BOT_NAME,
    DEMO_MEMBERS,
    DEMO_PASSWORD,
    DEMO_SUPERUSER,
    DEMO_WORKSPACE,
    SHEET_NAME,
    demo_seeded,
    demo_workspace,
)
from sheets.models import Row

# Rows are generated and written in chunks of this size. It is part of what --seed reproduces.
CHUNK = 20_000
POOL = 10_000

REGIONS = ["North America", "South America", "Europe", "Middle East", "Africa", "Asia", "Oceania"]
REGION_WEIGHTS = [30, 8, 28, 6, 4, 20, 4]
PRODUCTS = [
    ("Ergonomic chair", 249.0),
    ("Standing desk", 489.0),
    ("Monitor arm", 89.9),
    ('27" monitor', 329.0),
    ("USB-C dock", 159.5),
    ("Mechanical keyboard", 119.0),
    ("Wireless mouse", 39.99),
    ("Laptop stand", 45.0),
    ("Noise-cancelling headset", 199.0),
    ("Webcam HD", 74.5),
    ("Desk lamp", 32.9),
    ("Cable tray", 19.95),
    ("Whiteboard", 129.0),
    ("Marker set", 8.49),
    ("Notebook A5", 4.2),
    ("Printer paper (500)", 6.75),
    ("Toner cartridge", 68.0),
    ("Shredder", 149.0),
    ("Coffee machine", 399.0),
    ("Water filter", 24.99),
    ("Office plant", 29.0),
    ("Footrest", 36.5),
    ("Filing cabinet", 219.0),
    ("Bookshelf", 159.0),
]
QUANTITIES = list(range(1, 21))
QUANTITY_WEIGHTS = [1 / q for q in QUANTITIES]
# (status, paid, weight): payment follows the order's life.
STATES = [
    ("new", False, 8),
    ("new", True, 2),
    ("processing", True, 12),
    ("shipped", True, 20),
    ("delivered", True, 48),
    ("delivered", False, 1),
    ("cancelled", False, 6),
    ("returned", True, 3),
]
STATUSES = ["new", "processing", "shipped", "delivered", "cancelled", "returned"]
FIRST_NAMES = (
    "Ada Alan Amara Ana Bea Ben Carla Chen Dara Diego Elif Emil Fatima Felix Grace Hana Ivan Ines Jamal Jonas "
    "Kai Kenji Lara Liam Maya Mateo Nia Noah Olga Omar Priya Paul Quinn Rosa Ravi Sara Sven Tara Theo Uma "
    "Victor Vera Wen Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Adams Almeida Berg Brown Castro Chen Costa Dubois Eriksen Fischer Garcia Haddad Ivanova Jensen Kim Kowalski "
    "Larsen Lopez Martin Meyer Moreau Nakamura Novak Okafor Olsen Patel Petrov Quispe Rossi Santos Schmidt Silva "
    "Smith Suzuki Tanaka Wagner Weber Williams Yilmaz Zhang"
).split()
WORDS = (
    "call back follow up urgent gift wrap fragile leave at door invoice sent discount applied priority "
    "customer asked partial delivery backorder replacement warranty checked approved pending review "
    "express standard pickup bulk order repeat customer new account tax exempt promo spring sale"
).split()
FIRST_DAY = dt.date(2024, 1, 1)
DAYS = 731


def _stored(value):
    """Numbers as the number columns store them: whole floats become ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _copy_text(value):
    """The value as JSON, escaped for PostgreSQL's COPY text format."""
    return json.dumps(value, ensure_ascii=False).replace("\\", "\\\\")


class Pick:
    """A column whose values are drawn from a pool. `values` and `texts` have the same length,
    so with the same random state both pick the same items."""

    def __init__(self, values, weights=None):
        self.values = values
        self.texts = [_copy_text(v) for v in values]
        self.cum_weights = list(itertools.accumulate(weights)) if weights else None

    def draw(self, rng, n, as_text):
        pool = self.texts if as_text else self.values
        return rng.choices(pool, cum_weights=self.cum_weights, k=n)


class OrderData:
    """Random but plausible orders, generated column by column: a whole chunk of one column at a
    time, from pools of pre-encoded values, so that a million rows take seconds, not minutes."""

    def __init__(self, seed, cols):
        self.rng = random.Random(seed)
        self.cols = cols
        setup = random.Random(seed)
        customers = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        self.customer = Pick(customers)
        self.region = Pick(REGIONS, REGION_WEIGHTS)
        # An order line is (product, quantity); price and amount follow from it.
        lines = [(p, q) for p in range(len(PRODUCTS)) for q in QUANTITIES]
        weights = [QUANTITY_WEIGHTS[q - 1] for _, q in lines]
        self.line = Pick(list(range(len(lines))), weights)
        self.line_columns = [
            Pick([PRODUCTS[p][0] for p, _ in lines]),
            Pick([q for _, q in lines]),
            Pick([_stored(PRODUCTS[p][1]) for p, _ in lines]),
            Pick([_stored(round(PRODUCTS[p][1] * q, 2)) for p, q in lines]),
        ]
        self.state = Pick(list(range(len(STATES))), [w for _, _, w in STATES])
        self.state_columns = [Pick([s for s, _, _ in STATES]), Pick([paid for _, paid, _ in STATES])]
        self.day = Pick([(FIRST_DAY + dt.timedelta(days=d)).isoformat() for d in range(DAYS)])
        self.extras = []
        for index in range(len(self.columns_realistic()) + 1, cols + 1):
            if index % 2:
                pool = [_stored(round(setup.lognormvariate(4, 1.2), 2)) for _ in range(POOL)]
            else:
                pool = [" ".join(setup.sample(WORDS, setup.randint(1, 4))).capitalize() for _ in range(POOL)]
            self.extras.append(Pick(pool))

    @staticmethod
    def columns_realistic():
        return [
            {"name": "Order", "type": "text", "width": 110},
            {"name": "Customer", "type": "text", "width": 160},
            {"name": "Region", "type": "choice", "options": {"choices": REGIONS}, "width": 130},
            {"name": "Product", "type": "text", "width": 190},
            {"name": "Quantity", "type": "integer", "width": 90},
            {"name": "Unit price", "type": "number", "width": 100},
            {"name": "Amount", "type": "number", "width": 100},
            {"name": "Status", "type": "choice", "options": {"choices": STATUSES}, "width": 110},
            {"name": "Ordered", "type": "date", "width": 110},
            {"name": "Paid", "type": "boolean", "width": 70},
        ]

    def columns(self):
        specs = self.columns_realistic()[: self.cols]
        for index in range(len(specs) + 1, self.cols + 1):
            if index % 2:
                specs.append({"name": f"Metric {index}", "type": "number"})
            else:
                specs.append({"name": f"Note {index}", "type": "text"})
        return specs

    def chunk(self, start, n, as_text):
        """Rows start+1 .. start+n as a list of columns (values, or COPY text when as_text)."""
        rng = self.rng
        lines = self.line.draw(rng, n, False)
        states = self.state.draw(rng, n, False)
        order = [f"ORD-{i:07d}" for i in range(start + 1, start + n + 1)]
        if as_text:
            order = [f'"{o}"' for o in order]
        columns = [
            order,
            self.customer.draw(rng, n, as_text),
            self.region.draw(rng, n, as_text),
            *(_take(pick, lines, as_text) for pick in self.line_columns),
            _take(self.state_columns[0], states, as_text),
            self.day.draw(rng, n, as_text),
            _take(self.state_columns[1], states, as_text),
        ]
        columns = columns[: self.cols]
        columns.extend(extra.draw(rng, n, as_text) for extra in self.extras)
        return columns


def _take(pick, indexes, as_text):
    pool = pick.texts if as_text else pick.values
    return list(map(pool.__getitem__, indexes))


@services.operation("rows.insert")
def _rows_load(*, sheet, actor, data, keys, rows, progress):
    """All the rows of the new sheet, at positions 1..rows, as one operation."""

    def write(version):
        load = _copy_rows if connection.vendor == "postgresql" else _create_rows
        load(sheet, keys, data, rows, progress)
        return {"bulk": True, "count": rows}, None, True

    return write


def _copy_rows(sheet, keys, data, rows, progress):
    body = ", ".join(f'"{key}": %s' for key in keys)
    line = f"{sheet.pk}\t%d\t{{{body}}}\n"
    with connection.cursor() as cursor:
        # Every row belongs to the sheet created in this transaction, so the foreign key holds by
        # construction, and checking it a million times at commit is a fifth of the load. Only a
        # superuser may skip it, and only for this COPY (the trigger events are never queued).
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        skip_checks = cursor.fetchone()[0]
        if skip_checks:
            cursor.execute("SET LOCAL session_replication_role = replica")
        with cursor.copy(f"COPY {Row._meta.db_table} (sheet_id, position, data) FROM STDIN") as copy:
            for start in range(0, rows, CHUNK):
                n = min(CHUNK, rows - start)
                values = zip(range(start + 1, start + n + 1), *data.chunk(start, n, True))
                copy.write("".join([line % row for row in values]))
                progress(n)
        if skip_checks:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def _create_rows(sheet, keys, data, rows, progress):
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        batch = [
            Row(sheet_id=sheet.pk, position=float(start + i), data=dict(zip(keys, values)))
            for i, values in enumerate(zip(*data.chunk(start, n, False)), start=1)
        ]
        Row.objects.bulk_create(batch, batch_size=2000)
        progress(n)


class Command(BaseCommand):
    help = "Create the Demo workspace (one login per role) with a large random 'orders' sheet."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=50_000, help="rows of the orders sheet (default 50000)")
        parser.add_argument(
            "--cols",
            type=int,
            default=10,
            help="columns (default 10, the realistic ones; more are random numbers and text)",
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed, for the same data every time")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="if the Demo workspace exists, only print the logins (otherwise it is replaced)",
        )

    def handle(self, *args, rows, cols, seed, if_empty, verbosity, **options):
        if rows < 0:
            raise CommandError("--rows must be 0 or more")
        if not 1 <= cols <= 500:
            raise CommandError("--cols must be from 1 to 500")
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        existing = demo_workspace()
        if existing is not None and if_empty:
            console.print(f"The {DEMO_WORKSPACE} workspace exists already; nothing seeded.")
            self._print_logins(console)
            return
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        started = time.perf_counter()
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=verbosity == 0,
        )
        with progress:
            with transaction.atomic():
                if existing is not None:
                    console.print(f"Replacing the existing {DEMO_WORKSPACE} workspace.")
                    existing.delete()
                users = _demo_users()
                owner = users[DEMO_MEMBERS[0][0]]
                workspace = workspace_create(name=DEMO_WORKSPACE, owner=owner)
                for email, role in DEMO_MEMBERS[1:]:
                    Membership.objects.create(workspace=workspace, user=users[email], role=role)
                Membership.objects.create(workspace=workspace, user=_demo_bot(), role=Role.EDITOR)
                data = OrderData(seed, cols)
                sheet = services.sheet_create(workspace=workspace, name=SHEET_NAME, actor=owner, columns=data.columns())
                keys = list(sheet.columns.filter(deleted=False).order_by("position").values_list("key", flat=True))
                task = progress.add_task(f"Seeding {SHEET_NAME}", total=rows, unit="rows")
                if rows:
                    _rows_load(
                        sheet=sheet,
                        actor=owner,
                        data=data,
                        keys=keys,
                        rows=rows,
                        progress=lambda n: progress.advance(task, n),
                    )
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                # Fresh statistics and a visibility map, so row windows use index-only scans at once.
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE sheets_row")
            console.print(
                f"Seeded sheet {SHEET_NAME!r} (id {sheet.pk}): {rows:,} rows × {cols} columns "
                f"in {time.perf_counter() - started:.1f} s (--seed {seed})."
            )
            # After the commit: what other apps add (analytics' metrics, dashboard and alert rule)
            # builds on committed rows, and a lake write cannot be rolled back with them anyway.
            added = demo_seeded.send(
                sender=self.__class__, workspace=workspace, sheet=sheet, seed=seed, progress=progress
            )
        for _, sentence in added:
            if sentence:
                console.print(sentence)
        self._print_logins(console)

    def _print_logins(self, console):
        table = Table(title="Demo logins", title_justify="left")
        table.add_column("Role")
        table.add_column("E-mail")
        table.add_column("Password")
        for email, role in DEMO_MEMBERS:
            table.add_row(f"{role.label} of {DEMO_WORKSPACE}", email, DEMO_PASSWORD)
        table.add_row("Django admin (/admin/)", DEMO_SUPERUSER, DEMO_PASSWORD)
        console.print(table)


def _demo_users():
    """Every demo account, with the demo password (again), by e-mail."""
    # One hash for all: the password is printed anyway, and each hash costs a good part of a second.
    password = make_password(DEMO_PASSWORD)
    users = {email: _user(email, password, display_name=email.split("@")[0].capitalize()) for email, _ in DEMO_MEMBERS}
    _user(DEMO_SUPERUSER, password, is_staff=True, is_superuser=True, display_name="Superuser")
    return users


def _demo_bot():
    """The demo collaborator, without a usable password: nobody logs in as it."""
    return _user(DEMO_BOT, make_password(None), display_name=DEMO_BOT_NAME)


def _user(email, password, **fields):
    User = get_user_model()
    user = User.objects.filter(email=email).first() or User(email=email)
    for field, value in fields.items():
        setattr(user, field, value)
    user.is_active = True
    user.password = password
    user.save()
    return user
