"""Counters of this server process for operators, served as Prometheus text at /metrics."""

import threading


class Counter:
    def __init__(self, name, help_text, kind="counter"):
        self.name, self.help, self.kind, self.value = name, help_text, kind, 0
        REGISTRY.append(self)

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def lines(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}", f"{self.name} {self.value}"]


class Summary:
    """Count, sum and a rolling window of recent observations for quantiles."""

    def __init__(self, name, help_text, window=2048):
        self.name, self.help, self.window = name, help_text, window
        self.count, self.total, self.recent = 0, 0.0, []
        self.lock = threading.Lock()
        REGISTRY.append(self)

    def observe(self, value: float) -> None:
        with self.lock:
            self.count += 1
            self.total += value
            self.recent.append(value)
            if len(self.recent) > self.window:
                del self.recent[: len(self.recent) - self.window]

    def lines(self) -> list[str]:
        with self.lock:
            recent = sorted(self.recent)
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} summary"]
        for q in (0.5, 0.99):
            value = recent[min(len(recent) - 1, int(q * len(recent)))] if recent else 0
            out.append(f'{self.name}{{quantile="{q}"}} {value:.3f}')
        out += [f"{self.name}_sum {self.total:.3f}", f"{self.name}_count {self.count}"]
        return out


REGISTRY = []
connections = Counter("gridcast_ws_connections", "Open WebSocket connections of this process", "gauge")
edits = Counter("gridcast_ws_edits_total", "Write frames applied through WebSocket")
delivered = Counter("gridcast_ws_frames_delivered_total", "Frames written to WebSocket clients")
edit_ms = Summary("gridcast_ws_edit_ms", "Milliseconds from receiving a write frame to its ack")


def render() -> str:
    return "\n".join(line for metric in REGISTRY for line in metric.lines()) + "\n"
