// Notifications arriving live on a page (the bell's feed, the dashboard's socket): alerts, and
// mentions and replies in comment threads. Each one is toasted once, however many connections bring
// it, and announced to the page's widgets.
import { toast } from "./toast.js";

const shown = (window.__gridcastNotifications ||= new Set());

export function announce(notification) {
  if (!notification) return;
  const key = notification.id ?? `${notification.rule}|${notification.created_at}`;
  if (shown.has(key)) return;
  shown.add(key);
  const prefix = notification.kind && notification.kind !== "alert" ? "" : "Alert: ";
  toast(`${prefix}${notification.message || "a rule fired"}`, { kind: "alert", ms: 10_000 });
  window.dispatchEvent(new CustomEvent("gridcast:notification", { detail: notification }));
}
