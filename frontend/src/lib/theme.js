// The theme toggle: light → dark → system, saved for the user (or in this browser when logged out).
const ORDER = ["light", "dark", "system"];
const LABEL = { light: "☀ Light", dark: "☾ Dark", system: "◐ Auto" };

export function currentTheme() {
  return document.documentElement.dataset.theme || "system";
}

export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  for (const button of document.querySelectorAll("[data-theme-toggle]")) button.textContent = LABEL[theme];
}

export async function saveTheme(theme) {
  applyTheme(theme);
  localStorage.setItem("gridcast-theme", theme);
  const url = document.body.dataset.themeUrl;
  if (!url) return;
  await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ theme }),
    credentials: "same-origin",
  });
}

export function nextTheme(theme) {
  return ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length];
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function installThemeToggle() {
  if (!document.body.dataset.themeUrl) {
    const stored = localStorage.getItem("gridcast-theme");
    if (ORDER.includes(stored)) applyTheme(stored);
  }
  applyTheme(currentTheme());
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    button.addEventListener("click", () => saveTheme(nextTheme(currentTheme())));
  }
}
