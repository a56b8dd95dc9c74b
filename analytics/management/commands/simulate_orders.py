"""Send realistic metrics to a workspace: orders (count and revenue, by region, product and status,
some failed), user activity and system status, at a chosen rate, printing each second's figures.

Through the REST API with a workspace-scoped token (given, or issued for the workspace's owner and
revoked at the end), or straight through the ingestion service with --direct.
"""

import json
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, Membership, Role, Workspace
from analytics.demo.simulation import Simulation
from analytics.metrics.ingest import events_ingest


class Command(BaseCommand):
    help = "Send simulated orders, user activity and system metrics to a workspace at a given rate."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace id or name")
        parser.add_argument(
            "--rate", type=float, default=10, help="orders per second, on average over a day (default 10)"
        )
        parser.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the Gridcast server")
        parser.add_argument("--token", help="an API token scoped to the workspace (default: a temporary one)")
        parser.add_argument("--direct", action="store_true", help="call the ingestion service, not the REST API")
        parser.add_argument("--seed", type=int)

    def handle(self, *args, workspace, rate, seconds, url, token, direct, seed, **options):
        ws = self._workspace(workspace)
        if rate < 0:
            raise CommandError("--rate must be positive")
        issued = None
        if not direct and not token:
            owner = (
                Membership.objects.filter(workspace=ws, role__in=[Role.OWNER, Role.ADMIN, Role.EDITOR])
                .order_by("id")
                .first()
            )
            if owner is None:
                raise CommandError(f"workspace {ws} has no member who may send metrics; pass --token")
            issued, token = ApiToken.issue(user=owner.user, name="simulate_orders", workspace=ws)
        simulation = Simulation(rate, seed)
        self.stdout.write(f"sending to {ws.name} (#{ws.pk}) {'directly' if direct else 'at ' + url}, {rate:g} orders/s")
        started = time.monotonic()
        tick = time.time()
        totals = {"events": 0, "orders": 0}
        try:
            while not seconds or time.monotonic() - started < seconds:
                events, figures = simulation.second(tick)
                sent_at = time.perf_counter()
                for start in range(0, len(events), 10_000):
                    self._send(events[start : start + 10_000], ws, url, token, direct)
                took = (time.perf_counter() - sent_at) * 1000
                totals["events"] += len(events)
                totals["orders"] += figures["orders"]
                self.stdout.write(
                    f"{time.strftime('%H:%M:%S', time.localtime(tick))}  {figures['orders']:5d} orders "
                    f"({figures['failed']} failed), revenue {figures['revenue']:10.2f}, {len(events)} events, "
                    f"ack {took:.0f} ms{'  INCIDENT' if figures['incident'] else ''}"
                )
                tick += 1
                time.sleep(max(0.0, tick - time.time()))
        except KeyboardInterrupt:
            pass
        finally:
            if issued is not None:
                issued.delete()
        self.stdout.write(f"sent {totals['events']} events, {totals['orders']} orders")

    @staticmethod
    def _workspace(given):
        found = Workspace.objects.filter(pk=int(given)) if given.isdigit() else Workspace.objects.filter(name=given)
        found = list(found[:2])
        if len(found) != 1:
            raise CommandError(f"no single workspace {given!r}" if found else f"no workspace {given!r}")
        return found[0]

    @staticmethod
    def _send(events, ws, url, token, direct):
        if direct:
            events_ingest(workspace_id=ws.pk, payload=events)
            return
        request = urllib.request.Request(
            url.rstrip("/") + "/api/v1/metrics/",
            data=json.dumps({"events": events}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise CommandError(
                f"the server refused the batch: {error.code} {error.read()[:500].decode(errors='replace')}"
            ) from None
        except urllib.error.URLError as error:
            raise CommandError(f"cannot reach {url}: {error.reason}") from None
