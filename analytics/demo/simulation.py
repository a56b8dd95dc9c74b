"""A simulated shop: orders (count and revenue, by region, product and status, some failed), user
activity and system status. One model for `manage.py simulate_orders`, for the demo stream inside
the embedded server and for the day of history seed_demo writes (analytics.demo), so the live
figures continue the history's curve.
"""

import math
import random

REGIONS = {"eu": 0.35, "us": 0.35, "asia": 0.2, "latam": 0.1}
PRODUCTS = {"basic": (9.0, 0.45), "plus": (29.0, 0.3), "pro": (99.0, 0.18), "enterprise": (499.0, 0.07)}
HOSTS = ["web-1", "web-2", "worker-1"]
PAGES = ["/", "/pricing", "/checkout", "/account"]
DAY = 86400
FAILING, FAILING_IN_INCIDENT = 0.03, 0.25  # the share of orders that fail


class Simulation:
    """The shop's state: traffic follows the time of day and a wave of a few minutes, errors come
    in occasional bursts (incidents: failed orders, errors, CPU and latency all rise).

    `second(now)` gives one second as it happens, an event per order; `minute(start)` a minute as
    history needs it: per combination of tags the orders counted and the revenue summed in one
    event each, and one sample of each gauge, so a day is ~100k events instead of millions while
    sums per minute or longer (orders per minute, revenue by region) come out the same."""

    def __init__(self, rate: float, seed: int | None = None, incident_chance: float = 0.01):
        self.rate = rate  # orders per second, on average over a day
        self.rng = random.Random(seed)
        self.incident_chance = incident_chance  # that one begins, per second without one
        self.incident_from = self.incident_until = 0.0

    def plan_incident(self, start: float, seconds: float) -> None:
        """An incident at a chosen moment; none begins by chance before it ends (the demo stream
        plans its first one, so that its alert fires within minutes of the start, not at once)."""
        self.incident_from, self.incident_until = start, start + seconds

    @staticmethod
    def traffic(now: float) -> float:
        """How busy the shop is: from 0.6 at 03:00 UTC to 1.4 at 15:00, times a wave of ~6 minutes."""
        return (1 + 0.4 * math.sin(2 * math.pi * (now / DAY - 0.375))) * (1 + 0.3 * math.sin(now / 60))

    def second(self, now: float) -> tuple[list[dict], dict]:
        """(events, figures) of the second from `now`: every order is an event of its own."""
        return self._span(now, 1, each=True)

    def minute(self, start: float) -> tuple[list[dict], dict]:
        """(events, figures) of the minute from `start`, summed per combination of tags."""
        return self._span(start, 60, each=False)

    def _stress(self, start, span):
        """The share of [start, start + span) under an incident; one begins by chance when none is
        under way or planned."""
        rng = self.rng
        if start >= self.incident_until and rng.random() < 1 - (1 - self.incident_chance) ** span:
            begin = start + (rng.random() * span if span > 1 else 0)
            self.incident_from, self.incident_until = begin, begin + rng.uniform(10, 40)
        overlap = min(start + span, self.incident_until) - max(start, self.incident_from)
        return max(0.0, overlap) / span

    def _span(self, start, span, each):
        rng = self.rng
        stress = self._stress(start, span)
        traffic = self.traffic(start)
        expected = self.rate * traffic * span
        orders = max(0, round(rng.gauss(expected, math.sqrt(max(expected, 1)))))
        failing = FAILING + (FAILING_IN_INCIDENT - FAILING) * stress
        regions = rng.choices(list(REGIONS), weights=list(REGIONS.values()), k=orders)
        products = rng.choices(list(PRODUCTS), weights=[weight for _, weight in PRODUCTS.values()], k=orders)
        events, summed, failed, revenue = [], {}, 0, 0.0
        for region, product in zip(regions, products):
            moment = start + rng.random() * span
            paid = rng.random() >= failing
            amount = round(PRODUCTS[product][0] * rng.uniform(1, 3), 2) if paid else 0.0
            tags = {"region": region, "product": product, "status": "paid" if paid else "failed"}
            failed += not paid
            revenue += amount
            if each:
                events.append(_event("shop", "orders", 1, moment, tags))
                if paid:
                    events.append(_event("shop", "revenue", amount, moment, tags))
            else:
                sums = summed.setdefault((region, product, paid), [0, 0.0, tags])
                sums[0] += 1
                sums[1] += amount
        for count, amount, tags in summed.values():
            events.append(_event("shop", "orders", count, start, tags))
            if amount:
                events.append(_event("shop", "revenue", round(amount, 2), start, tags))
        events += self._gauges(start, span, traffic, stress)
        return events, {"orders": orders, "failed": failed, "revenue": revenue, "incident": stress > 0}

    def _gauges(self, now, span, traffic, stress):
        """One sample of each gauge per tag; page views count the whole span."""
        rng = self.rng
        events = [
            _event(
                "web",
                "active_users",
                max(0, round(rng.gauss(self.rate * 20 * traffic * share, 5))),
                now,
                {"region": region},
            )
            for region, share in REGIONS.items()
        ]
        events += [
            _event(
                "web", "page_views", rng.randint(0, 10 * span) + round(self.rate * traffic * span), now, {"page": page}
            )
            for page in PAGES
        ]
        for host in HOSTS:
            tags = {"host": host}
            events += [
                _event(
                    host,
                    "cpu",
                    round(min(1, max(0, rng.gauss(0.3 + 0.2 * traffic + 0.3 * stress, 0.05))), 3),
                    now,
                    tags,
                ),
                _event(host, "error_rate", round(max(0, rng.gauss(0.01 + 0.11 * stress, 0.01)), 4), now, tags),
                _event(host, "latency_ms", round(rng.lognormvariate(4.2 + stress, 0.3), 1), now, tags),
            ]
        return events


def _event(source, metric, value, timestamp, tags):
    return {"source": source, "metric": metric, "value": value, "timestamp": timestamp, "tags": tags}
