// Short messages in the corner of the page (the #toasts area of base.html).
export function toast(message, { kind = "info", ms = 4000 } = {}) {
  const area = document.getElementById("toasts");
  if (!area) return;
  const div = document.createElement("div");
  div.className = `toast ${kind}`;
  div.setAttribute("role", kind === "error" ? "alert" : "status");
  div.textContent = message;
  area.append(div);
  setTimeout(() => div.remove(), ms);
}

// Run `action`; an error it throws is shown as an error toast (and not thrown on).
export async function toastErrors(action) {
  try {
    return await action();
  } catch (error) {
    toast(error.message, { kind: "error" });
  }
}
