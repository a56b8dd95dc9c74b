// One way to call the REST API from the pages: session cookie, CSRF token, JSON both ways.
import { csrfToken } from "./theme.js";

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.error?.code ?? null;
    this.body = body;
  }
}

/**
 * api(method, url, body?) -> the parsed JSON answer, or null when there is none (204).
 * A FormData body is sent as multipart (file uploads); anything else as JSON.
 * Throws ApiError (an Error) carrying the server's message on a non-2xx answer.
 */
export async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  /** @type {RequestInit} */
  const options = { method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError(UNREACHABLE, 0, null);
  }
  return answerOf(response.status, response.statusText, await response.text());
}

const UNREACHABLE = "The server could not be reached. Check your connection and try again.";

/** The parsed JSON of an answer, or an ApiError with the server's message when it is not a 2xx. */
function answerOf(status, statusText, text) {
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (status < 200 || status >= 300) {
    const message = parsed?.error?.message || parsed?.detail || `${status} ${statusText || "error"}`;
    throw new ApiError(message, status, parsed);
  }
  return parsed;
}

/**
 * upload(url, form, {onprogress, signal}) -> the parsed JSON answer of a multipart POST, as
 * api("POST", url, form) answers it, over XMLHttpRequest: `onprogress(fraction)` follows the body
 * as it is sent (fetch cannot tell), and `signal` aborts it (rejecting with an AbortError).
 * @param {string} url
 * @param {FormData} form
 * @param {{onprogress?: (fraction: number) => void, signal?: AbortSignal}} [options]
 */
export function upload(url, form, { onprogress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    if (onprogress) xhr.upload.onprogress = (event) => event.lengthComputable && onprogress(event.loaded / event.total);
    xhr.onload = () => {
      try {
        resolve(answerOf(xhr.status, xhr.statusText, xhr.responseText));
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = () => reject(new ApiError(UNREACHABLE, 0, null));
    xhr.onabort = () => reject(new DOMException("The upload was cancelled", "AbortError"));
    if (signal?.aborted) return reject(new DOMException("The upload was cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

/**
 * fieldProblems(fields) -> one line for the `fields` of a 400 (DRF's validation errors): every
 * message with where it is, nested lists and objects included ("webhooks #2 url: …"), in order.
 * A list's items are counted from 1, whether they come as a list or (DRF 3.16) keyed by index.
 */
export function fieldProblems(fields, path = "") {
  const at = (text) => (path ? `${path}: ${text}` : String(text));
  if (Array.isArray(fields)) {
    if (fields.every((item) => typeof item !== "object" || item === null)) return fields.length ? at(fields.join(" ")) : "";
    return fields.map((item, i) => fieldProblems(item, `${path} #${i + 1}`.trim())).filter(Boolean).join("; ");
  }
  if (fields && typeof fields === "object") {
    return Object.entries(fields)
      .map(([name, value]) => fieldProblems(value, name === "non_field_errors" ? path : `${path} ${itemName(name)}`.trim()))
      .filter(Boolean)
      .join("; ");
  }
  return fields == null ? "" : at(fields);
}

const itemName = (name) => (/^\d+$/.test(name) ? `#${Number(name) + 1}` : name);
