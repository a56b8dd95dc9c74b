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
    throw new ApiError("The server could not be reached. Check your connection and try again.", 0, null);
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const message = parsed?.error?.message || parsed?.detail || `${response.status} ${response.statusText || "error"}`;
    throw new ApiError(message, response.status, parsed);
  }
  return parsed;
}
